"""``modbot policy replay``: a real SQLite store filled by the real pipeline, re-judged with a candidate.

The reasoner is real llama.cpp on the tiny gpt-oss model with forced answers, so the diff is exact.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from modbot.app import build_services
from modbot.domain import CaseStatus, Decision, ReviewOutcome, ServerRef
from modbot.domain.commands import Invoker, Review
from modbot.cli.policy_tools import ReplayRequest, run_replay
from tests.conftest import TEST_POLICY, event, make_settings
from tests.policy_tools.conftest import CANDIDATE_POLICY, write_config
from tests.support.recording_sink import RecordingSink

SERVER = ServerRef("test", "g1")
MODBOT = Path(sys.executable).with_name("modbot")
REPO = Path(__file__).resolve().parents[2]

MESSAGES = {
    "m-aimbot": "selling aimbot, dm me",
    "m-wallhack": "wallhack video anyone?",
    "m-nitro": "claim at free-nitro.example now",
    "m-hello": "hello there friends",
    "m-gold": "cheap gold here, pm me",
    "m-account": "buy my account, 50 dollars",
}


def _counts(database: Path) -> tuple[int, int, int]:
    with sqlite3.connect(database) as db:
        return tuple(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("verdicts", "actions", "action_outbox"))


async def _live_traffic(tmp_path: Path, reasoner) -> None:
    """Judge the messages through the real pipeline in enforce mode; a moderator reviews two cases."""
    services = await build_services(make_settings(tmp_path), reasoner=reasoner, prefilter=None, sinks={"test": RecordingSink()})
    try:
        await services.server_settings.update(SERVER, mode="enforce")
        await services.start()
        for message_id, text in MESSAGES.items():
            await services.pipeline.submit(event(text, message_id=message_id))
        await services.pipeline.drain(60)
        cases = {c.event.message_id: c for c in (await services.storage.cases.list_cases(SERVER, status=None, per_page=50)).cases}
        assert cases["m-aimbot"].verdict.decision is Decision.REMOVE
        assert cases["m-nitro"].verdict.decision is Decision.REMOVE_AND_TIMEOUT
        moderator = Invoker(SERVER, "mod1", platform_moderator=True)
        assert (await services.moderators.execute(moderator, Review(cases["m-aimbot"].id, ReviewOutcome.UPHOLD))).ok
        assert (await services.moderators.execute(moderator, Review(cases["m-nitro"].id, ReviewOutcome.OVERTURN))).ok
        assert (await services.storage.cases.get_case(SERVER, cases["m-nitro"].id)).status is CaseStatus.OVERTURNED
    finally:
        await services.close()


async def test_replay_of_stored_messages_gives_the_exact_diff_and_the_reviewed_precision_recall(
    tmp_path, forced_reasoner, answers
):
    await _live_traffic(tmp_path, forced_reasoner(answers))
    database = tmp_path / "modbot.sqlite3"
    before = _counts(database)
    candidate = tmp_path / "candidate.md"
    candidate.write_text(CANDIDATE_POLICY, encoding="utf-8")

    diff, meta = await run_replay(
        make_settings(tmp_path), ReplayRequest(str(candidate), server=SERVER), reasoner=forced_reasoner(answers),
        prefilter=None, show_progress=False,
    )  # fmt: skip

    out = diff.to_dict()
    assert (out["compared"], out["newly_removed"], out["no_longer_removed"], out["changed"]) == (6, 1, 2, 1)
    assert [e["id"] for e in out["examples"]["newly_removed"]] == ["m-gold"]
    assert [e["id"] for e in out["examples"]["no_longer_removed"]] == ["m-aimbot", "m-nitro"]
    assert [e["id"] for e in out["examples"]["changed"]] == ["m-account"]
    gold = out["examples"]["newly_removed"][0]
    assert gold["before"]["decision"] == "allow" and gold["after"] == {
        **gold["after"], "decision": "remove", "stage": "reasoner", "rule_ids": ["GD1"], "categories": ["gold"],
    }  # fmt: skip
    nitro = out["examples"]["no_longer_removed"][1]
    assert (nitro["before"]["decision"], nitro["after"]["decision"]) == ("remove_and_timeout", "flag")
    # Reviewed: m-aimbot upheld (a violation), m-nitro overturned. Live: 1 TP + 1 FP; candidate: 1 FN + 1 FP.
    assert out["labelled"] == 2
    assert (out["before"]["precision"], out["before"]["recall"]) == (0.5, 1.0)
    assert (out["after"]["precision"], out["after"]["recall"]) == (0.0, 0.0)
    assert (out["precision_change"], out["recall_change"]) == (-0.5, -1.0)
    assert meta["baseline"] == "the live verdicts" and meta["candidate"].startswith("candidate-policy sha256:")
    assert _counts(database) == before  # nothing stored, nothing acted on

    # Against the live policy judged in the same run: the stored verdicts are what it decides again.
    live = tmp_path / "live.md"
    live.write_text(TEST_POLICY, encoding="utf-8")
    again, meta = await run_replay(
        make_settings(tmp_path), ReplayRequest(str(candidate), server=SERVER, against=str(live)),
        reasoner=forced_reasoner(answers), prefilter=None, show_progress=False,
    )  # fmt: skip
    assert (again.compared, again.newly_removed, again.no_longer_removed, again.changed) == (6, 1, 2, 1)
    assert meta["baseline"].startswith("test-policy sha256:")
    # --last keeps the newest messages only.
    last, _ = await run_replay(
        make_settings(tmp_path), ReplayRequest(str(candidate), server=SERVER, last=2),
        reasoner=forced_reasoner(answers), prefilter=None, show_progress=False,
    )  # fmt: skip
    assert (last.compared, last.newly_removed, last.changed) == (2, 1, 1)


def _run(*args: str, config: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODBOT_", "DISCORD_", "SLACK_"))}
    return subprocess.run(
        [str(MODBOT), *args, "--config", str(config)], capture_output=True, text=True, env=env, cwd=REPO,
        timeout=180, **kwargs,
    )  # fmt: skip


DATA = [
    {"id": "d-aimbot", "text": "selling aimbot, dm me", "label": 1, "category": "cheats"},
    {"id": "d-gold", "text": "cheap gold here, pm me", "label": "violation", "category": "GD1"},
    {"id": "d-hello", "text": "hello there friends", "label": 0},
    {"id": "d-wallhack", "text": "wallhack video anyone?", "violation": False},
    {"id": "d-account", "text": "buy my account, 50 dollars", "unsafe": 1, "rule_id": "AT1"},
]


def test_replay_of_a_labelled_file_prints_the_json_contract_and_how_precision_and_recall_move(tmp_path):
    config = write_config(tmp_path)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in DATA), encoding="utf-8")
    candidate = tmp_path / "candidate.md"
    candidate.write_text(CANDIDATE_POLICY, encoding="utf-8")

    result = _run("policy", "replay", str(candidate), "--data", str(data), "--no-prefilter", "--json", config=config)

    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"compared", "newly_removed", "no_longer_removed", "changed", "examples"} <= out.keys()
    # No reasoner: a keyword hit is flagged for a human. Flags are no removals, so everything is "changed".
    assert (out["compared"], out["newly_removed"], out["no_longer_removed"], out["changed"]) == (5, 0, 0, 3)
    assert [e["id"] for e in out["examples"]["changed"]] == ["d-aimbot", "d-gold", "d-account"]
    first = out["examples"]["changed"][0]
    assert first["before"]["decision"] == "flag" and first["before"]["rule_ids"] == ["CH1"]
    assert first["after"]["decision"] == "allow"
    assert out["baseline"].startswith("test-policy sha256:")
    assert out["labelled"] == 5
    assert (out["before"]["precision"], out["before"]["recall"]) == (0.5, 0.3333)
    assert (out["after"]["precision"], out["after"]["recall"]) == (0.6667, 0.6667)
    assert (out["precision_change"], out["recall_change"]) == (0.1667, 0.3333)

    text = _run("policy", "replay", str(candidate), "--data", str(data), "--no-prefilter", config=config)
    assert text.returncode == 0, text.stderr
    assert "compared 5: 0 newly removed, 0 no longer removed, 3 changed" in text.stdout
    assert "precision 0.500 → 0.667, recall 0.333 → 0.667" in text.stdout


def test_replay_needs_exactly_one_source_and_a_known_candidate(tmp_path):
    config = write_config(tmp_path)
    assert _run("policy", "replay", "x.md", config=config).returncode == 2
    missing = _run("policy", "replay", "no-such-policy", "--server", "test:g1", "--no-prefilter", config=config)
    assert missing.returncode == 2 and "neither a policy file nor a policy stored" in missing.stderr


def test_ctrl_c_prints_the_partial_diff_and_exits_130(tmp_path, tiny_model):
    config = write_config(
        tmp_path, reasoner='backend = "llama"\nn_ctx = 2048\nmax_tokens = 48\nn_threads = 1\nn_gpu_layers = 0'
    )
    rows = [{"id": f"r{n}", "text": f"wallhack number {n} for sale", "label": 1} for n in range(40)]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    candidate = tmp_path / "candidate.md"
    candidate.write_text(CANDIDATE_POLICY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODBOT_", "DISCORD_", "SLACK_"))}
    proc = subprocess.Popen(
        [str(MODBOT), "policy", "replay", str(candidate), "--data", str(data), "--model", str(tiny_model),
         "--no-prefilter", "--json", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        seen = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            seen.append(line)
            if line.startswith("judged ") or not line:
                break
        assert seen[-1].startswith("judged "), "".join(seen)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    out = json.loads(stdout)
    assert out["interrupted"] is True
    # Random weights answer garbage: each row judged so far is counted as one the reasoner failed on.
    assert 2 <= out["compared"] + out["failed"] < 40
