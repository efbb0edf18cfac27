"""``modbot doctor``: real SQLite databases at an old and the newest migration, the loopback fakes of
Discord's and Slack's APIs, a fake ``nvidia-smi`` on disk (the edge: a program), and the real CLI."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from modbot.cli.doctor import render, run_doctor
from modbot.cli.doctor_checks import Finding, check_database, check_gpu, check_model, check_policies, query_gpus
from modbot.cli.doctor_platforms import Endpoints, check_discord, check_reasoner_server, check_slack
from modbot.config import DiscordSettings, SlackSettings
from modbot.package_data import migrations_dir, shipped_policies_dir
from modbot.stages.reasoner.config import ReasonerSettings
from modbot.store.database import upgrade_sync
from tests.adapters.discord import payloads as p
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.slack.slack_mock import MockSlack
from tests.conftest import TEST_POLICY, make_settings

MODBOT = Path(sys.executable).with_name("modbot")
DISCORD_TOKEN = "discord-token-that-must-never-be-printed"
SLACK_TOKEN = "xoxb-slack-token-that-must-never-be-printed"
EVERY_PERMISSION = str(1374389627908)  # the invite URL's permissions (README, "Discord")


def _lines(findings: list[Finding]) -> list[str]:
    out: list[str] = []
    render(findings, out.append)
    return out


def _db(tmp_path: Path, revision: str) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'modbot.sqlite3'}"
    upgrade_sync(url, revision)
    return url


def test_database_at_the_newest_migration_is_ok(tmp_path: Path) -> None:
    finding = check_database(_db(tmp_path, "head"), migrations_dir())
    assert finding.status == "ok" and "newest migration" in finding.detail


def test_database_at_an_old_migration_says_to_upgrade(tmp_path: Path) -> None:
    finding = check_database(_db(tmp_path, "0005"), migrations_dir())
    assert finding.status == "fail" and "schema at 0005" in finding.detail
    assert finding.fix is not None and "modbot db upgrade" in finding.fix


def test_missing_sqlite_file_is_not_created_by_the_check(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'absent.sqlite3'}"
    finding = check_database(url, migrations_dir())
    assert finding.status == "fail" and "no database file" in finding.detail
    assert not (tmp_path / "absent.sqlite3").exists()


def test_unreachable_database_hides_the_password(tmp_path: Path) -> None:
    # A PostgreSQL URL on a closed loopback port: the driver's error comes back, the password does not.
    finding = check_database("postgresql+asyncpg://modbot:hunter2secret@127.0.0.1:1/modbot", migrations_dir())
    assert finding.status == "fail" and "hunter2secret" not in finding.detail and "cannot connect" in finding.detail


def _fake_nvidia_smi(tmp_path: Path, output: str) -> str:
    program = tmp_path / "nvidia-smi"
    program.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n", encoding="utf-8")
    program.chmod(0o755)
    return str(program)


def test_gpu_memory_is_read_and_compared_with_the_model(tmp_path: Path) -> None:
    gpus = query_gpus(_fake_nvidia_smi(tmp_path, "NVIDIA GeForce RTX 4060 Ti, 16380, 380"))
    assert gpus is not None and gpus[0].name == "NVIDIA GeForce RTX 4060 Ti" and gpus[0].memory_total_mib == 16380
    model = tmp_path / "model.gguf"
    model.write_bytes(b"x")
    fits = check_gpu(gpus, ReasonerSettings(model_path=model))
    assert [f.status for f in fits] == ["ok"] and "15.6 GiB free" in fits[0].detail
    with model.open("wb") as fh:  # a sparse 16 GiB file: more than the GPU has free
        fh.truncate(16 << 30)
    too_big = check_gpu(gpus, ReasonerSettings(model_path=model))
    assert too_big[0].status == "warn" and "n_gpu_layers" in (too_big[0].fix or "")


def test_no_nvidia_smi_is_a_warning_only_when_the_gpu_is_wanted() -> None:
    assert check_gpu(None, ReasonerSettings())[0].status == "warn"
    assert check_gpu(None, ReasonerSettings(backend="none"))[0].status == "info"


def test_model_hash_is_checked_against_the_recorded_one(tmp_path: Path) -> None:
    model = tmp_path / "known.gguf"
    model.write_bytes(b"GGUF tiny")
    good = hashlib.sha256(b"GGUF tiny").hexdigest()
    reasoner = ReasonerSettings(model_path=model)
    assert check_model(reasoner, {"known.gguf": good}).detail.endswith("sha256 verified")
    bad = check_model(reasoner, {"known.gguf": "0" * 64})
    assert bad.status == "fail" and "modbot model pull" in (bad.fix or "")
    assert "not checked" in check_model(reasoner, {}).detail
    missing = check_model(ReasonerSettings(model_path=tmp_path / "absent.gguf"), {})
    assert missing.status == "fail"


async def test_discord_token_intent_and_permissions_per_server(tmp_path: Path) -> None:
    fake = await FakeDiscord().start()
    try:
        fake.member_of = [
            {"id": p.GUILD_ID, "name": "Full", "permissions": EVERY_PERMISSION},
            {"id": "1200000000000000002", "name": "Admin", "permissions": str(1 << 3)},
            {"id": "1200000000000000003", "name": "Partial", "permissions": str(1374389627908 & ~(1 << 40) & ~(1 << 2))},
        ]
        settings = make_settings(tmp_path, discord=DiscordSettings(token=SecretStr(DISCORD_TOKEN)))
        findings = await asyncio.to_thread(check_discord, settings, Endpoints(discord_api=fake.api_base))
        lines = _lines(findings)
        text = "\n".join(lines)
        assert "token accepted: modbot" in text and "Message Content intent is on" in text
        assert "in 3 server(s); 2 with every permission" in text
        (partial,) = [line for line in lines if "Partial" in line]
        assert partial.startswith("FAIL") and "Moderate Members, Ban Members" in partial
        assert DISCORD_TOKEN not in text
        # The token went to Discord as a bot token, and only there.
        assert fake.calls("GET", "/users/@me")[0].headers["Authorization"] == f"Bot {DISCORD_TOKEN}"

        fake.application_overrides = {"flags": 0}
        fake.fail("GET", "/users/@me", 401, message="401: Unauthorized")
        rejected = await asyncio.to_thread(check_discord, settings, Endpoints(discord_api=fake.api_base))
        assert [f.status for f in rejected] == ["fail"] and "rejects DISCORD_TOKEN" in rejected[0].detail
        intent_off = await asyncio.to_thread(check_discord, settings, Endpoints(discord_api=fake.api_base))
        assert any(f.status == "fail" and "Message Content intent is off" in f.detail for f in intent_off)
    finally:
        await fake.close()


async def test_slack_auth_test_and_scopes(tmp_path: Path) -> None:
    slack = await MockSlack().start()
    try:
        slack.tokens[SLACK_TOKEN] = "T0001"
        settings = make_settings(
            tmp_path, slack=SlackSettings(bot_token=SecretStr(SLACK_TOKEN), app_token=SecretStr("xapp-1"))
        )
        endpoints = Endpoints(slack_api=slack.base_url)
        findings = await asyncio.to_thread(check_slack, settings, endpoints)
        text = "\n".join(_lines(findings))
        assert "bot token accepted: modbot in workspace Test (T0001)" in text
        assert "SLACK_ADMIN_USER_TOKEN is not set" in text and SLACK_TOKEN not in text
        assert slack.called("auth.test")[0].token == SLACK_TOKEN

        # Real Slack lists the token's scopes in a header: a missing one is named.
        ok_body = {"ok": True, "user": "modbot", "team": "Test", "team_id": "T0001"}
        slack.fail_next("auth.test", 200, ok_body, headers={"x-oauth-scopes": "chat:write,commands,channels:history"})
        scoped = await asyncio.to_thread(check_slack, settings, endpoints)
        (missing,) = [f for f in scoped if "lacks the scopes" in f.detail]
        assert missing.status == "fail" and "groups:history" in missing.detail and "chat:write" not in missing.detail

        slack.tokens.clear()
        rejected = await asyncio.to_thread(check_slack, settings, endpoints)
        assert rejected[0].status == "fail" and "invalid_auth" in rejected[0].detail
    finally:
        await slack.stop()


def test_an_http_reasoner_that_does_not_answer_is_broken() -> None:
    (finding,) = check_reasoner_server(
        ReasonerSettings(backend="http", base_url="http://user:pw@127.0.0.1:1"), Endpoints(timeout_s=2)
    )
    assert finding.status == "fail" and "pw" not in finding.detail


def test_run_doctor_offline_on_a_healthy_setup_has_nothing_to_fix(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, database_url=_db(tmp_path, "head"), discord=DiscordSettings(token=SecretStr(DISCORD_TOKEN))
    )
    lines = _lines(run_doctor(settings, offline=True, nvidia_smi=str(tmp_path / "no-such-nvidia-smi")))
    assert lines[-1] == "nothing to fix", lines
    assert any(line.startswith("ok   discord: DISCORD_TOKEN is set") for line in lines)


def test_the_cli_exits_1_and_says_what_to_fix(tmp_path: Path) -> None:
    url = _db(tmp_path, "0005")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "SLACK", "MODBOT"))}
    env.update(MODBOT_DATABASE_URL=url, MODBOT_REASONER__BACKEND="none", DISCORD_TOKEN=DISCORD_TOKEN)
    result = subprocess.run(
        [str(MODBOT), "doctor", "--offline"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stdout + result.stderr
    (database,) = [line for line in result.stdout.splitlines() if " database: " in line]
    assert database.startswith("FAIL") and "run `modbot db upgrade`" in database
    assert DISCORD_TOKEN not in result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "1 problem(s) to fix"


def test_policies_each_invalid_file_is_named_and_the_default_must_be_there(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "test-policy.md").write_text(TEST_POLICY, encoding="utf-8")
    (folder / "broken.md").write_text("+++\nid = \"broken\"\n", encoding="utf-8")  # front matter never closed
    findings = check_policies(folder, "test-policy")
    assert findings[0].status == "ok" and "1 in" in findings[0].detail and "test-policy" in findings[0].detail
    (broken,) = [f for f in findings if f.status == "fail"]
    assert "broken.md" in broken.detail
    missing_default = check_policies(folder, "game-community")
    assert any(f.status == "warn" and "'game-community'" in f.detail for f in missing_default)
    assert check_policies(tmp_path / "absent", "x")[0].status == "fail"


def test_the_shipped_policies_pass() -> None:
    findings = check_policies(shipped_policies_dir(), "game-community")
    assert [f.status for f in findings] == ["ok"], findings
