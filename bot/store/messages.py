"""``MessageLog`` on SQLAlchemy: every message revision, recorded as pending before it is judged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from modbot.domain import MessageEvent, MessageStatus, ServerRef, utcnow
from modbot.domain.records import RecordedMessage, StoredMessage
from modbot.store._base import StoreAdapter
from modbot.store._bulk import insert_many
from modbot.store._mapping import event_extra, event_from_row
from modbot.store.claims import MESSAGE_CLAIM_LEASE_S, dead_holders
from modbot.store.schema import MessageRow, VerdictRow

__all__ = ["ERASED", "PURGED", "REMOVED_TEXTS", "SqlMessageLog", "message_values"]

#: What an erased member's texts (and the verdicts' rationales about them) read afterwards.
ERASED = "[erased on request]"
#: What a message's text reads once the server's retention period is over.
PURGED = "[purged after the retention period]"
#: Texts that are no longer a member's words: never labels, never training examples.
REMOVED_TEXTS = (ERASED, PURGED)

_Revision = tuple[str, str, str]  # server key, platform message id, content hash


def message_values(event: MessageEvent, status: MessageStatus, now: datetime) -> dict[str, Any]:
    """The ``messages`` row of one revision, as plain column values."""
    return {
        "server_key": event.server.key,
        "channel_id": event.channel_id,
        "thread_id": event.thread_id,
        "message_id": event.message_id,
        "author_id": event.author_id,
        "content_hash": event.content_hash,
        "text": event.text,
        "event": event_extra(event),
        "edited": event.edited,
        "status": MessageStatus(status).value,
        "attempts": 0,
        "received_at": now,
        "updated_at": now,
    }


class SqlMessageLog(StoreAdapter):
    """Message revisions; the same revision recorded twice is one row."""

    async def record_messages(self, events: list[MessageEvent]) -> list[RecordedMessage]:
        """Record several message revisions in one transaction (group commit); results in input order."""
        if not events:
            return []
        keys = [(e.server.key, e.message_id, e.content_hash) for e in events]
        now = utcnow()
        async with self._db.writing() as session:
            known = await _revisions(session, keys)
            fresh: dict[_Revision, dict[str, Any]] = {}
            # A new row starts claimed by its recorder, who queues it at once (see ``claim_pending``).
            claim = {"claimed_by": str(self._db.holder), "claimed_until": now + timedelta(seconds=MESSAGE_CLAIM_LEASE_S)}
            for event, key in zip(events, keys):
                if key not in known and key not in fresh:
                    fresh[key] = {**message_values(event, MessageStatus.PENDING, now), **claim}
            created: dict[_Revision, int] = {}
            if fresh:
                # Another bot process may record the same revision meanwhile (one event delivered to
                # two shards): its row wins, this batch does not fail, and the row is reported as known.
                ids = await insert_many(self._db, session, MessageRow.__table__, list(fresh.values()), skip_conflicts=True)
                if ids is not None:  # every row inserted, ids known (the SQLite fast path)
                    created = dict(zip(fresh, ids))
                else:
                    stored = await _revisions(session, list(fresh), holder=str(self._db.holder))
                    created = {key: row_id for key, (row_id, _, ours) in stored.items() if ours}
                    known.update({key: (row_id, status) for key, (row_id, status, ours) in stored.items() if not ours})
            await session.commit()
        results = []
        first_seen: set[_Revision] = set()
        for key in keys:
            if key in created:
                results.append(RecordedMessage(created[key], key not in first_seen, MessageStatus.PENDING))
                first_seen.add(key)
            else:
                row_id, status = known[key]
                results.append(RecordedMessage(row_id, False, status))
        return results

    async def load_message(self, row_id: int) -> StoredMessage | None:
        async with self._db.reading() as session:
            row = await session.get(MessageRow, row_id)
            return StoredMessage(row.id, event_from_row(row), MessageStatus(row.status)) if row else None

    async def pending_message_ids(
        self, limit: int, exclude: set[int] | frozenset[int] = frozenset(), *, min_age_s: float = 0.0
    ) -> list[int]:
        """Oldest pending messages first; ``min_age_s`` skips those recorded in the last seconds."""
        async with self._db.reading() as session:
            query = select(MessageRow.id).where(MessageRow.status == MessageStatus.PENDING.value)
            if min_age_s > 0:
                query = query.where(MessageRow.received_at <= utcnow() - timedelta(seconds=min_age_s))
            # Rows that failed before go after fresh ones: a bad row cannot hold good ones back.
            query = query.order_by(MessageRow.attempts, MessageRow.id)
            ids = (await session.scalars(query.limit(limit + len(exclude)))).all()
            return [i for i in ids if i not in exclude][:limit]

    async def claim_pending(
        self, limit: int, exclude: set[int] | frozenset[int] = frozenset(), *, min_age_s: float = 0.0
    ) -> list[tuple[int, str]]:
        """Claim up to ``limit`` pending rows no live process holds (see ``modbot.ports.MessageLog``).

        One UPDATE over a sub-select, so a claim is atomic on both databases: on PostgreSQL the
        sub-select locks its rows ``FOR UPDATE SKIP LOCKED`` (concurrent claimers skip each other's
        rows instead of waiting); SQLite runs one writer at a time. RETURNING says what was taken.
        """
        if limit <= 0:
            return []
        now = utcnow()
        holder = str(self._db.holder)
        async with self._db.writing() as session:
            held = set(
                (
                    await session.scalars(
                        select(MessageRow.claimed_by)
                        .where(MessageRow.status == MessageStatus.PENDING.value, MessageRow.claimed_until > now)
                        .distinct()
                    )
                ).all()
            )
            free = [MessageRow.claimed_until.is_(None), MessageRow.claimed_until <= now, MessageRow.claimed_by == holder]
            if dead := dead_holders(held - {holder}):
                free.append(MessageRow.claimed_by.in_(dead))
            wanted = select(MessageRow.id).where(MessageRow.status == MessageStatus.PENDING.value, or_(*free))
            if min_age_s > 0:
                wanted = wanted.where(MessageRow.received_at <= now - timedelta(seconds=min_age_s))
            if exclude:
                wanted = wanted.where(MessageRow.id.not_in(sorted(exclude)))
            # Rows that failed before go after fresh ones: a bad row cannot hold good ones back.
            wanted = wanted.order_by(MessageRow.attempts, MessageRow.id).limit(limit)
            if self._db.is_postgresql:
                wanted = wanted.with_for_update(skip_locked=True)
            taken = await session.execute(
                update(MessageRow)
                .where(MessageRow.id.in_(wanted.scalar_subquery()))
                .values(claimed_by=holder, claimed_until=now + timedelta(seconds=MESSAGE_CLAIM_LEASE_S))
                .returning(MessageRow.id, MessageRow.server_key, MessageRow.attempts)
            )
            rows = sorted(taken.all(), key=lambda row: (row[2], row[0]))
            await session.commit()
        return [(row_id, key) for row_id, key, _ in rows]

    async def renew_claims(self, row_ids: set[int] | frozenset[int]) -> None:
        """Extend this process's claims on ``row_ids`` by a lease (the pipeline's sweeper, for its queue)."""
        if not row_ids:
            return
        ids = sorted(row_ids)
        until = utcnow() + timedelta(seconds=MESSAGE_CLAIM_LEASE_S)
        async with self._db.writing() as session:
            for start in range(0, len(ids), 500):  # bounded IN lists
                await session.execute(
                    update(MessageRow)
                    .where(MessageRow.id.in_(ids[start : start + 500]), MessageRow.claimed_by == str(self._db.holder))
                    .values(claimed_until=until)
                )
            await session.commit()

    async def release_claims(self) -> None:
        """Give up this process's claims on pending rows (it is closing): anyone may take them now."""
        async with self._db.writing() as session:
            await session.execute(
                update(MessageRow)
                .where(MessageRow.status == MessageStatus.PENDING.value, MessageRow.claimed_by == str(self._db.holder))
                .values(claimed_by=None, claimed_until=None)
            )
            await session.commit()

    async def count_messages(self, status: MessageStatus | None = None, server: ServerRef | None = None) -> int:
        async with self._db.reading() as session:
            query = select(func.count(MessageRow.id))
            if status is not None:
                query = query.where(MessageRow.status == MessageStatus(status).value)
            if server is not None:
                query = query.where(MessageRow.server_key == server.key)
            return int(await session.scalar(query) or 0)

    async def set_message_status(self, row_id: int, status: MessageStatus, error: str | None = None) -> None:
        async with self._db.writing() as session:
            await session.execute(
                update(MessageRow)
                .where(MessageRow.id == row_id)
                .values(
                    status=MessageStatus(status).value, error=error, updated_at=utcnow(), attempts=MessageRow.attempts + 1
                )
            )
            await session.commit()

    async def count_failed_attempt(self, row_id: int, error: str, max_attempts: int) -> bool:
        """Count a failed attempt at a pending row; at ``max_attempts`` it is marked failed (True then)."""
        async with self._db.writing() as session:
            attempts = await session.scalar(
                select(MessageRow.attempts).where(
                    MessageRow.id == row_id, MessageRow.status == MessageStatus.PENDING.value
                )
            )
            if attempts is None:
                return False
            failed = attempts + 1 >= max_attempts
            status = MessageStatus.FAILED if failed else MessageStatus.PENDING
            detail = f"gave up after {attempts + 1} attempts: {error}" if failed else error
            await session.execute(
                update(MessageRow)
                .where(MessageRow.id == row_id)
                .values(status=status.value, error=detail, attempts=attempts + 1, updated_at=utcnow())
            )
            await session.commit()
            return failed

    async def recent_messages(self, server: ServerRef, limit: int = 100) -> list[StoredMessage]:
        """A server's newest recorded revisions, oldest of them first."""
        async with self._db.reading() as session:
            rows = (
                await session.scalars(
                    select(MessageRow).where(MessageRow.server_key == server.key).order_by(MessageRow.id.desc()).limit(limit)
                )
            ).all()
            return [StoredMessage(row.id, event_from_row(row), MessageStatus(row.status)) for row in reversed(rows)]

    async def latest_revision(self, server: ServerRef, message_id: str) -> tuple[StoredMessage, str] | None:
        """The newest revision of ``message_id`` in ``server`` (an edit is a newer row), with its error text."""
        async with self._db.reading() as session:
            row = await session.scalar(
                select(MessageRow)
                .where(MessageRow.server_key == server.key, MessageRow.message_id == message_id)
                .order_by(MessageRow.id.desc())
                .limit(1)
            )
            if row is None:
                return None
            return StoredMessage(row.id, event_from_row(row), MessageStatus(row.status)), row.error or ""

    async def forget_member(self, server: ServerRef, author_id: str) -> int:
        """Erase a member's stored content in this server (texts, context, reasoning); returns messages erased.

        Verdict decisions, rule ids and case status stay, so statistics and the audit trail remain true.
        """
        async with self._db.writing() as session:
            ids = (
                await session.scalars(
                    select(MessageRow.id).where(MessageRow.server_key == server.key, MessageRow.author_id == author_id)
                )
            ).all()
            await _erase_from_context(session, server, author_id, set(ids))
            if not ids:
                await session.commit()
                return 0
            await session.execute(
                update(MessageRow).where(MessageRow.id.in_(ids)).values(text=ERASED, event={}, updated_at=utcnow())
            )
            await session.execute(
                update(VerdictRow)
                .where(VerdictRow.message_row_id.in_(ids))
                .values(rationale=ERASED, reasoning="", raw_output=None)
            )
            await session.commit()
            return len(ids)


    async def purge_content(self, server: ServerRef, received_before: datetime) -> int:
        """Retention: texts, stored context and reasoning of old messages go; decisions and statuses stay."""
        async with self._db.writing() as session:
            ids = (
                await session.scalars(
                    select(MessageRow.id).where(
                        MessageRow.server_key == server.key,
                        MessageRow.received_at < received_before,
                        MessageRow.status != MessageStatus.PENDING.value,
                        MessageRow.text.not_in(REMOVED_TEXTS),
                    )
                )
            ).all()
            if not ids:
                return 0
            for start in range(0, len(ids), 500):  # bounded IN lists
                chunk = ids[start : start + 500]
                await session.execute(
                    update(MessageRow).where(MessageRow.id.in_(chunk)).values(text=PURGED, event={}, updated_at=utcnow())
                )
                await session.execute(
                    update(VerdictRow)
                    .where(VerdictRow.message_row_id.in_(chunk))
                    .values(rationale=PURGED, reasoning="", raw_output=None)
                )
            await session.commit()
            return len(ids)


async def _erase_from_context(session: AsyncSession, server: ServerRef, author_id: str, own: set[int]) -> None:
    """Erase the member's texts quoted as context in other members' stored messages of ``server``."""
    candidates = await session.execute(
        select(MessageRow.id, MessageRow.event).where(
            MessageRow.server_key == server.key, cast(MessageRow.event, Text).contains(author_id)
        )
    )
    for row_id, extra in candidates.all():
        if row_id in own or not extra or not extra.get("context"):
            continue
        context = extra["context"]
        scrubbed = [{**c, "text": ERASED} if c.get("author_id") == author_id else c for c in context]
        if scrubbed != context:
            await session.execute(
                update(MessageRow).where(MessageRow.id == row_id).values(event={**extra, "context": scrubbed})
            )


async def _revisions(session: AsyncSession, keys: list[_Revision], holder: str | None = None) -> dict[_Revision, Any]:
    """Stored revisions among ``keys``: (row id, status), or with ``holder`` (row id, status, claimed by it)."""
    # Both columns lead the unique index (server_key, message_id, content_hash): an index lookup,
    # not a scan of every message ever stored.
    rows = await session.execute(
        select(
            MessageRow.id, MessageRow.server_key, MessageRow.message_id, MessageRow.content_hash, MessageRow.status,
            MessageRow.claimed_by,
        ).where(MessageRow.server_key.in_({k[0] for k in keys}), MessageRow.message_id.in_({k[1] for k in keys}))
    )
    wanted = set(keys)
    found: dict[_Revision, Any] = {}
    for row_id, server, message, digest, status, claimed_by in rows:
        if (server, message, digest) in wanted:
            found[(server, message, digest)] = (
                (row_id, MessageStatus(status)) if holder is None else (row_id, MessageStatus(status), claimed_by == holder)
            )
    return found
