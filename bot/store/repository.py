"""The verdict store: every message, verdict, case, action, review and moderator command.

All queries that read cases, messages or policies take the ``ServerRef`` they act for and filter by
it, so one server can never read another's data through this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.domain import (
    Action,
    ActionOutcome,
    Attachment,
    Case,
    ContextMessage,
    Decision,
    MessageEvent,
    ServerRef,
    Stage,
    TokenCounts,
    Verdict,
    utcnow,
)
from bot.domain.policy import Policy, parse_policy
from bot.domain.settings import ServerOverrides
from bot.store.schema import (
    ActionRow,
    AuditRow,
    CaseRow,
    InstallationRow,
    MessageRow,
    NoticeRow,
    PolicyVersionRow,
    ReviewRow,
    ServerPolicyRow,
    ServerRow,
    VerdictRow,
)

__all__ = [
    "MessageStatus",
    "InstallationRecord",
    "PolicyRecord",
    "RecordedMessage",
    "ServerStats",
    "Store",
    "VerdictToSave",
]

ERASED = "[erased on request]"


class MessageStatus:
    PENDING = "pending"
    JUDGED = "judged"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """The result of recording a message: its row id, and whether it was new."""

    row_id: int
    created: bool
    status: str


@dataclass(frozen=True, slots=True)
class VerdictToSave:
    """One verdict for ``Store.save_verdicts``."""

    row_id: int
    server: ServerRef
    verdict: Verdict
    shadow: bool
    open_case: bool


def _verdict_values(item: VerdictToSave, now: datetime) -> dict[str, Any]:
    verdict = item.verdict
    return {
        "message_row_id": item.row_id,
        "server_key": item.server.key,
        "policy_version": verdict.policy_version,
        "decision": verdict.decision.value,
        "stage": verdict.stage.value,
        "categories": list(verdict.categories),
        "rule_ids": list(verdict.rule_ids),
        "confidence": verdict.confidence,
        "score": verdict.score,
        "rationale": verdict.rationale,
        "reasoning": verdict.reasoning,
        "model": verdict.model,
        "latency_ms": verdict.latency_ms,
        "prompt_tokens": verdict.tokens.prompt,
        "prompt_tokens_evaluated": verdict.tokens.prompt_evaluated,
        "completion_tokens": verdict.tokens.completion,
        "truncated": verdict.truncated,
        "error": verdict.error,
        "raw_output": verdict.raw_output,
        "shadow": item.shadow,
        "created_at": now,
    }


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """A stored policy version as visible to one server."""

    row_id: int
    policy_id: str
    title: str
    version: str
    builtin: bool
    created_at: datetime
    active: bool = False


@dataclass(frozen=True, slots=True)
class InstallationRecord:
    """A stored platform installation; ``data`` holds the platform's own fields (tokens included)."""

    platform: str
    enterprise_id: str | None
    team_id: str | None
    user_id: str | None
    data: dict[str, Any]
    installed_at: datetime


@dataclass(frozen=True, slots=True)
class ServerStats:
    """Moderation figures of one server over a period."""

    days: int
    messages_seen: int
    escalated: int
    acted: int
    overturned: int
    upheld: int
    open_cases: int
    median_latency_ms: float | None
    decisions: dict[str, int]


def _event_extra(event: MessageEvent) -> dict[str, Any]:
    return {
        "timestamp": event.timestamp.isoformat(),
        "author_role_ids": list(event.author_role_ids),
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "url": a.url}
            for a in event.attachments
        ],
        "reply_to_id": event.reply_to_id,
        "context": [{"author_id": c.author_id, "text": c.text} for c in event.context],
    }


def _event_from_row(row: MessageRow) -> MessageEvent:
    extra = row.event or {}
    timestamp = extra.get("timestamp")
    return MessageEvent(
        server=ServerRef.parse(row.server_key),
        channel_id=row.channel_id,
        message_id=row.message_id,
        author_id=row.author_id,
        text=row.text,
        timestamp=datetime.fromisoformat(timestamp) if timestamp else row.received_at,
        thread_id=row.thread_id,
        author_role_ids=tuple(extra.get("author_role_ids", ())),
        attachments=tuple(Attachment(**a) for a in extra.get("attachments", ())),
        reply_to_id=extra.get("reply_to_id"),
        context=tuple(ContextMessage(**c) for c in extra.get("context", ())),
        edited=row.edited,
    )


def _verdict_from_row(row: VerdictRow) -> Verdict:
    return Verdict(
        decision=Decision(row.decision),
        stage=Stage(row.stage),
        policy_version=row.policy_version,
        categories=tuple(row.categories or ()),
        rule_ids=tuple(row.rule_ids or ()),
        confidence=row.confidence,
        rationale=row.rationale,
        reasoning=row.reasoning,
        model=row.model,
        latency_ms=row.latency_ms,
        tokens=TokenCounts(row.prompt_tokens, row.prompt_tokens_evaluated, row.completion_tokens),
        truncated=row.truncated,
        error=row.error,
        raw_output=row.raw_output,
        score=row.score,
    )


def _sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy would bind it for SQLite (JSON text, naive UTC datetime text, 0/1)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _sqlite_rows(columns: list[str], rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as driver tuples, converting only the columns whose values need it (JSON, datetimes, bools)."""
    convert = [
        i
        for i, column in enumerate(columns)
        if isinstance(next((row[column] for row in rows if row[column] is not None), None), (datetime, dict, list, bool))
    ]
    if not convert:
        return [tuple(row[column] for column in columns) for row in rows]
    stamps: dict[datetime, str] = {}  # a batch shares a handful of timestamps
    converted = []
    for row in rows:
        values = [row[column] for column in columns]
        for i in convert:
            value = values[i]
            if isinstance(value, datetime):
                text = stamps.get(value)
                if text is None:
                    text = stamps[value] = _sqlite_value(value)
                values[i] = text
            else:
                values[i] = _sqlite_value(value)
        converted.append(tuple(values))
    return converted


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes even for timezone-aware columns; they were written as UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Store:
    """Async repository over the SQLAlchemy engine. One instance per process, owned by the app."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # SQLite allows one writer at a time; concurrent writers on separate connections spin in
        # SQLite's busy handler (sleeping up to 100 ms a try). Queueing writers here is much faster.
        self._write_lock: asyncio.Lock | contextlib.nullcontext = (
            asyncio.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    #: Bulk writes on SQLite go straight to the driver (one executemany, values converted here):
    #: SQLAlchemy's per-row parameter processing costs 5-10x the insert itself. Other databases, and
    #: tests of the generic path, use SQLAlchemy Core statements.
    sqlite_fast_path = True

    async def _insert_many(self, session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> list[int] | None:
        """Insert rows in one executemany; returns their ids in order when they are known for sure."""
        if not rows:
            return []
        if self.sqlite_fast_path and self.engine.dialect.name == "sqlite":
            columns = list(rows[0])
            sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            connection = await session.connection()
            last_id = f"SELECT max(id) FROM {table.name}"
            before = (await connection.exec_driver_sql(last_id)).scalar() or 0
            await connection.exec_driver_sql(sql, _sqlite_rows(columns, rows))
            after = (await connection.exec_driver_sql(last_id)).scalar() or 0
            # Inside one write transaction SQLite numbers new rows max(id)+1, +2, ... in order; the
            # check guards the assumption, and the caller looks the ids up when it does not hold.
            return list(range(before + 1, after + 1)) if after - before == len(rows) else None
        await session.execute(insert(table), rows)
        return None

    async def _mark_judged(self, session: AsyncSession, rows: list[tuple[int, str]], now: datetime) -> int:
        """Set messages (row id, owning server) to judged; returns how many rows matched both."""
        if self.sqlite_fast_path and self.engine.dialect.name == "sqlite":
            connection = await session.connection()
            stamp = _sqlite_value(now)
            result = await connection.exec_driver_sql(
                "UPDATE messages SET status = ?, error = NULL, updated_at = ? WHERE id = ? AND server_key = ?",
                [(MessageStatus.JUDGED, stamp, row_id, server_key) for row_id, server_key in rows],
            )
            return result.rowcount
        messages = MessageRow.__table__
        result = await session.execute(
            update(messages)
            .where(messages.c.id == bindparam("row_id"), messages.c.server_key == bindparam("owner"))
            .values(status=MessageStatus.JUDGED, error=None, updated_at=now),
            [{"row_id": row_id, "owner": server_key} for row_id, server_key in rows],
        )
        return result.rowcount

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session for a write transaction (serialised on SQLite); the caller commits."""
        async with self._write_lock:
            async with self._sessions() as session:
                yield session

    async def close(self) -> None:
        await self.engine.dispose()

    def session(self) -> AsyncSession:
        return self._sessions()

    # -- servers and settings -------------------------------------------------------------------

    async def ensure_server(self, server: ServerRef, name: str = "") -> bool:
        """Register a server if it is new; returns True when it was created."""
        async with self.writing() as session:
            row = await session.get(ServerRow, server.key)
            if row is not None:
                if name and row.name != name:
                    row.name = name
                    await session.commit()
                return False
            session.add(ServerRow(key=server.key, platform=server.platform, external_id=server.id, name=name, overrides={}))
            try:
                await session.commit()
            except IntegrityError:  # registered concurrently by another task
                return False
            return True

    async def server_exists(self, server: ServerRef) -> bool:
        async with self.session() as session:
            return await session.get(ServerRow, server.key) is not None

    async def get_overrides(self, server: ServerRef) -> ServerOverrides:
        async with self.session() as session:
            row = await session.get(ServerRow, server.key)
            return ServerOverrides.model_validate(row.overrides or {}) if row else ServerOverrides()

    async def set_overrides(self, server: ServerRef, overrides: ServerOverrides) -> None:
        await self.ensure_server(server)
        async with self.writing() as session:
            await session.execute(
                update(ServerRow)
                .where(ServerRow.key == server.key)
                .values(overrides=overrides.model_dump(mode="json", exclude_none=True), updated_at=utcnow())
            )
            await session.commit()

    # -- policies ------------------------------------------------------------------------------

    async def add_policy(self, policy: Policy, server: ServerRef | None = None, uploaded_by: str | None = None) -> int:
        """Store a policy version (idempotent per server and version); returns its row id."""
        owner = server.key if server else None
        async with self.writing() as session:
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
        await self.ensure_server(server)
        async with self.writing() as session:
            session.add(ServerPolicyRow(server_key=server.key, policy_version_id=policy_row_id, activated_by=by))
            await session.commit()

    def _visible(self, server: ServerRef):
        return or_(PolicyVersionRow.server_key.is_(None), PolicyVersionRow.server_key == server.key)

    async def active_policy(self, server: ServerRef) -> Policy | None:
        """The policy version the server chose last, or None (then the configured default applies)."""
        async with self.session() as session:
            row = await session.scalar(
                select(PolicyVersionRow)
                .join(ServerPolicyRow, ServerPolicyRow.policy_version_id == PolicyVersionRow.id)
                .where(ServerPolicyRow.server_key == server.key, self._visible(server))
                .order_by(ServerPolicyRow.id.desc())
                .limit(1)
            )
            return parse_policy(row.text, source=f"db:{row.policy_id}@{row.version}") if row else None

    async def find_policy(self, server: ServerRef, ref: str) -> tuple[int, Policy] | None:
        """A policy visible to ``server`` by id (newest version) or by version hash (or its prefix)."""
        async with self.session() as session:
            query = (
                select(PolicyVersionRow)
                .where(self._visible(server))
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
            row = await session.scalar(query)
            if row is None:
                return None
            return row.id, parse_policy(row.text, source=f"db:{row.policy_id}@{row.version}")

    async def list_policies(self, server: ServerRef) -> list[PolicyRecord]:
        async with self.session() as session:
            active_id = await session.scalar(
                select(ServerPolicyRow.policy_version_id)
                .where(ServerPolicyRow.server_key == server.key)
                .order_by(ServerPolicyRow.id.desc())
                .limit(1)
            )
            rows = (
                await session.scalars(
                    select(PolicyVersionRow).where(self._visible(server)).order_by(PolicyVersionRow.id)
                )
            ).all()
            return [
                PolicyRecord(r.id, r.policy_id, r.title, r.version, r.server_key is None, r.created_at, r.id == active_id)
                for r in rows
            ]

    # -- messages ------------------------------------------------------------------------------

    async def record_message(self, event: MessageEvent) -> RecordedMessage:
        """Write a message revision as ``pending`` (before it is judged). The same revision twice is one row."""
        return (await self.record_messages([event]))[0]

    async def record_messages(self, events: list[MessageEvent]) -> list[RecordedMessage]:
        """Record several message revisions in one transaction (group commit); results in input order."""
        if not events:
            return []
        keys = [(e.server.key, e.message_id, e.content_hash) for e in events]
        now = utcnow()
        async with self.writing() as session:
            known = await self._revisions(session, keys)
            fresh: dict[tuple[str, str, str], dict[str, Any]] = {}
            for event, key in zip(events, keys):
                if key not in known and key not in fresh:
                    fresh[key] = {
                        "server_key": key[0],
                        "channel_id": event.channel_id,
                        "thread_id": event.thread_id,
                        "message_id": event.message_id,
                        "author_id": event.author_id,
                        "content_hash": key[2],
                        "text": event.text,
                        "event": _event_extra(event),
                        "edited": event.edited,
                        "status": MessageStatus.PENDING,
                        "attempts": 0,
                        "received_at": now,
                        "updated_at": now,
                    }
            created: dict[tuple[str, str, str], int] = {}
            if fresh:
                # A plain executemany is one round trip; INSERT ... RETURNING would go row by row on SQLite.
                ids = await self._insert_many(session, MessageRow.__table__, list(fresh.values()))
                if ids is not None:
                    created = dict(zip(fresh, ids))
                else:
                    created = {key: row[0] for key, row in (await self._revisions(session, list(fresh))).items()}
            await session.commit()
        results = []
        first_seen: set[tuple[str, str, str]] = set()
        for key in keys:
            if key in created and key not in first_seen:
                first_seen.add(key)
                results.append(RecordedMessage(created[key], True, MessageStatus.PENDING))
            elif key in created:
                results.append(RecordedMessage(created[key], False, MessageStatus.PENDING))
            else:
                row_id, status = known[key]
                results.append(RecordedMessage(row_id, False, status))
        return results

    @staticmethod
    async def _revisions(
        session: AsyncSession, keys: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], tuple[int, str]]:
        # Both columns lead the unique index (server_key, message_id, content_hash): an index lookup,
        # not a scan of every message ever stored.
        rows = await session.execute(
            select(MessageRow.id, MessageRow.server_key, MessageRow.message_id, MessageRow.content_hash, MessageRow.status)
            .where(MessageRow.server_key.in_({k[0] for k in keys}), MessageRow.message_id.in_({k[1] for k in keys}))
        )
        wanted = set(keys)
        return {
            (server, message, digest): (row_id, status)
            for row_id, server, message, digest, status in rows
            if (server, message, digest) in wanted
        }

    async def load_message(self, row_id: int) -> tuple[MessageEvent, str] | None:
        async with self.session() as session:
            row = await session.get(MessageRow, row_id)
            return (_event_from_row(row), row.status) if row else None

    async def pending_message_ids(
        self, limit: int, exclude: set[int] | frozenset[int] = frozenset(), *, min_age_s: float = 0.0
    ) -> list[int]:
        """Oldest pending messages first; ``min_age_s`` skips those recorded in the last seconds."""
        async with self.session() as session:
            query = select(MessageRow.id).where(MessageRow.status == MessageStatus.PENDING)
            if min_age_s > 0:
                query = query.where(MessageRow.received_at <= utcnow() - timedelta(seconds=min_age_s))
            query = query.order_by(MessageRow.id)
            ids = (await session.scalars(query.limit(limit + len(exclude)))).all()
            return [i for i in ids if i not in exclude][:limit]

    async def count_messages(self, status: str | None = None) -> int:
        async with self.session() as session:
            query = select(func.count(MessageRow.id))
            if status:
                query = query.where(MessageRow.status == status)
            return int(await session.scalar(query) or 0)

    async def set_message_status(self, row_id: int, status: str, error: str | None = None) -> None:
        async with self.writing() as session:
            await session.execute(
                update(MessageRow)
                .where(MessageRow.id == row_id)
                .values(status=status, error=error, updated_at=utcnow(), attempts=MessageRow.attempts + 1)
            )
            await session.commit()

    async def has_verdict(self, row_id: int, policy_version: str) -> bool:
        async with self.session() as session:
            found = await session.scalar(
                select(VerdictRow.id).where(
                    VerdictRow.message_row_id == row_id, VerdictRow.policy_version == policy_version
                ).limit(1)
            )
            return found is not None

    # -- verdicts and cases --------------------------------------------------------------------

    async def save_verdict(
        self, row_id: int, server: ServerRef, verdict: Verdict, *, shadow: bool, open_case: bool
    ) -> tuple[int | None, int | None]:
        """Store a verdict, mark the message judged and open a case, in one transaction."""
        return (await self.save_verdicts([VerdictToSave(row_id, server, verdict, shadow, open_case)]))[0]

    async def save_verdicts(self, items: list[VerdictToSave]) -> list[tuple[int | None, int | None]]:
        """Store verdicts, mark their messages judged and open cases, in one transaction; input order.

        Returns (verdict id, case id) per item; the verdict id is only looked up where a case was opened.
        """
        if not items:
            return []
        async with self.writing() as session:
            now = utcnow()
            if await self._mark_judged(session, [(i.row_id, i.server.key) for i in items], now) != len(items):
                raise LookupError("a verdict names a message row that does not exist or belongs to another server")
            verdict_ids = await self._insert_many(session, VerdictRow.__table__, [_verdict_values(i, now) for i in items])
            case_items = [i for i in items if i.open_case]
            case_ids: dict[int, int] = {}
            by_item: dict[int, int] = {}
            if case_items:
                if verdict_ids is None:
                    stored = {
                        (row_id, version, stage): verdict_id
                        for verdict_id, row_id, version, stage in await session.execute(
                            select(VerdictRow.id, VerdictRow.message_row_id, VerdictRow.policy_version, VerdictRow.stage)
                            .where(VerdictRow.message_row_id.in_({i.row_id for i in case_items}))
                        )
                    }
                    by_item = {
                        id(i): stored[(i.row_id, i.verdict.policy_version, i.verdict.stage.value)] for i in case_items
                    }
                else:
                    by_item = {id(i): vid for i, vid in zip(items, verdict_ids) if i.open_case}
                authors = dict(
                    (
                        await session.execute(
                            select(MessageRow.id, MessageRow.author_id).where(
                                MessageRow.id.in_({i.row_id for i in case_items})
                            )
                        )
                    ).all()
                )
                await self._insert_many(
                    session,
                    CaseRow.__table__,
                    [
                        {
                            "server_key": i.server.key,
                            "verdict_id": by_item[id(i)],
                            "message_row_id": i.row_id,
                            "author_id": authors[i.row_id],
                            "status": "open",
                            "posted_ref": None,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in case_items
                    ],
                )
                case_ids = dict(
                    (
                        await session.execute(
                            select(CaseRow.verdict_id, CaseRow.id).where(CaseRow.verdict_id.in_(list(by_item.values())))
                        )
                    ).all()
                )
            await session.commit()
        results: list[tuple[int | None, int | None]] = []
        for index, item in enumerate(items):
            verdict_id = verdict_ids[index] if verdict_ids is not None else by_item.get(id(item))
            results.append((verdict_id, case_ids.get(by_item[id(item)]) if item.open_case else None))
        return results

    async def get_case(self, server: ServerRef, case_id: int) -> Case | None:
        async with self.session() as session:
            found = (
                await session.execute(
                    select(CaseRow, VerdictRow, MessageRow)
                    .join(VerdictRow, VerdictRow.id == CaseRow.verdict_id)
                    .join(MessageRow, MessageRow.id == CaseRow.message_row_id)
                    .where(CaseRow.id == case_id, CaseRow.server_key == server.key)
                )
            ).first()
            if found is None:
                return None
            case, verdict, message = found
            return Case(
                id=case.id,
                event=_event_from_row(message),
                verdict=_verdict_from_row(verdict),
                status=case.status,
                created_at=_aware(case.created_at),
                posted_ref=case.posted_ref,
            )

    async def list_cases(
        self, server: ServerRef, *, status: str | None = "open", author_id: str | None = None, page: int = 1, per_page: int = 10
    ) -> tuple[list[Case], int]:
        """A page of the server's cases (newest first) and the total count."""
        conditions = [CaseRow.server_key == server.key]
        if status:
            conditions.append(CaseRow.status == status)
        if author_id:
            conditions.append(CaseRow.author_id == author_id)
        async with self.session() as session:
            total = int(await session.scalar(select(func.count(CaseRow.id)).where(*conditions)) or 0)
            rows = (
                await session.execute(
                    select(CaseRow, VerdictRow, MessageRow)
                    .join(VerdictRow, VerdictRow.id == CaseRow.verdict_id)
                    .join(MessageRow, MessageRow.id == CaseRow.message_row_id)
                    .where(*conditions)
                    .order_by(CaseRow.id.desc())
                    .offset(max(page - 1, 0) * per_page)
                    .limit(per_page)
                )
            ).all()
            cases = [
                Case(c.id, _event_from_row(m), _verdict_from_row(v), c.status, _aware(c.created_at), c.posted_ref)
                for c, v, m in rows
            ]
            return cases, total

    async def set_case_status(self, server: ServerRef, case_id: int, status: str) -> bool:
        async with self.writing() as session:
            result = await session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id, CaseRow.server_key == server.key)
                .values(status=status, updated_at=utcnow())
            )
            await session.commit()
            return result.rowcount > 0

    async def set_case_posted_ref(self, server: ServerRef, case_id: int, ref: str) -> None:
        async with self.writing() as session:
            await session.execute(
                update(CaseRow).where(CaseRow.id == case_id, CaseRow.server_key == server.key).values(posted_ref=ref)
            )
            await session.commit()

    async def add_review(self, server: ServerRef, case_id: int, moderator_id: str, outcome: str, note: str = "") -> int:
        async with self.writing() as session:
            row = ReviewRow(server_key=server.key, case_id=case_id, moderator_id=moderator_id, outcome=outcome, note=note)
            session.add(row)
            await session.commit()
            return row.id

    async def reviewed_examples(self, server: ServerRef, limit: int = 500) -> list[tuple[str, bool]]:
        """(text, violation) pairs that moderators confirmed (upheld) or overturned; feeds the prefilter."""
        async with self.session() as session:
            rows = (
                await session.execute(
                    select(MessageRow.text, CaseRow.status)
                    .join(CaseRow, CaseRow.message_row_id == MessageRow.id)
                    .where(CaseRow.server_key == server.key, CaseRow.status.in_(("upheld", "overturned")))
                    .where(MessageRow.text != ERASED)
                    .order_by(CaseRow.id.desc())
                    .limit(limit)
                )
            ).all()
            return [(text, status == "upheld") for text, status in rows]

    async def reviewed_examples_by_server(self, limit_per_server: int = 500) -> dict[str, list[tuple[str, bool]]]:
        """Every server's reviewed examples, oldest first (replayed into the prefilter at start-up)."""
        async with self.session() as session:
            keys = (await session.scalars(select(CaseRow.server_key).where(CaseRow.status.in_(("upheld", "overturned"))).distinct())).all()
        result = {}
        for key in keys:
            examples = await self.reviewed_examples(ServerRef.parse(key), limit_per_server)
            result[key] = list(reversed(examples))
        return result

    # -- actions, notices, audit ---------------------------------------------------------------

    async def record_action(
        self, action: Action, outcome: ActionOutcome, *, requested_by: str | None = None
    ) -> int:
        async with self.writing() as session:
            row = ActionRow(
                server_key=action.server.key,
                case_id=action.case.id if action.case else None,
                kind=action.kind.value,
                channel_id=action.channel_id,
                message_id=action.message_id,
                user_id=action.user_id,
                duration_s=action.duration_s,
                requested_by=requested_by,
                ok=outcome.ok,
                detail=outcome.detail[:2000],
                permission_problem=outcome.permission_problem,
            )
            session.add(row)
            await session.commit()
            return row.id

    async def actions_for_case(self, server: ServerRef, case_id: int) -> list[ActionRow]:
        async with self.session() as session:
            return list(
                (
                    await session.scalars(
                        select(ActionRow)
                        .where(ActionRow.server_key == server.key, ActionRow.case_id == case_id)
                        .order_by(ActionRow.id)
                    )
                ).all()
            )

    async def note_once(self, server: ServerRef, kind: str, detail: str = "") -> bool:
        """Remember a one-time notice; True the first time for this server and kind, False afterwards."""
        async with self.writing() as session:
            session.add(NoticeRow(server_key=server.key, kind=kind, detail=detail))
            try:
                await session.commit()
            except IntegrityError:
                return False
            return True

    async def audit(
        self, server: ServerRef, actor_id: str, command: str, arguments: dict[str, Any], *, allowed: bool, result: str
    ) -> None:
        async with self.writing() as session:
            session.add(
                AuditRow(
                    server_key=server.key,
                    actor_id=actor_id,
                    command=command,
                    arguments=arguments,
                    allowed=allowed,
                    result=result[:2000],
                )
            )
            await session.commit()

    async def audit_entries(self, server: ServerRef, limit: int = 50) -> list[AuditRow]:
        async with self.session() as session:
            return list(
                (
                    await session.scalars(
                        select(AuditRow).where(AuditRow.server_key == server.key).order_by(AuditRow.id.desc()).limit(limit)
                    )
                ).all()
            )

    # -- stats and erasure ---------------------------------------------------------------------

    async def stats(self, server: ServerRef, since: datetime, days: int) -> ServerStats:
        key = server.key
        async with self.session() as session:
            seen = int(
                await session.scalar(
                    select(func.count(MessageRow.id)).where(MessageRow.server_key == key, MessageRow.received_at >= since)
                )
                or 0
            )
            decisions = dict(
                (
                    await session.execute(
                        select(VerdictRow.decision, func.count(VerdictRow.id))
                        .where(VerdictRow.server_key == key, VerdictRow.created_at >= since)
                        .group_by(VerdictRow.decision)
                    )
                ).all()
            )
            escalated = int(
                await session.scalar(
                    select(func.count(VerdictRow.id)).where(
                        VerdictRow.server_key == key,
                        VerdictRow.created_at >= since,
                        or_(VerdictRow.stage == Stage.REASONER.value, VerdictRow.decision == Decision.ESCALATE.value),
                    )
                )
                or 0
            )
            acted = int(
                await session.scalar(
                    select(func.count(func.distinct(ActionRow.case_id))).where(
                        ActionRow.server_key == key,
                        ActionRow.created_at >= since,
                        ActionRow.ok.is_(True),
                        ActionRow.kind.in_(("delete", "timeout", "ban")),
                    )
                )
                or 0
            )
            reviews = dict(
                (
                    await session.execute(
                        select(ReviewRow.outcome, func.count(ReviewRow.id))
                        .where(ReviewRow.server_key == key, ReviewRow.created_at >= since)
                        .group_by(ReviewRow.outcome)
                    )
                ).all()
            )
            open_cases = int(
                await session.scalar(
                    select(func.count(CaseRow.id)).where(CaseRow.server_key == key, CaseRow.status == "open")
                )
                or 0
            )
            latencies = (
                await session.scalars(
                    select(VerdictRow.latency_ms).where(VerdictRow.server_key == key, VerdictRow.created_at >= since)
                )
            ).all()
        return ServerStats(
            days=days,
            messages_seen=seen,
            escalated=escalated,
            acted=acted,
            overturned=int(reviews.get("overturn", 0)),
            upheld=int(reviews.get("uphold", 0)),
            open_cases=open_cases,
            median_latency_ms=statistics.median(latencies) if latencies else None,
            decisions={str(k): int(v) for k, v in decisions.items()},
        )

    async def forget_member(self, server: ServerRef, author_id: str) -> int:
        """Erase a member's stored content in this server (texts, context, reasoning); returns messages erased.

        Verdict decisions, rule ids and case status stay, so statistics and the audit trail remain true.
        """
        async with self.writing() as session:
            ids = (
                await session.scalars(
                    select(MessageRow.id).where(MessageRow.server_key == server.key, MessageRow.author_id == author_id)
                )
            ).all()
            if not ids:
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

    async def delete_server_data(self, server: ServerRef) -> None:
        """Remove everything stored for a server (used when the bot is removed from it, if configured)."""
        async with self.writing() as session:
            for table in (ActionRow, ReviewRow, AuditRow, NoticeRow, CaseRow, VerdictRow, MessageRow, ServerPolicyRow):
                await session.execute(delete(table).where(table.server_key == server.key))
            await session.execute(delete(PolicyVersionRow).where(PolicyVersionRow.server_key == server.key))
            await session.execute(delete(ServerRow).where(ServerRow.key == server.key))
            await session.commit()

    # -- platform installations (Slack OAuth) -----------------------------------------------

    async def save_installation(
        self, platform: str, enterprise_id: str | None, team_id: str | None, user_id: str | None, data: dict[str, Any]
    ) -> None:
        async with self.writing() as session:
            session.add(
                InstallationRow(platform=platform, enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, data=data)
            )
            await session.commit()

    async def find_installation(
        self, platform: str, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> InstallationRecord | None:
        """The newest installation for a workspace (and user, when given)."""
        conditions = [
            InstallationRow.platform == platform,
            InstallationRow.enterprise_id.is_(None) if enterprise_id is None else InstallationRow.enterprise_id == enterprise_id,
            InstallationRow.team_id.is_(None) if team_id is None else InstallationRow.team_id == team_id,
        ]
        if user_id is not None:
            conditions.append(InstallationRow.user_id == user_id)
        async with self.session() as session:
            row = await session.scalar(select(InstallationRow).where(*conditions).order_by(InstallationRow.id.desc()).limit(1))
            if row is None:
                return None
            return InstallationRecord(row.platform, row.enterprise_id, row.team_id, row.user_id, dict(row.data), _aware(row.installed_at))

    async def delete_installations(self, platform: str, enterprise_id: str | None, team_id: str | None) -> int:
        async with self.writing() as session:
            result = await session.execute(
                delete(InstallationRow).where(
                    InstallationRow.platform == platform,
                    InstallationRow.enterprise_id.is_(None) if enterprise_id is None else InstallationRow.enterprise_id == enterprise_id,
                    InstallationRow.team_id.is_(None) if team_id is None else InstallationRow.team_id == team_id,
                )
            )
            await session.commit()
            return result.rowcount
