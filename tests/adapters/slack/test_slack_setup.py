"""Setup: the manifest asks for exactly the scopes the code uses; missing settings are named clearly."""

from __future__ import annotations

from pathlib import Path

import yaml

import modbot_adapters.slack_app as slack_app
from modbot_adapters.slack_app import BOT_SCOPES, USER_SCOPES, missing_settings
from modbot.app import ADAPTER_MODULES
from modbot.config import AppSettings, SlackSettings

MANIFEST = Path(__file__).resolve().parents[3] / "slack" / "manifest.yml"


def test_manifest_matches_the_code():
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    scopes = manifest["oauth_config"]["scopes"]
    assert sorted(scopes["bot"]) == sorted(BOT_SCOPES)
    assert scopes["user"] == list(USER_SCOPES)
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == [
        "message.channels", "message.groups", "app_uninstalled", "tokens_revoked"
    ]
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/mod" and command["should_escape"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] and manifest["settings"]["socket_mode_enabled"]


def _slack(**values) -> AppSettings:
    return AppSettings(slack=SlackSettings(**values))


def test_missing_settings_name_the_variables():
    assert missing_settings(_slack()) == [
        "SLACK_BOT_TOKEN (or SLACK_CLIENT_ID + SLACK_CLIENT_SECRET)",
        "SLACK_APP_TOKEN (socket mode) or SLACK_SIGNING_SECRET (http mode)",
    ]
    assert missing_settings(_slack(bot_token="xoxb-1", app_token="xapp-1")) == []
    assert missing_settings(_slack(bot_token="xoxb-1", mode="http")) == ["SLACK_SIGNING_SECRET (http mode)"]
    assert missing_settings(_slack(bot_token="xoxb-1", mode="http", signing_secret="s")) == []
    assert missing_settings(_slack(client_id="1.2", client_secret="c", mode="http", signing_secret="s")) == []
    assert missing_settings(_slack(bot_token="xoxp-user", app_token="xoxb-wrong")) == [
        "SLACK_BOT_TOKEN (a bot token starting with xoxb-)",
        "SLACK_APP_TOKEN (an app-level token starting with xapp-)",
    ]


def test_the_module_is_a_registered_adapter_with_the_contract():
    assert "modbot_adapters.slack_app" in ADAPTER_MODULES
    assert callable(slack_app.create) and callable(slack_app.missing_settings)
    assert slack_app.SlackAdapter.platform == "slack"
