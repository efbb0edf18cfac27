"""Bulk writes, with the SQLite fast path: one raw ``executemany`` with values converted here.

SQLAlchemy's per-row parameter processing costs 5-10x the insert itself on SQLite, and the intake and
verdict batches are the hot path of the whole bot. Other databases, and the tests of the generic
path, use plain SQLAlchemy Core statements; both paths store exactly the same rows.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import MessageStatus
from bot.store._base import Database
from bot.store.schema import MessageRow

__all__ = ["insert_many", "mark_judged"]


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


async def insert_many(db: Database, session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> list[int] | None:
    """Insert rows in one executemany; returns their ids in order when they are known for sure.

    A plain executemany is one round trip; INSERT ... RETURNING would go row by row on SQLite.
    """
    if not rows:
        return []
    if db.bulk_via_driver:
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


async def mark_judged(db: Database, session: AsyncSession, rows: list[tuple[int, str]], now: datetime) -> int:
    """Set messages (row id, owning server key) to judged; returns how many rows matched both."""
    if db.bulk_via_driver:
        connection = await session.connection()
        stamp = _sqlite_value(now)
        result = await connection.exec_driver_sql(
            "UPDATE messages SET status = ?, error = NULL, updated_at = ? WHERE id = ? AND server_key = ?",
            [(MessageStatus.JUDGED.value, stamp, row_id, server_key) for row_id, server_key in rows],
        )
        return result.rowcount
    messages = MessageRow.__table__
    result = await session.execute(
        update(messages)
        .where(messages.c.id == bindparam("row_id"), messages.c.server_key == bindparam("owner"))
        .values(status=MessageStatus.JUDGED.value, error=None, updated_at=now),
        [{"row_id": row_id, "owner": server_key} for row_id, server_key in rows],
    )
    return result.rowcount
