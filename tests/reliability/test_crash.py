"""Crash: the real pipeline in a subprocess, SIGKILLed mid-burst, restarted on the same SQLite file.

Each case feeds a burst (``tests.reliability.burst``) to ``tests.reliability.crash_child`` and kills it at
a named point (the child's own test-only hook) or from outside while it works. A second process then
starts on the same database: it resumes the pending messages and the planned actions (breaking the dead
run's leases at start-up), drains, and gets the whole burst redelivered, as a platform replaying events it
never saw acknowledged. Then, from the database and the platform's fsynced journal:

* every message is recorded once and judged once (one verdict per revision, policy version and stage),
  with the decision its kind calls for;
* every action its verdict planned was carried out on the platform: at least once per idempotency key,
  effective exactly once, one key per (message, action kind), the outbox empty and every outcome ok;
* every case was posted once, and the case knows where (``posted_ref``).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from modbot.domain import ActionKind, Decision
from modbot.domain.records import PLANNED_ACTION_LEASE_S
from tests.reliability.burst import burst
from tests.reliability.platform_log import PlatformFigures, read_executions

REPO = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT_S = 120


@dataclass(frozen=True)
class KillPoint:
    name: str
    messages: int
    #: The child's own hook fires on this count; for "external" the parent kills once the platform has
    #: journaled this many executions.
    after: int


KILL_POINTS = [
    KillPoint("intake", 2000, 500),  # the full burst; killed a quarter of the way into intake
    KillPoint("judging", 240, 50),  # of 96 reasoner calls
    KillPoint("before_action", 240, 100),  # of 216 actions
    KillPoint("after_action", 240, 100),
    KillPoint("after_settle", 240, 30),  # of 84 case posts
    KillPoint("external", 240, 100),  # the parent's SIGKILL once the platform journaled 100 executions
]


@dataclass
class CrashFigures:
    """What one crash-and-restart did (printed for the closing note: ``pytest -s``)."""

    kill_point: str
    messages: int
    recorded_before_kill: int
    pending_at_restart: int
    unsettled_at_restart: int
    verdicts: int
    reasoner_calls: int
    rejudged_after_crash: int
    actions_planned: int
    raw_executions: int
    duplicates_suppressed: int
    rerun_after_crash: int
    cases_posted: int


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    for name in ("CRASH_KILL_AT", "CRASH_KILL_AFTER"):
        env.pop(name, None)
    env.update(extra)
    return env


def _child(mode: str, workdir: Path, count: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.crash_child", mode, str(workdir), str(count)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _run_killed(point: KillPoint, workdir: Path) -> None:
    if point.name == "external":
        proc = _child("feed", workdir, point.messages, _env())
        journal = workdir / "platform.jsonl"
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while not (journal.exists() and journal.read_bytes().count(b"\n") >= point.after):
            assert proc.poll() is None, f"the child ended before the kill: {proc.communicate()}"
            assert time.monotonic() < deadline, "the child never got far enough to be killed"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    else:
        env = _env(CRASH_KILL_AT=point.name, CRASH_KILL_AFTER=str(point.after))
        proc = _child("feed", workdir, point.messages, env)
    out, err = proc.communicate(timeout=CHILD_TIMEOUT_S)
    assert proc.returncode == -signal.SIGKILL, f"not killed at {point.name} (rc {proc.returncode}): {out}\n{err[-3000:]}"


def _resume(workdir: Path, count: int) -> tuple[dict, str]:
    proc = _child("resume", workdir, count, _env())
    out, err = proc.communicate(timeout=CHILD_TIMEOUT_S)
    assert proc.returncode == 0, f"the restarted process failed (rc {proc.returncode}):\n{err[-5000:]}"
    line = next(line for line in out.splitlines() if line.startswith("RESUMED "))
    return json.loads(line.removeprefix("RESUMED ")), err


def _rows(db: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.name for p in KILL_POINTS])
def test_a_sigkilled_run_resumes_and_nothing_is_lost_or_done_twice(tmp_path: Path, point: KillPoint) -> None:
    db = tmp_path / "modbot.sqlite3"
    _run_killed(point, tmp_path)
    recorded_before = _rows(db, "SELECT count(*) FROM messages")[0][0]
    report, log = _resume(tmp_path, point.messages)

    expected = {(m.event.server.key, m.event.message_id): m for m in burst(point.messages)}
    # -- messages and verdicts: every one recorded once, judged once, as its kind says ---------------------
    messages = _rows(db, "SELECT id, server_key, message_id, status FROM messages")
    assert len(messages) == point.messages
    assert {(s, m) for _, s, m, _ in messages} == set(expected)
    assert Counter(status for *_, status in messages) == {"judged": point.messages}
    verdicts = _rows(db, "SELECT message_row_id, policy_version, stage, decision FROM verdicts")
    assert len(verdicts) == point.messages  # exactly one each: no audits, no follow-ups in this set-up
    per_key = Counter((row, version, stage) for row, version, stage, _ in verdicts)
    assert set(per_key.values()) == {1}
    row_key = {row_id: (server, message) for row_id, server, message, _ in messages}
    for row_id, _, _, decision in verdicts:
        assert Decision(decision) is expected[row_key[row_id]].decision, row_key[row_id]

    # -- actions: planned once, carried out, effective once per key --------------------------------------------
    assert _rows(db, "SELECT count(*) FROM action_outbox")[0][0] == 0
    settled = _rows(db, "SELECT server_key, message_id, kind, ok FROM actions")
    assert all(ok for *_, ok in settled)
    wanted = Counter((s, m, kind.value) for (s, m), msg in expected.items() for kind in msg.actions)
    assert Counter((s, m, kind) for s, m, kind, _ in settled) == wanted
    executions = read_executions(tmp_path / "platform.jsonl")
    figures = PlatformFigures.of(executions)
    keys_of = Counter((s, m, kind) for s, m, kind in {e.key: (e.server, e.message_id, e.kind.value) for e in executions}.values())
    assert keys_of == wanted  # one idempotency key per planned action: nothing planned twice
    assert sum(e.effective for e in executions) == figures.keys == sum(wanted.values())
    seen: set[str] = set()
    for e in executions:  # the platform did each key the first time only
        assert e.effective is (e.key not in seen), e
        seen.add(e.key)

    # -- cases: one per non-allowed message, posted once, its reference stored ---------------------------------
    cases = _rows(db, "SELECT id, posted_ref FROM cases")
    assert len(cases) == sum(1 for m in expected.values() if m.decision is not Decision.ALLOW)
    posts = Counter(e.case_id for e in executions if e.kind is ActionKind.POST_CASE and e.effective)
    assert posts == {case_id: 1 for case_id, _ in cases}
    unknown_post = [case_id for case_id, ref in cases if not (ref and ref.startswith("ref-"))]
    assert unknown_post == [], "cases whose post's reference was lost"

    # -- what the crash left, and what the restart says ---------------------------------------------------------
    calls = [line.split() for line in (tmp_path / "reasoner.log").read_text().splitlines()]
    callers: dict[str, set[str]] = {}
    for message_id, pid in calls:
        callers.setdefault(message_id, set()).add(pid)
    rejudged = sum(1 for pids in callers.values() if len(pids) > 1)
    assert "Traceback" not in log
    if report["pending_at_start"]:
        assert "pending messages from an earlier run" in log
    if report["unsettled_at_start"]:
        assert "actions an earlier run had planned and not finished" in log
    # The dead run's leases on its actions (PLANNED_ACTION_LEASE_S) were broken at start-up, not waited out.
    assert report["resume_s"] < PLANNED_ACTION_LEASE_S / 5
    if point.name == "intake":
        assert 0 < recorded_before < point.messages
        assert report["redelivered"].get("duplicate", 0) == recorded_before
    else:
        # Redelivery after the restart finds every message already judged: none is judged again.
        assert report["redelivered"] == {"duplicate": point.messages}
    if point.name == "judging":
        assert report["pending_at_start"] > 0 and rejudged >= 1  # the call in flight at the kill ran again
    if point.name == "before_action":
        assert report["unsettled_at_start"] > 0
    if point.name == "after_action":
        assert figures.rerun_after_crash >= 1  # done on the platform, not settled: run again, same key

    print(
        "CRASH-FIGURES "
        + json.dumps(
            asdict(
                CrashFigures(
                    kill_point=point.name,
                    messages=point.messages,
                    recorded_before_kill=recorded_before,
                    pending_at_restart=report["pending_at_start"],
                    unsettled_at_restart=report["unsettled_at_start"],
                    verdicts=len(verdicts),
                    reasoner_calls=len(calls),
                    rejudged_after_crash=rejudged,
                    actions_planned=sum(wanted.values()),
                    raw_executions=figures.raw,
                    duplicates_suppressed=figures.duplicates,
                    rerun_after_crash=figures.rerun_after_crash,
                    cases_posted=sum(posts.values()),
                )
            )
        )
    )
