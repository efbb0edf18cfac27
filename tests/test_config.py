"""Settings: TOML file + environment, conventional token names, secrets never printed."""

from __future__ import annotations

import logging

import pytest

from modbot.config import SettingsError, load_settings


def test_file_and_environment_combine_and_secrets_stay_secret(tmp_path, monkeypatch, caplog):
    config = tmp_path / "modbot.toml"
    config.write_text('[slack]\nmode = "http"\n[server_defaults]\nmode = "enforce"\n', encoding="utf-8")
    monkeypatch.setenv("DISCORD_TOKEN", "discord-secret-123")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-456")
    monkeypatch.setenv("MODBOT_PIPELINE__WORKERS", "7")
    settings = load_settings(config)
    assert settings.discord.token.get_secret_value() == "discord-secret-123"
    assert settings.slack.bot_token.get_secret_value() == "xoxb-secret-456"
    assert settings.slack.mode == "http" and settings.server_defaults.mode == "enforce"
    assert settings.pipeline.workers == 7
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("modbot.test").info("settings: %s %r", settings, settings)
    for text in (str(settings), repr(settings), settings.model_dump_json(), caplog.text):
        assert "discord-secret-123" not in text and "xoxb-secret-456" not in text


def test_bad_settings_name_the_key(tmp_path):
    config = tmp_path / "modbot.toml"
    config.write_text("[pipeline]\nworkers = 0\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="pipeline.workers"):
        load_settings(config)
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "absent.toml")


def test_database_password_is_hidden_when_printed():
    from modbot.cli.main import _redact_url

    shown = _redact_url("postgresql+asyncpg://modbot:hunter2@db/modbot")
    assert "hunter2" not in shown and "modbot@db" not in shown.replace("***", "")
