"""Claims for several bot processes on one database: every pending row and outbox action has one holder.

Each ``Storage`` is one process's identity here (two storages on one database = two bot processes);
the same tests run on SQLite files and on PostgreSQL (``tests/store/conftest.py``).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import update

from modbot.domain import Action, ActionKind, utcnow
from modbot.domain.records import VerdictToSave
from modbot.store import Storage
from modbot.store.database import create_engine
from modbot.store.schema import MessageRow, OutboxRow
from tests.store.factories import A, B, message, policy, verdict


async def process(url: str) -> Storage:
    """Another bot process's storage on the same database."""
    built = Storage.from_engine(create_engine(url))
    await built.servers.ensure_server(A, "Guild A")
    await built.servers.ensure_server(B, "Guild B")
    return built


async def set_rows(url: str, table, ids: list[int], **values) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(update(table).where(table.id.in_(ids)).values(**values))
    await engine.dispose()


def dead_holder_like(storage: Storage) -> str:
    """The holder name a crashed process on this machine would have left (its pid is gone)."""
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    machine = storage.holder.rsplit(":", 2)[0]
    return f"{machine}:{int(exited.stdout)}:deadbeef0000"


async def test_rows_a_process_recorded_are_its_own_until_it_closes(database_url):
    first, second = await process(database_url), await process(database_url)
    recorded = await first.messages.record_messages([message(f"hello {i}") for i in range(5)])
    ids = [r.row_id for r in recorded]
    assert await second.messages.claim_pending(10) == []  # the recorder queues them itself
    assert [row_id for row_id, _ in await first.messages.claim_pending(10)] == ids  # its own: it may sweep them
    assert await first.messages.claim_pending(10, exclude=set(ids)) == []
    await first.close()  # a clean stop gives its claims up
    assert await second.messages.claim_pending(10) == [(row_id, A.key) for row_id in ids]
    await second.close()


async def test_concurrent_claimers_never_get_the_same_row(database_url):
    recorder, left, right = await process(database_url), await process(database_url), await process(database_url)
    await recorder.messages.record_messages([message(f"burst {i}", server=(A, B)[i % 2]) for i in range(120)])
    await recorder.close()

    # Both take a first batch before either goes on, so both really claim side by side (on a busy
    # machine one could otherwise drain everything before the other's first query returned).
    first_batches = asyncio.Barrier(2)

    async def drain(storage: Storage) -> list[int]:
        got: list[int] = []
        while batch := await storage.messages.claim_pending(7, exclude=frozenset(got)):
            if not got:  # 120 rows: each first batch is full, whoever claims first
                await first_batches.wait()
            got += [row_id for row_id, _ in batch]
            await asyncio.sleep(0)
        return got

    a, b = await asyncio.wait_for(asyncio.gather(drain(left), drain(right)), 60)
    assert not set(a) & set(b)
    assert len(a) + len(b) == 120 and a and b
    await left.close()
    await right.close()


async def test_a_dead_processes_claims_go_at_once_a_live_ones_only_when_its_lease_ends(database_url):
    first, second = await process(database_url), await process(database_url)
    dead, expired, live = [r.row_id for r in await first.messages.record_messages([message(t) for t in "xyz"])]
    await set_rows(database_url, MessageRow, [dead], claimed_by=dead_holder_like(first))
    # Another machine's holder: its pid means nothing here, only its lease counts.
    await set_rows(database_url, MessageRow, [expired], claimed_by="elsewhere:b00t:1:7:cafe", claimed_until=utcnow() - timedelta(seconds=1))
    await set_rows(database_url, MessageRow, [live], claimed_by="elsewhere:b00t:1:7:cafe")
    assert sorted(row_id for row_id, _ in await second.messages.claim_pending(10)) == [dead, expired]
    await first.close()
    await second.close()


async def test_renewed_claims_outlive_their_lease(database_url):
    first, second = await process(database_url), await process(database_url)
    ids = [r.row_id for r in await first.messages.record_messages([message("a"), message("b")])]
    await set_rows(database_url, MessageRow, ids, claimed_until=utcnow() - timedelta(seconds=1))
    await first.messages.renew_claims(frozenset(ids[:1]))  # the sweeper renews what its queue holds
    assert await second.messages.claim_pending(10) == [(ids[1], A.key)]
    await first.close()
    await second.close()


async def test_an_action_planned_by_a_live_process_is_not_taken_by_another(database_url):
    first, second = await process(database_url), await process(database_url)
    delete = Action(ActionKind.DELETE, server=A, channel_id="c1", message_id="m1", user_id="u1")
    one, two = await first.outbox.plan_actions([delete, delete])
    assert await second.outbox.due_actions(10) == [] and not await second.outbox.claim(one)
    await set_rows(database_url, OutboxRow, [two.id], claimed_by=dead_holder_like(first))
    assert [p.id for p in await second.outbox.due_actions(10)] == [two.id]  # a crashed planner's, at once
    assert await second.outbox.claim(two) and not await first.outbox.claim(two)
    await first.close()  # leases given up on a clean stop
    assert await second.outbox.claim(one)
    await second.close()


async def test_long_names_and_nul_characters_are_stored_alike_on_every_database(storage):
    long_title = "A very long policy title " * 20  # 500 characters: VARCHAR(200) refused it on PostgreSQL
    await storage.policies.add_policy(policy(long_title.strip()), A)
    assert [p.title for p in await storage.policies.list_policies(A)] == [long_title.strip()]
    await storage.servers.ensure_server(B, "Guild\x00 B " + "x" * 300)
    (recorded,) = await storage.messages.record_messages([message("selling cheats")])
    judged = replace(verdict(), rationale="sells\x00 cheats", model="m" * 300, reasoning="\x00")
    await storage.verdicts.save_verdicts([VerdictToSave(recorded.row_id, A, judged, False, False)])
    (stored,) = await storage.verdicts.verdicts_for(A, recorded.row_id)
    # PostgreSQL text cannot hold NUL: the store removes it on every database, so both keep the same.
    assert (stored.rationale, stored.reasoning, stored.model) == ("sells cheats", "", "m" * 300)


async def test_two_processes_recording_one_revision_get_one_row_and_no_failed_batch(database_url):
    first, second = await process(database_url), await process(database_url)
    events = [message(f"delivered to both {i}", message_id=f"both-{i}") for i in range(20)]
    a, b = await asyncio.gather(first.messages.record_messages(events), second.messages.record_messages(events))
    assert [r.row_id for r in a] == [r.row_id for r in b]
    # Each revision was created by exactly one of them; the other was told it is known (still pending).
    assert all(x.created != y.created for x, y in zip(a, b)), [(x.created, y.created, x.status, y.status) for x, y in zip(a, b)][:3]
    assert await first.messages.count_messages() == 20
    await first.close()
    await second.close()
