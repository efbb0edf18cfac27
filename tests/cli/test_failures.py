"""Operator failures are one line and exit status 1, never a traceback, and never carry a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError

from modbot.cli.failures import describe_failure

REPO = Path(__file__).resolve().parents[2]


def test_a_database_error_shows_the_drivers_first_line_not_the_statement_or_its_parameters():
    error = OperationalError("INSERT INTO t VALUES (?)", ("xoxb-secret-token-value",), Exception("database is locked"))
    line = describe_failure(error)
    assert line is not None and "database is locked" in line
    assert "xoxb" not in line and "INSERT" not in line


def test_an_unknown_error_is_left_to_show_its_traceback():
    assert describe_failure(ValueError("a bug")) is None


def test_db_upgrade_on_an_unreachable_database_is_one_masked_line(tmp_path: Path):
    password = "Pw-4f9c2d7e1b"
    env = {
        **os.environ,
        "MODBOT_DATABASE_URL": f"postgresql+asyncpg://modbot:{password}@127.0.0.1:1/modbot",
        "MODBOT_CONFIG": str(tmp_path / "absent.toml"),
    }
    done = subprocess.run(
        [sys.executable, "-c", "from modbot.cli.main import main; main()", "db", "upgrade"],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert "modbot: " in done.stderr and "database" in done.stderr
    assert not any(password[i : i + 8] in output for i in range(len(password) - 7))
