"""``modbot http-api ...`` through the real ``modbot`` typer app, on a migrated SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modbot_adapters.http_api.clients import ClientStore
from modbot_adapters.http_api.signing import server_secret
from modbot.app import upgrade_database

SECRET = "cli-callback-secret"


@pytest.fixture(scope="module")
def modbot():
    # ``modbot.cli.main`` the module (``modbot.cli`` re-exports a function of the same name).
    main = importlib.import_module("modbot.cli.main")
    if not any(group.name == "http-api" for group in main.app.registered_groups):
        main._register_optional_commands()
    return main.app


@pytest.fixture
def config(tmp_path: Path) -> Path:
    database = tmp_path / "m.sqlite3"
    upgrade_database(f"sqlite+aiosqlite:///{database}")
    path = tmp_path / "modbot.toml"
    path.write_text(f'database_url = "sqlite+aiosqlite:///{database}"\n[http_api]\ncallback_url = "https://ops.example/cb"\n')
    return path


def run(modbot, *args: str, secret: str | None = SECRET):
    env = {"MODBOT_HTTP_API__CALLBACK_SECRET": secret}  # None: unset
    return CliRunner().invoke(modbot, ["http-api", *args], env=env)


def _token(output: str) -> str:
    return re.search(r"^token:\s+(\S+)$", output, re.MULTILINE).group(1)  # type: ignore[union-attr]


def _find(config: Path, token: str):
    database = config.parent / "m.sqlite3"

    async def find():
        store = ClientStore(f"sqlite+aiosqlite:///{database}")
        try:
            return await store.find_token(token)
        finally:
            await store.aclose()

    return asyncio.run(find())


def test_token_create_prints_the_token_and_secret_once_and_stores_only_a_hash(modbot, config):
    result = run(modbot, "token", "create", "--server", "A", "--callback-url", "https://a.example/cb", "--label", "plugin", "--config", str(config))
    assert result.exit_code == 0, result.output
    token = _token(result.output)
    assert len(token) >= 43
    assert f"callback secret: {server_secret(SECRET, 'A')}" in result.output
    assert "will not be shown again" in result.output
    client = _find(config, token)
    assert client is not None and (client.server_id, client.callback_url, client.label) == ("A", "https://a.example/cb", "plugin")
    with sqlite3.connect(config.parent / "m.sqlite3") as db:
        rows = db.execute("SELECT token_hash FROM http_api_clients").fetchall()
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(),)]


def test_token_create_refuses_a_callback_url_that_is_not_http(modbot, config):
    for url in ("ftp://a.example/cb", "a.example/cb", "javascript:alert(1)"):
        result = run(modbot, "token", "create", "--server", "A", "--callback-url", url, "--config", str(config))
        assert result.exit_code == 2 and "http" in result.output, url


def test_token_list_and_revoke(modbot, config):
    first = _token(run(modbot, "token", "create", "--server", "A", "--config", str(config)).output)
    second = _token(run(modbot, "token", "create", "--server", "A", "--label", "spare", "--config", str(config)).output)
    run(modbot, "token", "create", "--server", "B", "--config", str(config))
    listed = run(modbot, "token", "list", "--config", str(config))
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 3 and first not in listed.output
    only_a = run(modbot, "token", "list", "--server", "A", "--config", str(config)).output.splitlines()
    assert len(only_a) == 2 and all("\tA\tactive\t" in line for line in only_a)

    one = run(modbot, "token", "revoke", "--server", "A", "--id", "2", "--config", str(config))
    assert one.exit_code == 0 and "revoked 1 token" in one.output and "30 s" in one.output
    assert _find(config, first) is not None and _find(config, second) is None
    rest = run(modbot, "token", "revoke", "--server", "A", "--config", str(config))
    assert rest.exit_code == 0 and _find(config, first) is None
    assert run(modbot, "token", "revoke", "--server", "A", "--config", str(config)).exit_code == 1
    states = run(modbot, "token", "list", "--server", "A", "--config", str(config)).output
    assert states.count("revoked") == 2
    assert "30 s" in run(modbot, "token", "revoke", "--help").output


def test_secret_prints_the_servers_callback_secret(modbot, config):
    run(modbot, "token", "create", "--server", "A", "--config", str(config))
    result = run(modbot, "secret", "--server", "A", "--config", str(config))
    assert result.exit_code == 0 and result.stdout.strip() == server_secret(SECRET, "A")
    no_token = run(modbot, "secret", "--server", "B", "--config", str(config))
    assert no_token.exit_code == 0 and "no active token" in no_token.output
    for missing in (None, ""):
        unset = run(modbot, "secret", "--server", "A", "--config", str(config), secret=missing)
        assert unset.exit_code == 1 and "CALLBACK_SECRET" in unset.output


def test_a_database_without_the_table_says_to_upgrade(modbot, tmp_path):
    path = tmp_path / "modbot.toml"
    path.write_text(f'database_url = "sqlite+aiosqlite:///{tmp_path / "empty.sqlite3"}"\n')
    result = run(modbot, "token", "list", "--config", str(path))
    assert result.exit_code == 1 and "modbot db upgrade" in result.output
    assert run(modbot, "token", "create", "--server", "x" * 65, "--config", str(path)).exit_code == 2
