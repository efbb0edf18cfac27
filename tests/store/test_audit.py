"""AuditLog: moderator commands, allowed and refused, and one-time notices."""

from __future__ import annotations

from modbot.domain.records import AuditEntry
from tests.store.factories import A, B


async def test_audit_entries_come_back_newest_first(storage):
    await storage.audit.audit(A, "mod", "review", {"case_id": 3, "outcome": "uphold"}, allowed=True, result="ok")
    await storage.audit.audit(A, "user", "config", {}, allowed=False, result="r" * 3000)
    refused, allowed = await storage.audit.audit_entries(A)
    assert isinstance(allowed, AuditEntry)
    assert (allowed.actor_id, allowed.command, allowed.arguments, allowed.allowed, allowed.result) == (
        "mod", "review", {"case_id": 3, "outcome": "uphold"}, True, "ok"
    )
    assert allowed.server == A and allowed.created_at.tzinfo is not None
    assert not refused.allowed and len(refused.result) == 2000
    assert [e.id for e in await storage.audit.audit_entries(A, limit=1)] == [refused.id]


async def test_notices_are_recorded_once(storage):
    assert await storage.audit.note_once(A, "permission:delete")
    assert not await storage.audit.note_once(A, "permission:delete")
    assert await storage.audit.note_once(B, "permission:delete")
    assert await storage.audit.note_once(A, "permission:ban", "missing Ban Members")
