"""``PolicyLibrary`` on SQLAlchemy: policy versions, shipped (visible to all) and each server's own."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select

from modbot.domain import ServerRef
from modbot.domain.policy import Policy
from modbot.domain.records import PolicyRecord, StoredPolicy
from modbot.store._base import StoreAdapter
from modbot.store._mapping import policy_from_row, policy_record
from modbot.store.schema import PolicyVersionRow, ServerPolicyRow
from modbot.store.servers import ensure_server

__all__ = ["SqlPolicyLibrary"]


def _visible_to(server: ServerRef) -> ColumnElement[bool]:
    """Shipped policies and the server's own uploads; never another server's."""
    return or_(PolicyVersionRow.server_key.is_(None), PolicyVersionRow.server_key == server.key)


class SqlPolicyLibrary(StoreAdapter):
    """Policy versions, and which one each server chose (the newest choice is active; history kept)."""

    async def add_policy(self, policy: Policy, server: ServerRef | None = None, uploaded_by: str | None = None) -> int:
        """Store a policy version (idempotent per server and version); returns its row id."""
        owner = server.key if server else None
        async with self._db.writing() as session:
            existing = await session.scalar(
                select(PolicyVersionRow.id).where(
                    PolicyVersionRow.version == policy.version,
                    PolicyVersionRow.server_key.is_(None) if owner is None else PolicyVersionRow.server_key == owner,
                )
            )
            if existing is not None:
                return existing
            row = PolicyVersionRow(
                server_key=owner,
                version=policy.version,
                policy_id=policy.id,
                title=policy.meta.title,
                text=policy.text,
                uploaded_by=uploaded_by,
            )
            session.add(row)
            await session.commit()
            return row.id

    async def activate_policy(self, server: ServerRef, policy_row_id: int, by: str | None = None) -> None:
        await ensure_server(self._db, server)
        async with self._db.writing() as session:
            session.add(ServerPolicyRow(server_key=server.key, policy_version_id=policy_row_id, activated_by=by))
            await session.commit()

    async def active_policy(self, server: ServerRef) -> Policy | None:
        """The policy version the server chose last, or None (then the configured default applies)."""
        async with self._db.reading() as session:
            row = await session.scalar(
                select(PolicyVersionRow)
                .join(ServerPolicyRow, ServerPolicyRow.policy_version_id == PolicyVersionRow.id)
                .where(ServerPolicyRow.server_key == server.key, _visible_to(server))
                .order_by(ServerPolicyRow.id.desc())
                .limit(1)
            )
            return policy_from_row(row) if row else None

    async def find_policy(self, server: ServerRef, ref: str) -> StoredPolicy | None:
        """A policy visible to ``server`` by id (newest version) or by version hash (or its prefix)."""
        async with self._db.reading() as session:
            row = await session.scalar(
                select(PolicyVersionRow)
                .where(_visible_to(server))
                .where(
                    or_(
                        PolicyVersionRow.policy_id == ref,
                        PolicyVersionRow.version == ref,
                        PolicyVersionRow.version == f"sha256:{ref}",
                    )
                )
                # The server's own upload wins over a shipped policy of the same id.
                .order_by(PolicyVersionRow.server_key.is_(None), PolicyVersionRow.id.desc())
                .limit(1)
            )
            return StoredPolicy(row.id, policy_from_row(row)) if row else None

    async def list_policies(self, server: ServerRef) -> list[PolicyRecord]:
        """Every version visible to ``server``, oldest first, the active one marked."""
        async with self._db.reading() as session:
            active_id = await session.scalar(
                select(ServerPolicyRow.policy_version_id)
                .where(ServerPolicyRow.server_key == server.key)
                .order_by(ServerPolicyRow.id.desc())
                .limit(1)
            )
            rows = await session.scalars(select(PolicyVersionRow).where(_visible_to(server)).order_by(PolicyVersionRow.id))
            return [policy_record(row, active_id) for row in rows]
