"""JSON log lines (``modbot serve --log-format json``) and the masking of secrets in both formats."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

from pydantic import SecretStr

from modbot.cli.logs import MASK, JsonFormatter, RedactingFormatter, secret_values
from modbot.config import DiscordSettings, HttpApiSettings, SlackSettings
from tests.conftest import REPO, make_settings

DISCORD = "discord-token-abcdefghijklmnop"
SLACK = "xoxb-slack-bot-token-1234567890"
OPERATOR = "operator-token-0123456789"
REASONER = "sk-reasoner-api-key-5678"
DB_PASSWORD = "db-password-s3cr3t"


def _settings(tmp_path):
    return make_settings(
        tmp_path,
        database_url=f"postgresql+asyncpg://modbot:{DB_PASSWORD}@db.example/modbot",
        discord=DiscordSettings(token=SecretStr(DISCORD)),
        slack=SlackSettings(bot_token=SecretStr(SLACK)),
        http_api=HttpApiSettings(token=SecretStr(OPERATOR)),
        reasoner={"backend": "http", "base_url": "http://127.0.0.1:8000/v1", "api_key": REASONER},
    )


def _logger(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"modbot.test.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_every_secret_of_the_settings_is_found(tmp_path):
    found = set(secret_values(_settings(tmp_path)))
    assert {DISCORD, SLACK, OPERATOR, REASONER, DB_PASSWORD} <= found
    assert "http://127.0.0.1:8000/v1" not in found and "http" not in found


def test_json_lines_carry_time_level_logger_message_and_the_traceback_never_a_secret(tmp_path):
    logger, stream = _logger(JsonFormatter(secret_values(_settings(tmp_path))))
    logger.info("connected with %s", DISCORD)  # a careless message
    logger.warning('a "quoted" message\nover two lines')
    try:
        raise ConnectionError(f"rejected: Authorization: Bearer {OPERATOR} and {SLACK}")
    except ConnectionError:
        logger.exception("callback to %s failed", f"postgresql://modbot:{DB_PASSWORD}@db.example")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 3  # a newline inside a message stays inside its JSON string
    entries = [json.loads(line) for line in lines]
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry)
        assert entry["time"].endswith("+00:00") and entry["logger"] == logger.name
    assert entries[0] == {**entries[0], "level": "INFO", "message": f"connected with {MASK}"}
    assert entries[1]["message"] == 'a "quoted" message\nover two lines'
    assert entries[2]["level"] == "ERROR" and "exception" in entries[2]
    assert "Traceback" in entries[2]["exception"] and "ConnectionError: rejected" in entries[2]["exception"]
    for secret in (DISCORD, SLACK, OPERATOR, DB_PASSWORD):
        assert secret not in stream.getvalue()
    assert "exception" not in entries[0]


def test_a_secret_holding_characters_json_escapes_is_masked_too():
    secret = 'pa"ss\\word-1234'
    logger, stream = _logger(JsonFormatter([secret]))
    logger.error("login with %s", secret)
    assert json.loads(stream.getvalue())["message"] == f"login with {MASK}"
    assert json.dumps(secret)[1:-1] not in stream.getvalue()


def test_text_lines_are_masked_as_well(tmp_path):
    logger, stream = _logger(RedactingFormatter(secret_values(_settings(tmp_path))))
    logger.info("token %s", OPERATOR)
    assert OPERATOR not in stream.getvalue() and f"token {MASK}" in stream.getvalue()


def test_an_uncaught_exception_is_one_json_line_with_its_traceback_masked():
    code = (
        "from modbot.cli.logs import setup_logging\n"
        "import warnings\n"
        "setup_logging('INFO', 'json', ['supersecret-123'])\n"
        "warnings.warn('deprecated thing')\n"
        "raise RuntimeError('boom with supersecret-123')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 1
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert [e["level"] for e in entries] == ["WARNING", "CRITICAL"]
    assert "deprecated thing" in entries[0]["message"]
    assert "RuntimeError: boom with ***" in entries[1]["exception"]
    assert "supersecret-123" not in done.stderr
