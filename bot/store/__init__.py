"""The storage adapters: one SQLAlchemy module per storage port of ``modbot.ports``.

Only the composition root (``modbot.app``) imports this package. It builds every adapter from one
engine with ``open_storage`` (or ``Storage.from_engine``) and hands each part of the core the ports
it needs; no ORM row ever leaves the package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from modbot.ports.learning import PrefilterVersions
from modbot.ports.notes import MemberNotes
from modbot.ports import ActionLog, ActionOutbox, AuditLog, CaseBook, MessageLog, PolicyLibrary, ServerConfig, VerdictLog
from modbot.store._base import Database
from modbot.store.actions import SqlActionLog
from modbot.store.audit import SqlAuditLog
from modbot.store.cases import SqlCaseBook
from modbot.store.database import create_engine, upgrade
from modbot.store.member_notes import SqlMemberNotes
from modbot.store.messages import SqlMessageLog
from modbot.store.outbox import SqlActionOutbox
from modbot.store.policies import SqlPolicyLibrary
from modbot.store.prefilter_versions import SqlPrefilterVersions
from modbot.store.servers import SqlServerConfig
from modbot.store.verdicts import SqlVerdictLog

__all__ = ["Storage", "open_storage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Storage:
    """Every storage port, all on one engine (and, on SQLite, one write lock)."""

    messages: MessageLog
    verdicts: VerdictLog
    cases: CaseBook
    actions: ActionLog
    outbox: ActionOutbox
    servers: ServerConfig
    policies: PolicyLibrary
    audit: AuditLog
    prefilter_versions: PrefilterVersions
    member_notes: MemberNotes
    _database: Database = field(repr=False)

    @classmethod
    def from_engine(cls, engine: AsyncEngine, *, sqlite_fast_path: bool = True) -> Storage:
        """All the adapters over ``engine`` (already migrated); ``close()`` disposes of it."""
        database = Database(engine, sqlite_fast_path=sqlite_fast_path)
        return cls(
            messages=SqlMessageLog(database),
            verdicts=SqlVerdictLog(database),
            cases=SqlCaseBook(database),
            actions=SqlActionLog(database),
            outbox=SqlActionOutbox(database),
            servers=SqlServerConfig(database),
            policies=SqlPolicyLibrary(database),
            audit=SqlAuditLog(database),
            prefilter_versions=SqlPrefilterVersions(database),
            member_notes=SqlMemberNotes(database),
            _database=database,
        )

    @property
    def holder(self) -> str:
        """The name this storage claims rows under (``modbot.store.claims``; one per process, normally)."""
        return str(self._database.holder)

    async def close(self) -> None:
        """Release this process's claims, then dispose of the engine; the adapters are unusable afterwards.

        Released claims let another process (or the next start) take the rows at once; a process that
        dies without closing leaves them to their leases.
        """
        for claimant in (self.messages, self.outbox):
            if not isinstance(claimant, (SqlMessageLog, SqlActionOutbox)):
                continue
            try:
                await claimant.release_claims()
            except Exception:  # the database is gone: the leases run out by themselves
                log.warning("could not release the claims of %s", self.holder, exc_info=True)
        await self._database.close()


async def open_storage(database_url: str, *, migrate: bool = True) -> Storage:
    """Create the engine for ``database_url``, upgrade its schema (unless ``migrate`` is False), build the adapters."""
    if migrate:
        await upgrade(database_url)
    return Storage.from_engine(create_engine(database_url))
