"""No configuration error echoes a secret, not even in part: every 8-character piece of a recognisable
token is searched for in what the error and the logs say."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from modbot.app import _reasoner_or_degrade, build_reasoner
from modbot.config import SettingsError, load_settings
from modbot.stages.reasoner import ReasonerConfigError

KEY = "sk-Zq8VuX2mPw4RtY7nKc3LbJ6h"
TOKEN = "xoxb-9QmW2eR5tY8uI1oP4aS7dF0g"
MODBOT = Path(sys.executable).with_name("modbot")


def pieces(secret: str, size: int = 8) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def assert_no_piece_of(text: str, *secrets: str) -> None:
    leaked = [piece for secret in secrets for piece in pieces(secret) if piece in text]
    assert not leaked, f"a secret leaked: {leaked[:3]}"


def test_a_reasoner_table_with_a_key_but_no_base_url_names_the_setting_not_the_key(tmp_path, caplog):
    config = tmp_path / "modbot.toml"
    config.write_text(f'[reasoner]\nbackend = "http"\napi_key = "{KEY}"\n', encoding="utf-8")
    settings = load_settings(config)
    with pytest.raises(ReasonerConfigError) as raised:
        build_reasoner(settings)
    assert "base_url" in str(raised.value)
    assert_no_piece_of(str(raised.value) + repr(raised.value), KEY)
    with caplog.at_level(logging.DEBUG):
        assert _reasoner_or_degrade(settings) is None  # serve runs on the fast stages, and says why
    assert "base_url" in caplog.text
    assert_no_piece_of(caplog.text, KEY)


def test_wrong_types_next_to_secrets_do_not_echo_them(tmp_path):
    config = tmp_path / "modbot.toml"
    config.write_text(
        f'[slack]\nbot_token = "{TOKEN}"\nhttp_port = "not a port"\n[reasoner]\nbackend = "http"\n'
        f'base_url = "http://127.0.0.1:9"\napi_key = "{KEY}"\ntimeout_s = "soon"\n',
        encoding="utf-8",
    )
    with pytest.raises(SettingsError) as raised:
        load_settings(config)
    assert "http_port" in str(raised.value)
    assert_no_piece_of(str(raised.value), KEY, TOKEN)
    fixed = tmp_path / "fixed.toml"
    fixed.write_text(config.read_text().replace('http_port = "not a port"\n', ""), encoding="utf-8")
    with pytest.raises(ReasonerConfigError) as raised:
        build_reasoner(load_settings(fixed))
    assert "timeout_s" in str(raised.value)
    assert_no_piece_of(str(raised.value), KEY, TOKEN)


def test_the_command_line_says_what_is_wrong_without_the_secret(tmp_path):
    config = tmp_path / "modbot.toml"
    config.write_text(f'[slack]\nbot_token = "{TOKEN}"\nmode = "carrier-pigeon"\n', encoding="utf-8")
    done = subprocess.run(
        [str(MODBOT), "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "MODBOT_REASONER_API_KEY": KEY, "HOME": str(tmp_path)},
    )
    assert done.returncode == 2 and "mode" in done.stderr
    assert_no_piece_of(done.stdout + done.stderr, KEY, TOKEN)
