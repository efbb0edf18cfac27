"""``modbot.store``'s public surface: one ``Storage`` of every port, built from one engine."""

from __future__ import annotations

import asyncio

import modbot.store
from modbot.domain import Action, ActionKind, ActionOutcome, MessageStatus
from modbot.ports import ActionLog, AuditLog, CaseBook, MessageLog, PolicyLibrary, ServerConfig, VerdictLog
from modbot.store import Storage, open_storage
from tests.store.factories import A, message, policy


def test_the_public_surface_is_storage_and_open_storage():
    assert modbot.store.__all__ == ["Storage", "open_storage"]
    assert list(Storage.__dataclass_fields__) == [
        "messages", "verdicts", "cases", "actions", "outbox", "servers", "policies", "audit", "prefilter_versions",
        "member_notes", "_database",
    ]


async def test_open_storage_migrates_the_file_and_builds_every_port(tmp_path):
    storage = await open_storage(f"sqlite+aiosqlite:///{tmp_path / 'new' / 'modbot.sqlite3'}")
    try:
        ports = (MessageLog, VerdictLog, CaseBook, ActionLog, ServerConfig, PolicyLibrary, AuditLog)
        parts = (storage.messages, storage.verdicts, storage.cases, storage.actions, storage.servers, storage.policies, storage.audit)
        for port, part in zip(ports, parts):
            missing = [name for name in dir(port) if not name.startswith("_") and not hasattr(part, name)]
            assert missing == [], f"{type(part).__name__} lacks {missing} of {port.__name__}"
        assert await storage.servers.ensure_server(A, "Guild A")
        assert await storage.messages.count_messages() == 0
    finally:
        await storage.close()
    assert (tmp_path / "new" / "modbot.sqlite3").exists()


async def test_concurrent_writers_through_different_ports_share_one_file_without_lock_errors(storage):
    async def write(i: int) -> None:
        await storage.messages.record_messages([message(f"text {i}")])
        await storage.audit.audit(A, "mod", "stats", {"i": i}, allowed=True, result="ok")
        await storage.actions.record_action(Action(ActionKind.NOTIFY_MODS, A, "c-mod"), ActionOutcome(True))
        await storage.policies.add_policy(policy(f"Policy {i}"), A)

    await asyncio.gather(*(write(i) for i in range(20)))
    assert await storage.messages.count_messages(MessageStatus.PENDING) == 20
    assert len(await storage.audit.audit_entries(A, limit=100)) == 20
    assert len(await storage.actions.recent_actions(A)) == 20
    assert len(await storage.policies.list_policies(A)) == 20
