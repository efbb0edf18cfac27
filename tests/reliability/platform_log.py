"""A platform at the network edge that outlives the bot: an ``ActionSink`` journaled to a file with fsync.

A real platform remembers what it did when the bot crashes, and dedupes by idempotency key (a deleted
message stays deleted, a case posted once is not posted again). ``FilePlatform`` does the same: every
execution is appended to a JSON-lines file and fsynced *before* the outcome is returned, so a SIGKILL
right after an action leaves it on record; a key seen before (in this process or an earlier one) is a
no-op ``done`` on the platform side, but the raw execution is still recorded (``effective: false``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modbot.domain import Action, ActionKind, ActionOutcome

__all__ = ["Execution", "FilePlatform", "PlatformFigures", "read_executions"]


class FilePlatform:
    """Implements ``modbot.ports.ActionSink``; ``before``/``after`` are test hooks called around each execution."""

    def __init__(
        self,
        path: Path,
        *,
        before: Callable[[int], None] | None = None,
        after: Callable[[int], None] | None = None,
    ):
        self.path = path
        self.done_keys = {e.key for e in read_executions(path)}  # the platform's memory survives the bot
        self.calls = 0
        self._before = before
        self._after = after
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def execute(self, action: Action) -> ActionOutcome:
        self.calls += 1
        if self._before is not None:
            self._before(self.calls)
        effective = action.idempotency_key not in self.done_keys
        self.done_keys.add(action.idempotency_key)
        record = {
            "key": action.idempotency_key,
            "kind": action.kind.value,
            "server": action.server.key,
            "message_id": action.message_id,
            "case_id": action.case.id if action.case is not None else None,
            "effective": effective,
            "pid": os.getpid(),
        }
        # One write of a whole line (O_APPEND), then fsync: on record before the bot hears "done".
        os.write(self._fd, (json.dumps(record) + "\n").encode())
        os.fsync(self._fd)
        if self._after is not None:
            self._after(self.calls)
        # The same key always gets the same reference back, as a platform's dedupe would answer.
        return ActionOutcome(True, "done", platform_ref=f"ref-{action.idempotency_key[:12]}")

    def close(self) -> None:
        os.close(self._fd)


@dataclass(frozen=True, slots=True)
class Execution:
    """One raw execution on the platform, as journaled."""

    key: str
    kind: ActionKind
    server: str
    message_id: str | None
    case_id: int | None
    effective: bool
    pid: int


def read_executions(path: Path) -> list[Execution]:
    """Every journaled execution, in order (a torn last line, impossible with one ``write``, is refused)."""
    if not path.exists():
        return []
    executions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        executions.append(
            Execution(
                data["key"], ActionKind(data["kind"]), data["server"], data["message_id"], data["case_id"],
                data["effective"], data["pid"],
            )  # fmt: skip
        )
    return executions


@dataclass(frozen=True, slots=True)
class PlatformFigures:
    """What the platform saw: raw executions, distinct keys, and re-executions of a key."""

    raw: int
    keys: int
    duplicates: int
    #: Keys first executed by one process and executed again by a later one (the crash's re-runs).
    rerun_after_crash: int
    per_kind: dict[str, int]

    @classmethod
    def of(cls, executions: list[Execution]) -> PlatformFigures:
        first_pid: dict[str, int] = {}
        rerun: set[str] = set()
        for e in executions:
            first_pid.setdefault(e.key, e.pid)
            if e.pid != first_pid[e.key]:
                rerun.add(e.key)
        kinds = Counter(e.kind.value for e in executions if e.effective)
        return cls(len(executions), len(first_pid), len(executions) - len(first_pid), len(rerun), dict(kinds))
