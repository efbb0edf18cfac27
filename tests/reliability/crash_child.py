"""The process that ``test_crash.py`` SIGKILLs: the real core on a SQLite file, fed a burst of messages.

Run as ``python -m tests.reliability.crash_child MODE DIR COUNT`` (MODE ``feed`` or ``resume``). Everything
is the real composition root (``modbot.app.build_services``): store, migrations, keyword stage, pipeline,
outbox and dispatcher. Only the two edges are test doubles: a deterministic reasoner (the scripted one,
with a small delay) and the platform (``FilePlatform``, journaled with fsync).

Test-only kill hook (nothing of it is in production code): ``CRASH_KILL_AT`` names a point and
``CRASH_KILL_AFTER`` a count; when the point is reached that many times the process sends itself SIGKILL.

* ``intake``        — the Nth message was accepted while other submissions are still in flight;
* ``judging``       — the Nth reasoner call has started (other workers are judging, verdicts batching);
* ``before_action`` — the Nth action is about to run: its verdict and plan are committed, it is not done;
* ``after_action``  — the Nth action was done on the platform (journaled), its outcome not yet settled;
* ``after_settle``  — the Nth case post was settled, and whatever follows the settling has not run.

``feed`` prints ``FED {json}`` if it was not killed; ``resume`` starts on the same database (pending messages
and planned actions resumed, the dead run's leases broken), drains, redelivers the whole burst as a platform
replaying unacknowledged events, drains again and prints ``RESUMED {json}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from modbot.app import build_services
from modbot.config import PipelineSettings
from modbot.domain import ActionKind, MessageStatus
from modbot.domain.records import IntakeStatus
from modbot.domain.settings import ServerSettings
from modbot.ports import Judgement, JudgeRequest
from tests.conftest import make_settings
from tests.reliability.burst import burst, reasoner_rules
from tests.reliability.platform_log import FilePlatform
from tests.support.scripted import ScriptedReasoner, by_keyword

ENFORCE = ServerSettings(policy_id="test-policy", mode="enforce", mod_channel_id="mods")
#: How many submissions a "gateway" has in flight at once.
INTAKE_WINDOW = 64


def _kill_hook(point: str):
    """A callable to invoke at ``point``: SIGKILLs this process on its ``CRASH_KILL_AFTER``-th call there."""
    wanted = os.environ.get("CRASH_KILL_AT") == point
    after = int(os.environ.get("CRASH_KILL_AFTER", "0"))
    seen = 0

    def hit(_count: int = 0) -> None:
        nonlocal seen
        seen += 1
        if wanted and seen >= after:
            os.kill(os.getpid(), signal.SIGKILL)

    return hit


def _hook_settle(services) -> None:
    """``after_settle``: the Nth case post was settled (recorded, out of the outbox), nothing after it ran yet."""
    outbox = services.storage.outbox
    settle = outbox.settle
    hook = _kill_hook("after_settle")

    async def settle_then_maybe_die(planned, action, outcome):  # noqa: ANN001, ANN202 - the port's own signature
        result = await settle(planned, action, outcome)
        if action.kind is ActionKind.POST_CASE:
            hook()
        return result

    outbox.settle = settle_then_maybe_die  # this process's instance only: the dispatcher holds the same one


class JournaledReasoner(ScriptedReasoner):
    """The scripted reasoner, appending each call's message id to a file (raw, unbuffered writes)."""

    def __init__(self, path: Path, delay_s: float):
        super().__init__(by_keyword(reasoner_rules()), delay_s=delay_s)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._hook = _kill_hook("judging")

    async def judge(self, request: JudgeRequest) -> Judgement:
        os.write(self._fd, f"{request.event.message_id} {os.getpid()}\n".encode())
        self._hook()
        return await super().judge(request)


async def _settled(services) -> tuple[int, int]:
    pending = await services.storage.messages.count_messages(MessageStatus.PENDING)
    return pending, await services.dispatcher.unsettled()


async def _wait_settled(services, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while await _settled(services) != (0, 0):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled after {timeout_s} s: (pending, unsettled) = {await _settled(services)}")
        await asyncio.sleep(0.05)
    await services.pipeline.drain(timeout_s)


async def _feed(services, messages, on_accepted) -> dict[str, int]:
    statuses: dict[str, int] = {}
    semaphore = asyncio.Semaphore(INTAKE_WINDOW)

    async def one(message) -> None:
        async with semaphore:
            intake = await services.core.submit(message.event)
        statuses[intake.status.value] = statuses.get(intake.status.value, 0) + 1
        if intake.status in (IntakeStatus.QUEUED, IntakeStatus.OVERFLOW):
            on_accepted()

    await asyncio.gather(*(one(m) for m in messages))
    return statuses


async def main(mode: str, workdir: Path, count: int) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    settings = make_settings(
        workdir,
        server_defaults=ENFORCE,
        pipeline=PipelineSettings(queue_size=500, workers=8, sweep_interval_s=0.05, action_retry_base_s=0.05),
    )
    platform = FilePlatform(workdir / "platform.jsonl", before=_kill_hook("before_action"), after=_kill_hook("after_action"))
    reasoner = JournaledReasoner(workdir / "reasoner.log", float(os.environ.get("CRASH_REASONER_DELAY_S", "0.002")))
    services = await build_services(settings, reasoner=reasoner, prefilter=None, sinks={"test": platform})
    _hook_settle(services)
    messages = burst(count)
    report: dict[str, object] = {"pid": os.getpid()}
    if mode == "resume":
        report["pending_at_start"], report["unsettled_at_start"] = await _settled(services)
    started = time.monotonic()
    await services.start()
    if mode == "feed":
        report["intake"] = await _feed(services, messages, _kill_hook("intake"))
        await _wait_settled(services, 60)
        print("FED " + json.dumps(report), flush=True)
    else:
        await _wait_settled(services, 60)
        report["resume_s"] = round(time.monotonic() - started, 2)
        report["redelivered"] = await _feed(services, messages, lambda: None)
        await _wait_settled(services, 60)
        print("RESUMED " + json.dumps(report), flush=True)
    await services.close()
    platform.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
