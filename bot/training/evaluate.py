"""``modbot eval``: run labelled messages through the real Judge and measure the routing.

A message counts as *escalated* when it is not simply allowed: sent to the reasoner, flagged for
review, or acted on. With ``--stages prefilter`` (no reasoner) that is the keyword + prefilter
routing itself: its recall is the share of unsafe messages that would reach the reasoner or be acted
on, and the benign escalated share is the reasoner load caused by safe traffic. With
``--stages full`` the verdicts are the reasoner's, and "predicted unsafe" means any decision other
than allow.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from modbot.domain import Decision, MessageEvent, ServerRef, Stage, Verdict
from modbot.moderation.judge import Judge, Routing
from modbot.stages.keywords import KeywordMatcher
from modbot.domain.policy import Policy
from modbot.training.data import LabelledRow
from modbot.stages.prefilter.thresholds import SweepPoint, allow_threshold_for_recall, sweep

__all__ = ["CategoryStats", "EvalReport", "evaluate_rows", "plot_sweep", "report_from_verdicts"]

EVAL_SERVER = ServerRef("eval", "local")


@dataclass(frozen=True, slots=True)
class CategoryStats:
    """One category of the data: how many messages, how many unsafe, and how many were escalated."""

    n: int
    unsafe: int
    escalated: int
    caught: int

    @property
    def recall(self) -> float | None:
        return self.caught / self.unsafe if self.unsafe else None

    @property
    def escalated_share(self) -> float:
        return self.escalated / self.n if self.n else 0.0


@dataclass(frozen=True)
class EvalReport:
    """Everything ``modbot eval`` prints."""

    stages: str
    n: int
    unsafe: int
    tp: int
    fp: int
    tn: int
    fn: int
    escalated: int
    acted: int
    benign_escalated: int
    by_stage: dict[str, int]
    per_category: dict[str, CategoryStats]
    sweep: tuple[SweepPoint, ...]
    routing: Routing
    target_recall: float
    #: On this data, the benign escalated share of the highest allow threshold that reaches the
    #: target recall (what the goal "at recall >= 0.95" is measured with), and that threshold.
    benign_escalated_at_target: float | None
    threshold_at_target: float | None
    seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def escalated_share(self) -> float:
        return self.escalated / self.n if self.n else 0.0

    @property
    def benign_escalated_share(self) -> float:
        benign = self.n - self.unsafe
        return self.benign_escalated / benign if benign else 0.0

    def to_json(self) -> dict[str, object]:
        """The ``--json`` object (one line); keys are part of the CLI contract."""

        def r(x: float | None) -> float | None:
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, 4)

        return {
            "stages": self.stages,
            "n": self.n,
            "unsafe": self.unsafe,
            "precision": r(self.precision),
            "recall": r(self.recall),
            "f1": r(self.f1),
            "escalated_share": r(self.escalated_share),
            "benign_escalated_share": r(self.benign_escalated_share),
            "acted_share": r(self.acted / self.n if self.n else 0.0),
            "per_category": {k: r(v.recall) for k, v in sorted(self.per_category.items())},
            "per_category_detail": {
                k: {"n": v.n, "unsafe": v.unsafe, "recall": r(v.recall), "escalated_share": r(v.escalated_share)}
                for k, v in sorted(self.per_category.items())
            },
            "confusion": {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn},
            "by_stage": dict(sorted(self.by_stage.items())),
            "allow_below": self.routing.allow_below,
            "act_above": self.routing.act_above,
            "target_recall": self.target_recall,
            "threshold_at_target_recall": r(self.threshold_at_target),
            "benign_escalated_at_target_recall": r(self.benign_escalated_at_target),
            "sweep": [
                {
                    "threshold": p.threshold,
                    "recall": r(p.recall),
                    "escalated_share": r(p.escalated_share),
                    "benign_escalated_share": r(p.benign_escalated_share),
                }
                for p in self.sweep
            ],
            "seconds": round(self.seconds, 2),
            **self.extra,
        }


def _escalated(verdict: Verdict, stages: str) -> bool:
    if stages == "full":
        return verdict.decision is not Decision.ALLOW or verdict.stage is Stage.REASONER
    return verdict.decision is not Decision.ALLOW


def _predicted_unsafe(verdict: Verdict, stages: str) -> bool:
    return verdict.decision is not Decision.ALLOW


def report_from_verdicts(
    rows: Sequence[LabelledRow],
    verdicts: Sequence[Verdict],
    keyword_hits: Sequence[bool],
    *,
    stages: str,
    routing: Routing,
    target_recall: float,
    seconds: float = 0.0,
) -> EvalReport:
    """Metrics of a finished run (separate from running, so tests can check the arithmetic).

    ``routing`` must carry the thresholds that were in force (numbers, not None).
    """
    if routing.allow_below is None or routing.act_above is None:
        raise ValueError("report_from_verdicts needs the resolved thresholds (Judge.thresholds)")
    tp = fp = tn = fn = escalated = acted = benign_escalated = 0
    by_stage: Counter[str] = Counter()
    cats: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    scores: list[float] = []
    labels: list[bool] = []
    hits: list[bool] = []
    for row, verdict, hit in zip(rows, verdicts, keyword_hits):
        esc = _escalated(verdict, stages)
        pred = _predicted_unsafe(verdict, stages)
        by_stage[verdict.stage.value] += 1
        if verdict.decision in (Decision.REMOVE, Decision.REMOVE_AND_TIMEOUT) or (
            verdict.stage is Stage.PREFILTER
            and verdict.decision is not Decision.ALLOW
            and verdict.score is not None
            and verdict.score >= routing.act_above
        ):
            acted += 1
        escalated += esc
        if row.unsafe:
            tp += pred
            fn += not pred
        else:
            fp += pred
            tn += not pred
            benign_escalated += esc
        c = cats[row.category]
        c[0] += 1
        c[1] += row.unsafe
        c[2] += esc
        c[3] += row.unsafe and pred
        # For the sweep: a keyword act or an empty message has no score; count keyword hits as
        # always escalated and scoreless non-hits as allowed. A message sent on with a score below
        # the allow threshold was routed whatever its score (a language the model was not trained
        # on, a message cut at intake): escalated at every threshold too, as in the pipeline.
        scores.append(verdict.score if verdict.score is not None else (1.0 if hit else 0.0))
        labels.append(row.unsafe)
        hits.append(hit or (esc and verdict.score is not None and verdict.score < routing.allow_below))
    threshold = benign_at = None
    if any(labels) and not all(labels):
        threshold = allow_threshold_for_recall(scores, labels, hits, target_recall)
        points = sweep(scores, labels, hits, points=2, extra=(threshold,))
        benign_at = next(p.benign_escalated_share for p in points if p.threshold == round(threshold, 6))
    points = sweep(scores, labels, hits, points=201, extra=(routing.allow_below,)) if rows else ()
    return EvalReport(
        stages=stages,
        n=len(rows),
        unsafe=sum(labels),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        escalated=escalated,
        acted=acted,
        benign_escalated=benign_escalated,
        by_stage=dict(by_stage),
        per_category={k: CategoryStats(*v) for k, v in cats.items()},
        sweep=points,
        routing=routing,
        target_recall=target_recall,
        benign_escalated_at_target=benign_at,
        threshold_at_target=threshold,
        seconds=seconds,
    )


async def evaluate_rows(
    rows: Sequence[LabelledRow],
    judge: Judge,
    policy: Policy,
    matcher: KeywordMatcher,
    routing: Routing,
    *,
    stages: str = "prefilter",
    target_recall: float = 0.95,
    concurrency: int = 64,
    progress: Callable[[int], None] | None = None,
    community_of: Callable[[LabelledRow], str | None] | None = None,
) -> EvalReport:
    """Judge every row (``concurrency`` at a time, so the prefilter's micro-batching works).

    ``community_of`` gives each row's ``prefilter_community`` (as if each source were a server set
    to its own community); None scores every row with ``routing``'s community.
    """
    import time

    if stages not in ("prefilter", "full"):
        raise ValueError("stages must be 'prefilter' or 'full'")
    started = time.perf_counter()
    # The report states the thresholds in force: the server's, or the prefilter's calibrated ones
    # (for the community most rows are scored with, when rows carry communities).
    if community_of is not None and rows:
        most = Counter(community_of(row) for row in rows).most_common(1)[0][0]
        routing = replace(routing, prefilter_community=most)
    allow_below, act_above = judge.thresholds(routing)
    routing = replace(routing, allow_below=allow_below, act_above=act_above)
    verdicts: list[Verdict | None] = [None] * len(rows)
    hits = [matcher.scan(row.text).matched for row in rows]
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int, row: LabelledRow) -> None:
        async with semaphore:
            event = MessageEvent(
                server=EVAL_SERVER, channel_id="eval", message_id=row.id or str(i), author_id="eval", text=row.text
            )
            row_routing = routing if community_of is None else replace(routing, prefilter_community=community_of(row))
            verdicts[i] = await judge.judge(event, policy, matcher, row_routing)
        if progress is not None:
            progress(1)

    await asyncio.gather(*(one(i, row) for i, row in enumerate(rows)))
    done = [v for v in verdicts if v is not None]
    return report_from_verdicts(
        rows,
        done,
        hits,
        stages=stages,
        routing=routing,
        target_recall=target_recall,
        seconds=time.perf_counter() - started,
    )


def plot_sweep(report: EvalReport, path: Path, *, title: str = "") -> None:
    """Draw recall against the escalated shares over the allow-threshold sweep (PNG, matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    pts = sorted(report.sweep, key=lambda p: p.benign_escalated_share)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    ax.plot([p.benign_escalated_share for p in pts], [p.recall for p in pts], label="benign messages escalated")
    ax.plot([p.escalated_share for p in pts], [p.recall for p in pts], linestyle="--", label="all messages escalated")
    ax.axhline(report.target_recall, color="grey", linewidth=0.8, linestyle=":")
    ax.scatter(
        [report.benign_escalated_share],
        [report.recall],
        color="red",
        zorder=3,
        label=f"operating point (allow below {report.routing.allow_below:.3f})",
    )
    if report.benign_escalated_at_target is not None:
        ax.scatter(
            [report.benign_escalated_at_target],
            [report.target_recall],
            color="black",
            marker="x",
            zorder=3,
            label=f"recall {report.target_recall:.2f}: {report.benign_escalated_at_target:.1%} benign escalated",
        )
    ax.set_xlabel("share escalated (to the reasoner or acted on)")
    ax.set_ylabel("recall of unsafe messages")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.grid(True, alpha=0.3)
    ax.set_title(title or f"modbot eval ({report.stages}), n={report.n}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
