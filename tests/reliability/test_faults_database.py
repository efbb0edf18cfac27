"""Faults of the database: locked by another connection longer than busy_timeout, and a full disk.

Intake that cannot record a message fails loudly to the adapter (which answers 5xx or logs; the platform
redelivers), so nothing is half-accepted. A message already recorded whose verdict cannot be saved
stays pending, is not held against the row (it is not a poison row: the database is at fault), and is
judged by a sweep once the database takes writes again. The operator gets a line that names the cause,
not a traceback per message and sweep.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from modbot.app import build_services
from modbot.config import PipelineSettings
from modbot.domain import ActionKind, MessageStatus, ServerRef
from modbot.domain.records import IntakeStatus
from modbot.domain.settings import ServerSettings
from modbot.moderation.intake import MAX_ATTEMPTS
from modbot.ports import Judgement, JudgeRequest
from modbot.store.schema import MessageRow
from tests.conftest import event, make_settings
from tests.reliability.sqlite_faults import DiskQuota, ExclusiveLock, set_busy_timeout
from tests.support.recording_sink import RecordingSink
from tests.support.scripted import ScriptedReasoner, violation

SERVER = ServerRef("test", "g1")
ENFORCE = ServerSettings(policy_id="test-policy", mode="enforce", mod_channel_id="mods")
SCAM = "claim at free-nitro.example now {i}"  # act-now keyword rule: delete, timeout, warn, post
#: How long a fault lasts: many sweeps (0.05 s apart). While the file is locked a sweep cannot claim rows
#: (a write), so nothing is tried again; a full disk takes the claims, so each row is judged many times over.
FAULT_S = {"locked": 1.5, "full": 2.5}
#: Messages caught by the fault between being recorded and their verdict being saved.
COUNT = 24
FAULTS = {"locked": "database is locked", "full": "database or disk is full"}


def _long_reasoning(request: JudgeRequest) -> Judgement:
    # The model's analysis runs to kilobytes: each verdict needs new pages, which a full disk refuses
    # (a short one could still fit in the free space of the pages the file already has).
    return replace(violation("CH1"), reasoning="Weighing the message against CH1. " * 120)


async def _build(tmp_path, *, reasoner=None, workers=2):
    sink = RecordingSink()
    settings = make_settings(
        tmp_path,
        server_defaults=ENFORCE,
        pipeline=PipelineSettings(queue_size=100, workers=workers, sweep_interval_s=0.05, action_retry_base_s=0.02),
    )
    services = await build_services(settings, reasoner=reasoner, prefilter=None, sinks={"test": sink})
    await services.storage.servers.ensure_server(SERVER)
    await set_busy_timeout(services, 150)
    return services, sink


async def _statuses(services, rows: list[int]) -> set[MessageStatus]:
    return {(await services.storage.messages.load_message(r)).status for r in rows}


async def _wait_judged(services, rows: list[int], timeout: float = 20.0) -> None:
    async def loop() -> None:
        while await _statuses(services, rows) != {MessageStatus.JUDGED}:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)
    await services.pipeline.drain(10)


class _Fault:
    """The fault of a parametrized case, entered and left around the part of the test it covers."""

    def __init__(self, kind: str, services, tmp_path):
        self.kind = kind
        self._lock = ExclusiveLock(tmp_path / "modbot.sqlite3")
        self._quota = DiskQuota(services)

    async def __aenter__(self) -> _Fault:
        if self.kind == "locked":
            self._lock.__enter__()
        else:
            await self._quota.fill()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.kind == "locked":
            self._lock.__exit__()
        else:
            await self._quota.free()


@pytest.mark.parametrize("kind", sorted(FAULTS))
async def test_intake_fails_loudly_and_the_redelivered_message_is_taken(tmp_path, kind):
    services, sink = await _build(tmp_path)
    await services.start()
    try:
        # Long enough to need new pages: a full disk refuses it (a short one may fit in a page's free space).
        message = event(SCAM.format(i=0) + " padding" * 600, message_id="m-redelivered")
        async with _Fault(kind, services, tmp_path):
            with pytest.raises(Exception, match=FAULTS[kind]):
                await services.core.submit(message)
        assert await services.storage.messages.count_messages() == 0  # nothing half-accepted
        intake = await services.core.submit(message)  # the platform's redelivery
        assert intake.status is IntakeStatus.QUEUED
        await _wait_judged(services, [intake.row_id])
        assert sink.kinds() == [ActionKind.DELETE, ActionKind.TIMEOUT, ActionKind.WARN, ActionKind.POST_CASE]
    finally:
        await services.close()


@pytest.mark.parametrize("kind", sorted(FAULTS))
async def test_a_verdict_that_cannot_be_saved_leaves_the_message_pending_until_the_database_is_back(tmp_path, caplog, kind):
    caplog.set_level(logging.INFO)
    reasoner = ScriptedReasoner(_long_reasoning, delay_s=1.0)
    services, sink = await _build(tmp_path, reasoner=reasoner, workers=8)
    await services.start()
    # Accepted (recorded as pending) before the fault, judged while it lasts: their verdicts cannot be saved.
    rows = [(await services.core.submit(event(f"selling aimbot {i}, dm me " + "x" * 200))).row_id for i in range(COUNT)]
    try:
        async with _Fault(kind, services, tmp_path):
            reasoner.delay_s = 0.01  # from here on every sweep tries them all again, many times over
            await asyncio.sleep(FAULT_S[kind])
            if kind == "full":  # on a loaded machine the sweeps come slower: the fault lasts until they have
                for _ in range(600):
                    if len(reasoner.calls) >= (MAX_ATTEMPTS + 1) * COUNT:
                        break
                    await asyncio.sleep(0.05)
            during = [(await services.storage.messages.load_message(r)).status for r in rows]
            assert during == [MessageStatus.PENDING] * COUNT  # none failed, none half-saved
            if kind == "full":  # judged again and again: more tries than a poison row is allowed
                assert len(reasoner.calls) >= (MAX_ATTEMPTS + 1) * COUNT, len(reasoner.calls)
        await _wait_judged(services, rows)
        for row_id in rows:
            assert len(await services.storage.verdicts.verdicts_for(SERVER, row_id)) == 1
        assert sink.kinds().count(ActionKind.POST_CASE) == COUNT
        assert len(sink.actions) == 3 * COUNT and len({a.idempotency_key for a in sink.actions}) == 3 * COUNT
        async with services.storage._database.reading() as session:
            for row_id in rows:
                row = await session.get(MessageRow, row_id)
                assert row.error is None and row.attempts == 0  # the database's fault, not the row's
        assert services.pipeline.counters.failed == 0, services.pipeline.counters

        # What the operator saw: the cause, named; not a traceback per message.
        ours = [r for r in caplog.records if r.name.startswith("modbot.")]
        named = [r for r in ours if FAULTS[kind] in r.getMessage() and r.levelno >= logging.WARNING]
        assert named, [r.getMessage() for r in ours]
        per_message = [r for r in ours if r.exc_info and "message row" in r.getMessage()]
        assert per_message == [], [r.getMessage() for r in per_message]
    finally:
        await services.close()


async def test_a_database_locked_at_start_up_delays_the_resume_and_nothing_is_lost(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    first, _ = await _build(tmp_path)
    await first.storage.messages.record_messages([event(SCAM.format(i=i), message_id=f"left-{i}") for i in range(3)])
    await first.close()  # three messages an earlier run left pending

    services, sink = await _build(tmp_path)
    try:
        with ExclusiveLock(tmp_path / "modbot.sqlite3"):
            await services.start()  # does not raise: the sweeper resumes once the lock is gone
        assert any("could not resume earlier work yet" in r.getMessage() for r in caplog.records)
        rows = [stored.row_id for stored in await services.storage.messages.recent_messages(SERVER, 10)]
        await _wait_judged(services, rows)
        assert sink.kinds().count(ActionKind.POST_CASE) == 3
        sweeps = [r for r in caplog.records if r.exc_info and "sweeping" in r.getMessage()]
        assert sweeps == []  # no traceback per sweep while it lasted
    finally:
        await services.close()
