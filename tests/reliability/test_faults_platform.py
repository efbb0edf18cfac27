"""Faults of the platform: 429 with Retry-After and 5xx answers, retried from the outbox until done.

The platform at the edge answers like an HTTP API does under load: first ``429 Too Many Requests`` with a
``Retry-After``, then ``503``, then success. The real dispatcher, outbox and pipeline handle it: each
action is retried with the same idempotency key, never sooner than the platform asked nor than the
exponential backoff, and settled once, ok. The operator sees one line per retry naming the answer and when
the next attempt is due, and no traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import select

from modbot.app import build_services
from modbot.config import PipelineSettings
from modbot.domain import Action, ActionKind, ActionOutcome, MessageStatus, ServerRef
from modbot.domain.settings import ServerSettings
from modbot.store.schema import CaseRow
from tests.conftest import event, make_settings

SERVER = ServerRef("test", "g1")
ENFORCE = ServerSettings(policy_id="test-policy", mode="enforce", mod_channel_id="mods")
SCAM = "claim at free-nitro.example now {i}"
RETRY_AFTER_S = 0.3
BASE_S = 0.1


class BusyPlatform:
    """An ``ActionSink``: each key gets 429 (Retry-After), then 503, then done; attempts are timed."""

    def __init__(self) -> None:
        self.attempts: dict[str, list[float]] = {}
        self.done: dict[str, Action] = {}

    async def execute(self, action: Action) -> ActionOutcome:
        times = self.attempts.setdefault(action.idempotency_key, [])
        times.append(time.monotonic())
        if len(times) == 1:
            return ActionOutcome(False, "HTTP 429 Too Many Requests", retry_after_s=RETRY_AFTER_S)
        if len(times) == 2:
            return ActionOutcome(False, "HTTP 503 Service Unavailable", retry_after_s=0.0)
        self.done.setdefault(action.idempotency_key, action)
        return ActionOutcome(True, "done", platform_ref=f"ref-{action.idempotency_key[:8]}")


async def test_rate_limits_and_server_errors_are_retried_with_backoff_until_done(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    platform = BusyPlatform()
    settings = make_settings(
        tmp_path,
        server_defaults=ENFORCE,
        pipeline=PipelineSettings(
            queue_size=100, workers=2, sweep_interval_s=0.05, action_retry_base_s=BASE_S, action_retry_max_s=5.0
        ),
    )
    services = await build_services(settings, reasoner=None, prefilter=None, sinks={"test": platform})
    await services.start()
    try:
        rows = [(await services.core.submit(event(SCAM.format(i=i)))).row_id for i in range(3)]
        await services.pipeline.drain(10)
        assert await services.dispatcher.unsettled() > 0  # 3 messages x (delete, timeout, warn, post), waiting

        async def settled() -> bool:
            return await services.dispatcher.unsettled() == 0

        async def wait() -> None:
            while not await settled():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(wait(), 20)
        assert len(platform.attempts) == 12 and len(platform.done) == 12
        for key, times in platform.attempts.items():
            assert len(times) == 3, key  # 429, 503, done: nothing more once it was done
            # Never sooner than asked: Retry-After first, then the backoff of the second attempt (base x 2).
            assert times[1] - times[0] >= RETRY_AFTER_S * 0.95
            assert times[2] - times[1] >= BASE_S * 2 * 0.95
        for row_id in rows:
            assert (await services.storage.messages.load_message(row_id)).status is MessageStatus.JUDGED
            verdict = (await services.storage.verdicts.verdicts_for(SERVER, row_id))[0]
            case_id = await _case_of(services, row_id)
            records = await services.storage.actions.actions_for_case(SERVER, case_id)
            assert [r.kind for r in records] == [ActionKind.DELETE, ActionKind.TIMEOUT, ActionKind.WARN, ActionKind.POST_CASE]
            assert all(r.ok for r in records), verdict
            case = await services.storage.cases.get_case(SERVER, case_id)
            assert case.posted_ref and case.posted_ref.startswith("ref-")

        lines = [r for r in caplog.records if r.name.startswith("modbot.") and "failed for now" in r.getMessage()]
        assert any("HTTP 429" in r.getMessage() and "again in 0.3 s" in r.getMessage() for r in lines)
        assert any("HTTP 503" in r.getMessage() for r in lines)
        assert not [r for r in caplog.records if r.name.startswith("modbot.") and r.exc_info]
    finally:
        await services.close()


async def _case_of(services, row_id: int) -> int:
    # Only to find the case of a row; the checks themselves go through the ports.
    async with services.storage._database.reading() as session:
        return (await session.scalars(select(CaseRow.id).where(CaseRow.message_row_id == row_id))).one()
