"""A row that cannot be read back or processed is failed after a few tries and never blocks good rows."""

from __future__ import annotations

import asyncio

import pytest

from modbot.app import build_services
from modbot.config import PipelineSettings
from modbot.domain import MessageStatus, ServerRef
from modbot.domain.records import IntakeStatus
from modbot.moderation.intake import MAX_ATTEMPTS
from modbot.store.schema import MessageRow
from tests.conftest import event, make_settings
from tests.support.scripted import ScriptedReasoner

SERVER = ServerRef("test", "g1")


async def _wait_for(predicate, timeout=10.0):
    async def _loop():
        while not await predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(_loop(), timeout)


@pytest.mark.parametrize("queue_size", [1, 2])
async def test_a_poison_row_is_failed_and_good_rows_behind_it_are_judged(tmp_path, queue_size):
    settings = make_settings(tmp_path, pipeline=PipelineSettings(queue_size=queue_size, workers=1, sweep_interval_s=0.02))
    services = await build_services(settings, reasoner=ScriptedReasoner(), prefilter=None)
    messages = services.storage.messages
    await services.storage.servers.ensure_server(SERVER)
    # Recorded straight through the store (as an older intake without checks did): its key has no id.
    bad = (await messages.record_messages([event("poison", server=ServerRef("test", ""))]))[0].row_id
    good = [r.row_id for r in await messages.record_messages([event(f"fine {i}") for i in range(4)])]
    await services.start()

    async def settled():
        statuses = [(await messages.load_message(i)).status for i in good]
        return all(s is MessageStatus.JUDGED for s in statuses) and await messages.count_messages(MessageStatus.FAILED) == 1

    await _wait_for(settled)
    await services.pipeline.drain(5)
    async with services.storage._database.reading() as session:
        row = await session.get(MessageRow, bad)
        assert row.status == MessageStatus.FAILED.value and row.attempts == MAX_ATTEMPTS
        assert "gave up after 3 attempts" in row.error and "not a server key" in row.error
    assert await messages.pending_message_ids(10) == []
    await services.close()


async def test_rows_that_failed_before_are_swept_after_fresh_ones(tmp_path):
    services = await build_services(make_settings(tmp_path), reasoner=None, prefilter=None)
    messages = services.storage.messages
    ids = [r.row_id for r in await messages.record_messages([event(f"m {i}") for i in range(3)])]
    assert await messages.count_failed_attempt(ids[0], "boom", 3) is False
    assert await messages.pending_message_ids(1) == [ids[1]]
    assert await messages.pending_message_ids(3) == [ids[1], ids[2], ids[0]]
    assert await messages.count_failed_attempt(ids[0], "boom", 3) is False
    assert await messages.count_failed_attempt(ids[0], "boom", 3) is True
    assert (await messages.load_message(ids[0])).status is MessageStatus.FAILED
    assert await messages.count_failed_attempt(ids[0], "boom", 3) is False  # not pending any more
    await services.close()


@pytest.mark.parametrize(
    "fields, reason",
    [
        (dict(server=ServerRef("test", "")), "server id is empty"),
        (dict(server=ServerRef("", "g1")), "server platform is empty"),
        (dict(channel_id="c" * 65), "channel id is longer than 64"),
        (dict(author_id="u\n1"), "author id contains control characters"),
        (dict(message_id="m\x001"), "message id contains control characters"),
        (dict(thread_id="t\u2028"), "thread id contains control characters"),
        (dict(channel_id=""), "channel id is empty"),
    ],
)
async def test_intake_rejects_ids_that_cannot_be_stored_faithfully(services, fields, reason):
    await services.start()
    intake = await services.pipeline.submit(event("hello", **fields))
    assert intake.status is IntakeStatus.REJECTED and reason in intake.detail
    assert await services.storage.messages.count_messages() == 0
