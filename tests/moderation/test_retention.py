"""Retention: old message content is purged per server; decisions, statuses and pending messages stay."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from modbot.app import build_services
from modbot.domain import Decision, MessageStatus, ServerRef, utcnow
from modbot.domain.settings import ServerSettings
from tests.conftest import event, make_settings

A = ServerRef("test", "a")
B = ServerRef("test", "b")


def age(db_path, row_ids, days: int) -> None:
    """Make rows look ``days`` old (as if received then)."""
    stamp = (utcnow() - timedelta(days=days)).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(db_path) as db:
        db.executemany("UPDATE messages SET received_at = ? WHERE id = ?", [(stamp, i) for i in row_ids])


async def test_old_content_is_purged_by_each_servers_retention_and_decisions_stay(tmp_path):
    settings = make_settings(tmp_path, server_defaults=ServerSettings(policy_id="test-policy", retention_days=30))
    services = await build_services(settings, reasoner=None, prefilter=None)
    await services.start()
    await services.server_settings.update(B, retention_days=365)
    old_a = await services.pipeline.submit(event("claim at free-nitro.example now", server=A, author_id="u1"))
    new_a = await services.pipeline.submit(event("fresh message", server=A))
    old_b = await services.pipeline.submit(event("claim at free-nitro.example now", server=B))
    await services.pipeline.drain(5)
    await services.pipeline.stop()  # the next one stays pending: nothing judges it
    pending = (await services.storage.messages.record_messages([event("still to be judged", server=A)]))[0]
    db = tmp_path / "modbot.sqlite3"
    age(db, [old_a.row_id, old_b.row_id, pending.row_id], days=100)

    purged = await services.retention.purge_once()
    assert purged == 1  # A's old judged message only: B keeps a year, pending messages are kept whole
    stored = {row_id: await services.storage.messages.load_message(row_id) for row_id in (old_a.row_id, new_a.row_id, old_b.row_id, pending.row_id)}
    assert stored[old_a.row_id].event.text == "[purged after the retention period]"
    assert stored[new_a.row_id].event.text == "fresh message"
    assert stored[old_b.row_id].event.text.startswith("claim at")
    assert stored[pending.row_id].event.text == "still to be judged" and stored[pending.row_id].status is MessageStatus.PENDING
    (verdict,) = await services.storage.verdicts.verdicts_for(A, old_a.row_id)
    assert verdict.decision is Decision.REMOVE_AND_TIMEOUT and verdict.rule_ids == ("SC1",)  # the audit trail stays
    assert verdict.reasoning == "" and "free-nitro" not in verdict.rationale
    assert (await services.storage.cases.list_cases(A)).total == 1
    assert await services.retention.purge_once() == 0  # idempotent
    await services.close()
