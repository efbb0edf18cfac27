"""Pytest fixtures for tests that run on PostgreSQL too: a server, and a fresh migrated database per test.

Which server: ``MODBOT_TEST_DATABASE_URL`` (a ``postgresql+asyncpg://`` URL of a role that may create
databases) when set, else a throwaway cluster started here for the session (``tests.support.postgres``).
Without either, PostgreSQL variants skip and say why; with ``CI=true`` they fail instead, so CI never
passes without having run them.

Each test gets its own database, copied from a template migrated once per session (``CREATE DATABASE
... TEMPLATE``, ~0.1 s), and dropped afterwards: tests stay isolated without re-running migrations.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.postgres import PostgresUnavailable, start_cluster

__all__ = ["TEST_DATABASE_URL_VARIABLE", "fresh_postgres_url", "postgres_server"]

TEST_DATABASE_URL_VARIABLE = "MODBOT_TEST_DATABASE_URL"
_names = itertools.count(1)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests must run in CI, but: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


def _blocking(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion on a loop of its own (in a thread: the caller may be inside a loop)."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def _target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=_target, name="modbot-pg-admin")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0] if result else None


class PostgresServer:
    """A server the tests may create databases on, and the session's migrated template database."""

    def __init__(self, url: URL):
        self.url = url
        self.template: str | None = None
        self._failure: str | None = None

    def admin_url(self) -> str:
        return self.url.set(database=self.url.database or "postgres").render_as_string(hide_password=False)

    def database_url(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def execute(self, *statements: str) -> None:
        """Run statements on the maintenance database, outside a transaction (CREATE/DROP DATABASE)."""
        _blocking(self._execute(statements))

    async def _execute(self, statements: tuple[str, ...]) -> None:
        engine = create_async_engine(self.admin_url(), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
        finally:
            await engine.dispose()

    def ensure_template(self) -> str:
        """The migrated template database (made on first use); every test database is a copy of it."""
        if self._failure:
            _unavailable(self._failure)
        if self.template is None:
            from modbot.store.database import upgrade_sync

            name = f"modbot_template_{os.getpid()}"
            try:
                self.execute(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
            except OSError as exc:  # connection refused: the server named by the variable is not there
                self._failure = f"cannot reach {self.url.render_as_string()}: {exc}"
                _unavailable(self._failure)
            except Exception as exc:  # e.g. a role without CREATEDB: say so once, for every test
                self._failure = f"cannot create a test database on {self.url.render_as_string()}: {exc}"
                _unavailable(self._failure)
            # A migration that fails on PostgreSQL is a real failure, never a skip.
            _blocking(asyncio.to_thread(upgrade_sync, self.database_url(name)))
            self.template = name
        return self.template

    def drop_template(self) -> None:
        if self.template is not None:
            self.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The PostgreSQL server of this session (skips, or fails under CI, when there is none)."""
    configured = os.environ.get(TEST_DATABASE_URL_VARIABLE)
    if configured:
        url = make_url(configured)
        if url.get_backend_name() != "postgresql":
            _unavailable(f"{TEST_DATABASE_URL_VARIABLE} is not a postgresql URL ({url.get_backend_name()})")
        if url.get_driver_name() != "asyncpg":
            url = url.set(drivername="postgresql+asyncpg")
        server = PostgresServer(url)
        yield server
        _drop_template(server)
        return
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        _unavailable(str(exc))
        return
    try:
        yield PostgresServer(make_url(cluster.url))
    finally:
        cluster.stop()  # the whole cluster goes, databases and all


def _drop_template(server: PostgresServer) -> None:
    try:
        server.drop_template()
    except Exception:  # a shared server that went away: nothing left to clean
        pass


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new database, migrated to the newest revision, dropped after the test."""
    template = postgres_server.ensure_template()
    name = f"modbot_test_{os.getpid()}_{next(_names)}"
    postgres_server.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield postgres_server.database_url(name)
    finally:
        postgres_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
