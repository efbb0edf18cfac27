"""The prefilter's learning loop, simulated: labelled chat through the real pipeline, retraining as it goes.

Run: ``.venv/bin/python bench/learning.py DATA.jsonl... [--messages N] [--reasoner-error P]
[--audit-share S] [--retrain-every K] [--review-audits R] [--review-share Q] [--out-model DIR] [--json]
[--seed S]``.

Rows stream in file order (shuffled with ``--seed`` when they have no ``time``) through
``build_services`` on a temporary SQLite file with the shipped prefilter, the shipped game policy and
the real learner (``modbot.training.scheduler``: ``modbot train-prefilter --from-db`` in a child process,
the held-back evaluation, the switch only when better). The reasoner answers from the row's label,
flipped with probability P. Moderators work the open cases after each window through ``/mod`` review
(the real command path): they decide a share R (default 1.0) of the cases an audit opened, the prefilter's
misses the case post marks (about 2 or 3 per 1,000 messages), and a share Q (default 0.1) of the rest, each
from the row's label; ``--review-audits 0 --review-share 0`` leaves every label to the reasoner. Per
window of 1,000 messages it prints the escalated share, reasoner calls,
the whole system's true recall (prefilter misses and reasoner misses both count), the prefilter's true
recall beside the live estimate (``Core.recall_estimate``, cumulative), and benign escalation; and how
long every retrain took (a switch adds the refit on every label, ``[learning] refit_on_all``). The learner
retrains every ``--retrain-every`` messages and once more after the last one. ``--out-model`` copies the
final active model folder for ``modbot eval``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modbot.app import build_services  # noqa: E402
from modbot.config import AppSettings, LearningSettings, PipelineSettings  # noqa: E402
from modbot.domain import Decision, MessageEvent, ServerRef, Stage, TokenCounts  # noqa: E402
from modbot.domain.cases import CaseStatus, ReviewOutcome  # noqa: E402
from modbot.domain.commands import Invoker, Review  # noqa: E402
from modbot.domain.settings import ServerSettings  # noqa: E402
from modbot.ports import Judgement, JudgeRequest  # noqa: E402

SERVER = ServerRef("bench", "g1")
MODERATOR = Invoker(SERVER, "mod-1", platform_moderator=True, display_name="bench moderator")
WINDOW = 1000


class LabelReasoner:
    """Answers from the row's label, wrong with probability ``error`` (a seeded draw per call).

    Calibrated: every answer says ``confidence = 1 - error``, the rate at which it is right.
    """

    model_name = "label-reasoner"

    def __init__(self, labels: dict[str, bool], error: float, seed: int):
        self.labels, self.error, self.rng, self.calls = labels, error, random.Random(seed), 0

    async def judge(self, request: JudgeRequest) -> Judgement:
        self.calls += 1
        unsafe = self.labels.get(request.event.text, False)
        if self.rng.random() < self.error:
            unsafe = not unsafe
        if unsafe:
            return Judgement(violation=True, rule_ids=("HA1",), confidence=1 - self.error, rationale="label", model="label", tokens=TokenCounts(1, 1, 1))
        return Judgement(violation=False, confidence=1 - self.error, rationale="label", model="label", tokens=TokenCounts(1, 1, 1))

    async def aclose(self) -> None:
        pass


class Moderators:
    """Decide a share of the open cases from the row's label, audit findings and the rest at their own shares."""

    def __init__(self, labels: dict[str, bool], audit_share: float, other_share: float, seed: int):
        self.labels, self.rng = labels, random.Random(seed + 1)
        self.shares = {"audit": audit_share, "other": other_share}
        self.seen: set[int] = set()
        self.reviews = {"audit": 0, "other": 0}

    async def work(self, core) -> None:
        """Look at every case opened since the last call once; review it or leave it open."""
        page, fresh = 1, []
        while True:
            found = await core.list_cases(SERVER, status=CaseStatus.OPEN, page=page, per_page=200)
            fresh += [case for case in found.cases if case.id not in self.seen]
            if len(found.cases) < 200 or all(case.id in self.seen for case in found.cases):
                break
            page += 1
        for case in fresh:
            self.seen.add(case.id)
            kind = "audit" if case.verdict.found_by_audit else "other"
            if self.rng.random() >= self.shares[kind]:
                continue
            outcome = ReviewOutcome.UPHOLD if self.labels.get(case.event.text, False) else ReviewOutcome.OVERTURN
            reply = await core.execute(MODERATOR, Review(case.id, outcome))
            self.reviews[kind] += bool(reply.ok)


def read(files: list[str], n: int, seed: int) -> list[dict]:
    rows = [json.loads(line) for f in files for line in open(f, encoding="utf-8") if line.strip()]
    if not all("time" in r for r in rows):
        random.Random(seed).shuffle(rows)
    else:
        rows.sort(key=lambda r: r["time"])
    return rows[:n]


async def run(args: argparse.Namespace) -> dict:
    rows = read(args.data, args.messages, args.seed)
    labels: dict[str, bool] = {}
    for r in rows:
        labels.setdefault(r["text"], bool(r["unsafe"]))
    tmp = Path(tempfile.mkdtemp(prefix="modbot-learning-"))
    settings = AppSettings(
        database_url=f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}",
        policy_dir=REPO / "policies",
        reasoner={"backend": "none"},
        server_defaults=ServerSettings(policy_id="game-community", audit_share=args.audit_share, mode="shadow"),
        pipeline=PipelineSettings(queue_size=5000, workers=2, sweep_interval_s=0.2, audit_queue_size=5000),
        learning=LearningSettings(enabled=True, min_labels=50, min_new_labels=10**9, model_dir=tmp / "models"),
    )
    reasoner = LabelReasoner(labels, args.reasoner_error, args.seed)
    moderators = Moderators(labels, args.review_audits, args.review_share, args.seed)
    services = await build_services(settings, reasoner=reasoner)
    learner = services.learner
    await services.pipeline.start()
    windows, retrains, ids = [], [], []
    say = (lambda *a: None) if args.json else print
    for start in range(0, len(rows), WINDOW):
        chunk = rows[start : start + WINDOW]
        calls_before = reasoner.calls
        for i, r in enumerate(chunk):
            mid = f"m{start + i}"
            ids.append(mid)
            event = MessageEvent(server=SERVER, channel_id="c1", message_id=mid, author_id=f"u{(start + i) % 97}", text=r["text"])
            await services.pipeline.submit(event)
        await services.pipeline.drain(600)
        await moderators.work(services.core)
        w = await window_figures(services, chunk, ids[start:], reasoner.calls - calls_before)
        windows.append(w)
        say(
            f"window {len(windows):>3}: escalated {w['escalated_share']:.3f}, reasoner calls {w['reasoner_calls']}, "
            f"true recall {w['true_recall']:.3f} (prefilter {w['prefilter_recall']:.3f}; live estimate "
            f"{w['estimated_recall']}), benign escalated {w['benign_escalated']:.3f}, model {w['model']}"
        )
        done = start + len(chunk)
        # Every K messages, and once more at the end: the final model has learned from every label.
        if learner is not None and (done % args.retrain_every == 0 or done == len(rows)):
            outcome = await learner.retrain(SERVER.key, [SERVER])
            timings = _timings(outcome.version.path) if outcome.version else {}
            retrains.append({"after": done, "seconds": round(outcome.seconds, 1), "accepted": outcome.accepted,
                             "reason": outcome.reason, "metrics": outcome.metrics, "timings": timings})  # fmt: skip
            refit = outcome.metrics.get("refit")
            refit_note = f"; refit on every label {refit.get('seconds', refit)} s" if isinstance(refit, dict) else ""
            say(f"  retrain after {done}: {outcome.seconds:.1f} s ({timings}) -> "
                f"{'switched' if outcome.accepted else 'kept the current model'}: {outcome.reason}{refit_note}")  # fmt: skip
    unsafe = sum(1 for r in rows if r["unsafe"])
    caught = sum(w["caught"] for w in windows)
    estimate = await services.core.recall_estimate(SERVER, days=30)
    if args.out_model and services.prefilter is not None and SERVER.key in services.prefilter.folders:
        shutil.copytree(services.prefilter.folders[SERVER.key], args.out_model, dirs_exist_ok=True)
    await services.close()
    return {
        "messages": len(rows),
        "windows": windows,
        "true_recall": caught / unsafe if unsafe else None,
        "prefilter_recall": sum(w["prefilter_caught"] for w in windows) / unsafe if unsafe else None,
        "estimated_recall": estimate.recall,
        "estimate": estimate.describe(),
        "reasoner_calls": reasoner.calls,
        "reviews": moderators.reviews,
        "retrains": retrains,
    }


async def window_figures(services, chunk: list[dict], ids: list[str], calls: int) -> dict:
    escalated = caught = pf_caught = unsafe = benign = benign_esc = 0
    for r, mid in zip(chunk, ids):
        found = await services.core.message_verdict(SERVER, mid)
        verdicts = await services.storage.verdicts.verdicts_for(SERVER, found.row_id) if found else []
        first = next((v for v in verdicts if not v.found_by_audit), None)
        allowed = first is None or (first.stage is Stage.PREFILTER and first.decision is Decision.ALLOW)
        escalated += not allowed
        if r["unsafe"]:
            unsafe += 1
            pf_caught += not allowed
            caught += first is not None and first.decision is not Decision.ALLOW
        else:
            benign += 1
            benign_esc += not allowed
    estimate = await services.core.recall_estimate(SERVER, days=30)
    prefilter = services.prefilter
    model = "learned" if prefilter is not None and SERVER.key in getattr(prefilter, "learned", {}) else "default"
    return {
        "messages": len(chunk), "escalated_share": escalated / len(chunk), "reasoner_calls": calls,
        "true_recall": caught / unsafe if unsafe else 1.0, "prefilter_recall": pf_caught / unsafe if unsafe else 1.0,
        "caught": caught, "prefilter_caught": pf_caught, "unsafe": unsafe,
        "estimated_recall": None if estimate.recall is None else round(estimate.recall, 3),
        "benign_escalated": benign_esc / benign if benign else 0.0, "model": model,
    }  # fmt: skip


def _timings(folder: str) -> dict:
    try:
        info = json.loads((Path(folder) / "model.json").read_text())
    except (OSError, ValueError):
        return {}
    return info.get("info", info).get("timings", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+")
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--reasoner-error", type=float, default=0.1)
    parser.add_argument("--audit-share", type=float, default=0.05)
    parser.add_argument("--retrain-every", type=int, default=2000)
    parser.add_argument("--review-audits", type=float, default=1.0, help="share of audit-found cases moderators decide")
    parser.add_argument("--review-share", type=float, default=0.1, help="share of the other cases moderators decide")
    parser.add_argument("--out-model", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    result = asyncio.run(run(args))
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"true recall {result['true_recall']:.3f}, prefilter recall {result['prefilter_recall']:.3f}, "
              f"live estimate {result['estimate']}, reasoner calls {result['reasoner_calls']}, "
              f"moderator reviews {result['reviews']}, {result['seconds']} s")  # fmt: skip


if __name__ == "__main__":
    main()
