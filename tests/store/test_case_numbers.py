"""Case numbers count per server (1, 2, 3...), through the bulk verdict path and the report path."""

from __future__ import annotations

import sqlite3

from modbot.domain import Decision, Stage
from modbot.domain.records import VerdictToSave
from modbot.store import Storage
from modbot.store.database import create_engine, upgrade
from tests.store.factories import A, B, message, open_case, record, verdict


async def test_each_server_numbers_its_cases_from_one(storage):
    a_ids, b_ids = [], []
    for i in range(3):
        a_ids.append(await open_case(storage.messages, storage.verdicts, message(f"a{i}", server=A)))
        b_ids.append(await open_case(storage.messages, storage.verdicts, message(f"b{i}", server=B)))
    a_cases = [await storage.cases.get_case(A, i) for i in a_ids]
    b_cases = [await storage.cases.get_case(B, i) for i in b_ids]
    assert [c.number for c in a_cases] == [1, 2, 3] and [c.number for c in b_cases] == [1, 2, 3]
    assert [c.id for c in b_cases] == [2, 4, 6]  # global ids interleave; numbers do not
    first_b = await storage.cases.get_case_by_number(B, 1)
    assert first_b.id == b_ids[0] and first_b.event.text == "b0"
    assert await storage.cases.get_case_by_number(A, 4) is None


async def test_one_batch_with_several_cases_per_server_numbers_them_in_order(storage):
    await open_case(storage.messages, storage.verdicts, message("earlier", server=A))
    events = [message(f"x{i}", server=A if i % 3 else B) for i in range(7)]
    rows = [await record(storage.messages, e) for e in events]
    saved = await storage.verdicts.save_verdicts(
        [VerdictToSave(r, e.server, verdict(), False, True) for r, e in zip(rows, events)]
    )
    numbers = [(e.server, (await storage.cases.get_case(e.server, s.case_id)).number) for e, s in zip(events, saved)]
    assert [n for s, n in numbers if s == A] == [2, 3, 4, 5]
    assert [n for s, n in numbers if s == B] == [1, 2, 3]


async def test_a_report_takes_the_next_number_of_its_server(storage):
    await open_case(storage.messages, storage.verdicts, message("judged", server=B))
    reported = verdict(Decision.REMOVE, stage=Stage.REPORT)
    saved = await storage.verdicts.save_report(message("missed", server=B), reported, shadow=False)
    assert (await storage.cases.get_case(B, saved.case_id)).number == 2
    again = await storage.verdicts.save_report(message("missed a", server=A), reported, shadow=False)
    assert (await storage.cases.get_case(A, again.case_id)).number == 1


async def test_the_migration_numbers_existing_cases_per_server_in_id_order(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    await upgrade(url, "0007")
    storage = Storage.from_engine(create_engine(url))
    try:
        for server in (A, B):
            await storage.servers.ensure_server(server)
        with sqlite3.connect(tmp_path / "old.sqlite3") as db:
            assert "number" not in {row[1] for row in db.execute("PRAGMA table_info(cases)")}
        # Written by hand: the 0007 schema has no number column for the store to fill.
        order = [A, B, A, A, B]
        async with storage._database.writing() as session:
            connection = await session.connection()
            for i, server in enumerate(order):
                await connection.exec_driver_sql(
                    "INSERT INTO messages (server_key, channel_id, message_id, author_id, content_hash, text, event,"
                    " edited, status, attempts, received_at, updated_at) VALUES (?, 'c', ?, 'u', 'h', 't', '{}', 0,"
                    " 'judged', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                    (server.key, f"m{i}"),
                )
                await connection.exec_driver_sql(
                    "INSERT INTO verdicts (message_row_id, server_key, policy_version, decision, stage, categories,"
                    " rule_ids, confidence, rationale, reasoning, model, latency_ms, prompt_tokens,"
                    " prompt_tokens_evaluated, completion_tokens, truncated, shadow, found_by_audit, created_at)"
                    " VALUES (?, ?, 'v1', 'remove', 'keyword', '[]', '[]', 1, '', '', '', 0, 0, 0, 0, 0, 0, 0,"
                    " '2026-01-01 00:00:00')",
                    (i + 1, server.key),
                )
                await connection.exec_driver_sql(
                    "INSERT INTO cases (server_key, verdict_id, message_row_id, author_id, status, created_at,"
                    " updated_at) VALUES (?, ?, ?, 'u', 'open', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                    (server.key, i + 1, i + 1),
                )
            await session.commit()
    finally:
        await storage.close()
    await upgrade(url)
    with sqlite3.connect(tmp_path / "old.sqlite3") as db:
        rows = db.execute("SELECT id, server_key, number FROM cases ORDER BY id").fetchall()
    assert rows == [(1, A.key, 1), (2, B.key, 1), (3, A.key, 2), (4, A.key, 3), (5, B.key, 2)]
    storage = Storage.from_engine(create_engine(url))
    try:
        new = await open_case(storage.messages, storage.verdicts, message("after", server=B))
        assert (await storage.cases.get_case(B, new)).number == 3
    finally:
        await storage.close()
