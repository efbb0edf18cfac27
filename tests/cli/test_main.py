"""The ``modbot`` console script, run as operators run it (a real subprocess, real files)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODBOT = Path(sys.executable).with_name("modbot")
GAME_POLICY = REPO / "policies" / "game-community.md"


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("MODBOT_", "DISCORD_", "SLACK_"))}
    clean_env.update(env or {})
    return subprocess.run(
        [str(MODBOT), *args], input=stdin, capture_output=True, text=True, env=clean_env, cwd=cwd, timeout=120
    )


def test_classify_names_the_cheat_selling_rule():
    result = run("classify", "--policy", str(GAME_POLICY), "--no-prefilter", "selling aimbot and wallhack, dm me")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert {"decision", "categories", "rule_ids", "stage", "rationale", "policy_version"} <= verdict.keys()
    assert verdict["decision"] in {"flag", "remove", "remove_and_timeout", "escalate"}
    assert verdict["stage"] == "keyword"
    assert verdict["rule_ids"], verdict
    assert verdict["policy_version"].startswith("sha256:")


def test_classify_reads_json_lines_and_prints_one_verdict_per_line():
    lines = "\n".join(
        [json.dumps({"id": "a", "text": "gg ez, nice game"}), json.dumps("selling aimbot and wallhack, dm me"), ""]
    )
    result = run("classify", "--policy", str(GAME_POLICY), "--no-prefilter", stdin=lines)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", 2]
    assert out[0]["decision"] == "allow" and out[1]["decision"] != "allow"


def test_classify_rejects_bad_stdin_clearly():
    result = run("classify", "--policy", str(GAME_POLICY), "--no-prefilter", stdin='{"text": 5}\n')
    assert result.returncode == 2 and "could not be judged" in result.stderr
    assert json.loads(result.stdout) == {"line": 1, "error": 'expected a JSON string or an object with a "text" string'}


def test_a_bad_line_costs_no_good_line_and_the_exit_code_says_so():
    lines = b"\n".join([b'"gg ez"', b"{not json", b"\xff\xfe binary", b'{"id": "x", "text": "selling aimbot, dm me"}', b""])
    result = subprocess.run(
        [str(MODBOT), "classify", "--policy", str(GAME_POLICY), "--no-prefilter"],
        input=lines, capture_output=True, timeout=120, env={k: v for k, v in os.environ.items() if not k.startswith("MODBOT_")},
    )
    out = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [o.get("id", o.get("line")) for o in out] == [1, 2, 3, "x"]
    assert out[0]["decision"] == "allow" and out[3]["decision"] != "allow"
    assert "not JSON" in out[1]["error"] and out[2]["error"] == "not UTF-8"
    assert result.returncode == 2


def test_classify_streams_a_verdict_per_line_before_stdin_ends():
    process = subprocess.Popen(
        [str(MODBOT), "classify", "--policy", str(GAME_POLICY), "--no-prefilter"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith("MODBOT_")},
    )
    try:
        process.stdin.write(b'{"id": "first", "text": "nice shot"}\n')
        process.stdin.flush()
        first = json.loads(process.stdout.readline())  # answered while stdin is still open
        assert first["id"] == "first" and first["decision"] == "allow"
        process.stdin.write(b'"second"\n')
        process.stdin.close()
        assert json.loads(process.stdout.readline())["id"] == 2
        assert process.wait(60) == 0
    finally:
        process.kill()


def test_policy_validate_reports_the_line_of_a_mistake(tmp_path):
    good = run("policy", "validate", str(GAME_POLICY))
    assert good.returncode == 0 and json.loads(good.stdout)["id"] == "game-community"
    bad = tmp_path / "bad.md"
    bad.write_text('+++\nid = "x"\ntitle = "X"\n[actions\nlow = "flag"\n+++\nbody\n', encoding="utf-8")
    result = run("policy", "validate", str(bad))
    assert result.returncode == 1
    assert f"{bad}:4" in result.stderr.replace("\n", "")


def test_db_upgrade_creates_the_schema(tmp_path):
    db = tmp_path / "data" / "m.sqlite3"
    result = run("db", "upgrade", "--database-url", f"sqlite+aiosqlite:///{db}")
    assert result.returncode == 0, result.stderr
    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master")}
    assert {"messages", "verdicts", "cases"} <= tables


def test_serve_without_tokens_says_which_are_missing(tmp_path):
    result = run("serve", cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr and "SLACK_BOT_TOKEN" in result.stderr


def test_settings_file_errors_are_clear(tmp_path):
    config = tmp_path / "modbot.toml"
    config.write_text("database_url = 5\n", encoding="utf-8")
    result = run("db", "upgrade", "--config", str(config))
    assert result.returncode == 2 and "database_url" in result.stderr


def test_db_backup_copies_a_live_database_consistently(tmp_path):
    import threading

    url = f"sqlite+aiosqlite:///{tmp_path / 'live.sqlite3'}"
    assert run("db", "upgrade", "--database-url", url).returncode == 0
    live = sqlite3.connect(tmp_path / "live.sqlite3", check_same_thread=False)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("CREATE TABLE burst (n INTEGER)")
    live.commit()
    stop = threading.Event()

    def write() -> None:  # the bot keeps writing while the backup runs
        n = 0
        while not stop.is_set():
            live.execute("INSERT INTO burst VALUES (?)", (n,))
            live.commit()
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        result = run("db", "backup", str(tmp_path / "copies" / "backup.sqlite3"), "--database-url", url)
    finally:
        stop.set()
        writer.join()
        live.close()
    assert result.returncode == 0, result.stderr
    copy = sqlite3.connect(tmp_path / "copies" / "backup.sqlite3")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = copy.execute("SELECT count(*), coalesce(max(n), -1) FROM burst").fetchone()
    assert rows[0] == rows[1] + 1  # a snapshot: every row up to some point, none missing in between
    assert copy.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    assert not (tmp_path / "copies" / "backup.sqlite3.partial").exists()


def test_db_backup_of_postgresql_says_to_use_pg_dump(tmp_path):
    result = run("db", "backup", str(tmp_path / "b"), "--database-url", "postgresql+asyncpg://modbot:pw@db.example/modbot")
    assert result.returncode == 1 and "pg_dump" in result.stderr and "pw@" not in result.stderr
