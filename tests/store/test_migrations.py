"""The Alembic migrations build the schema the models describe, on a real empty SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine as create_sync_engine

from modbot.domain import Action, ActionKind, ActionOutcome, CaseStatus, ServerRef
from modbot.domain.records import LabelledText
from modbot.store import Storage
from modbot.store.database import LIBRARY_TABLES, alembic_config, create_engine, include_name, upgrade, upgrade_sync
from modbot.store.schema import Base


def test_migrations_on_an_empty_file_match_the_models(tmp_path):
    path = tmp_path / "nested" / "fresh.sqlite3"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    assert path.exists()
    engine = create_sync_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations drifted apart; write a migration: {diff}"
    tables = {r[0] for r in sqlite3.connect(path).execute("select name from sqlite_master where type='table'")}
    for table in ("servers", "policy_versions", "server_policies", "messages", "verdicts", "cases", "actions", "reviews", "audit_log"):
        assert table in tables
    assert LIBRARY_TABLES <= tables  # only tables that exist are left out of the comparison


async def test_upgrade_is_idempotent_and_uses_wal(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}"
    await upgrade(url)
    await upgrade(url)  # a second start must not fail
    engine = create_engine(url)
    async with engine.connect() as connection:
        mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
    await engine.dispose()
    assert mode == "wal"


def _old_rows(path) -> None:
    """What the old code wrote at revision 0001: Ban/Timeout buttons left 'ban'/'timeout' reviews and 'upheld' cases."""
    now = datetime.now(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO servers (key, platform, external_id, name, overrides, created_at, updated_at)"
        " VALUES ('discord:111', 'discord', '111', 'Guild A', '{}', ?, ?)",
        (now, now),
    )
    # case id: (text, stored status, reviews in the order written)
    cases = {
        1: ("overturned, then banned", "upheld", ["overturn", "ban"]),
        2: ("only timed out", "upheld", ["timeout"]),
        3: ("upheld", "upheld", ["uphold"]),
        4: ("never reviewed", "open", []),
        5: ("upheld, then overturned", "overturned", ["uphold", "overturn"]),
    }
    for case_id, (text, status, reviews) in cases.items():
        db.execute(
            "INSERT INTO messages (id, server_key, channel_id, message_id, author_id, content_hash, text, event, edited,"
            " status, attempts, received_at, updated_at) VALUES (?, 'discord:111', 'c1', ?, 'u1', ?, ?, '{}', 0, 'judged', 1, ?, ?)",
            (case_id, f"m{case_id}", f"h{case_id}", text, now, now),
        )
        db.execute(
            "INSERT INTO verdicts (id, message_row_id, server_key, policy_version, decision, stage, categories, rule_ids,"
            " confidence, rationale, reasoning, model, latency_ms, prompt_tokens, prompt_tokens_evaluated,"
            " completion_tokens, truncated, shadow, created_at)"
            " VALUES (?, ?, 'discord:111', 'sha256:v1', 'remove', 'reasoner', '[]', '[]', 0.9, 'r', '', 'm', 5.0, 0, 0, 0, 0, 0, ?)",
            (case_id, case_id, now),
        )
        db.execute(
            "INSERT INTO cases (id, server_key, verdict_id, message_row_id, author_id, status, created_at, updated_at)"
            " VALUES (?, 'discord:111', ?, ?, 'u1', ?, ?, ?)",
            (case_id, case_id, case_id, status, now, now),
        )
        for outcome in reviews:
            db.execute(
                "INSERT INTO reviews (server_key, case_id, moderator_id, outcome, note, created_at)"
                " VALUES ('discord:111', ?, 'mod', ?, '', ?)",
                (case_id, outcome, now),
            )
    db.execute(
        "INSERT INTO actions (server_key, case_id, kind, channel_id, message_id, user_id, requested_by, ok, detail,"
        " permission_problem, created_at) VALUES ('discord:111', 1, 'ban', 'c1', 'm1', 'u1', 'mod', 1, 'banned', 0, ?)",
        (now,),
    )
    db.commit()
    db.close()


async def test_0002_drops_action_reviews_and_sets_each_case_from_its_latest_real_review(tmp_path):
    path = tmp_path / "old.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url, "0001")
    _old_rows(path)
    await upgrade(url)

    server = ServerRef("discord", "111")
    storage = Storage.from_engine(create_engine(url))
    try:
        statuses = {case_id: (await storage.cases.get_case(server, case_id)).status for case_id in range(1, 6)}
        assert statuses == {
            1: CaseStatus.OVERTURNED,  # the ban after the overturn no longer flips it back
            2: CaseStatus.OPEN,  # a timeout alone is not a review
            3: CaseStatus.UPHELD,
            4: CaseStatus.OPEN,
            5: CaseStatus.OVERTURNED,
        }
        # The prefilter now relearns the overturned message as fine.
        assert await storage.cases.reviewed_examples(server) == [
            LabelledText("upheld, then overturned", False),
            LabelledText("upheld", True),
            LabelledText("overturned, then banned", False),
        ]
        stats = await storage.verdicts.stats(server, datetime.now(timezone.utc) - timedelta(days=1), 1)
        assert (stats.upheld, stats.overturned, stats.open_cases, stats.acted) == (2, 2, 2, 1)
        (ban,) = await storage.actions.actions_for_case(server, 1)
        assert ban.kind is ActionKind.BAN and ban.ok and ban.requested_by == "mod" and ban.platform_ref is None
    finally:
        await storage.close()
    with sqlite3.connect(path) as db:
        outcomes = sorted(row[0] for row in db.execute("SELECT outcome FROM reviews"))
    assert outcomes == ["overturn", "overturn", "uphold", "uphold"]


async def test_0002_stores_the_platform_ref_of_new_actions(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}"
    await upgrade(url)
    storage = Storage.from_engine(create_engine(url))
    server = ServerRef("discord", "111")
    try:
        await storage.servers.ensure_server(server)
        await storage.actions.record_action(
            Action(ActionKind.NOTIFY_MODS, server, "c-mod"), ActionOutcome(True, platform_ref="c-mod/m-1")
        )
        assert [r.platform_ref for r in await storage.actions.recent_actions(server)] == ["c-mod/m-1"]
    finally:
        await storage.close()


async def test_0006_adds_the_audit_columns_keeping_every_row_and_downgrades(tmp_path):
    from alembic import command

    from modbot.store.database import alembic_config

    path = tmp_path / "old.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url, "0001")
    _old_rows(path)
    await upgrade(url, "0005")
    await upgrade(url)  # 0006 must not copy the verdicts table (with foreign keys on, that drops cases)

    server = ServerRef("discord", "111")
    storage = Storage.from_engine(create_engine(url))
    try:
        cases = [await storage.cases.get_case(server, case_id) for case_id in range(1, 6)]
        assert all(case is not None and not case.verdict.found_by_audit for case in cases)
    finally:
        await storage.close()
    with sqlite3.connect(path) as db:
        assert {row[1] for row in db.execute("PRAGMA table_info(verdicts)")} >= {"found_by_audit", "audit_share"}
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0005")
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(verdicts)")}
        assert "found_by_audit" not in columns and "audit_share" not in columns
        assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 5


async def test_the_same_migrations_build_the_same_schema_on_postgresql(fresh_postgres_url):
    engine = create_engine(fresh_postgres_url)  # migrated to the newest revision by the fixture

    def compare(connection):
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        return compare_metadata(context, Base.metadata), context.get_current_revision()

    async with engine.connect() as connection:
        diff, revision = await connection.run_sync(compare)
    await engine.dispose()
    assert diff == [], f"models and migrations drifted apart on PostgreSQL: {diff}"
    heads = ScriptDirectory.from_config(alembic_config(fresh_postgres_url)).get_heads()
    assert [revision] == heads
    await upgrade(fresh_postgres_url)  # a second start must not fail there either
