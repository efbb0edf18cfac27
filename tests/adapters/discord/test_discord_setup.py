"""The adapter module's contract with the composition root (``modbot.app``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import modbot_adapters.discord_bot as discord_bot
from modbot.app import ADAPTER_MODULES, build_services
from modbot.ports import ActionSink
from modbot.config import AppSettings, DiscordSettings
from tests.adapters.discord.harness import discord_settings


def test_missing_settings_names_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISCORD_TOKEN", "DISCORD_BOT_TOKEN", "MODBOT_DISCORD__TOKEN", "MODBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no modbot.toml here
    assert "modbot_adapters.discord_bot" in ADAPTER_MODULES
    assert discord_bot.missing_settings(AppSettings(discord=DiscordSettings())) == ["DISCORD_TOKEN"]
    assert discord_bot.missing_settings(AppSettings(discord=DiscordSettings(token="  "))) == ["DISCORD_TOKEN"]
    assert discord_bot.missing_settings(AppSettings(discord=DiscordSettings(token="abc"))) == []


async def test_create_gives_a_platform_adapter_with_an_action_sink(tmp_path: Path) -> None:
    settings = discord_settings(tmp_path, sharded=True)
    services = await build_services(settings, reasoner=None, prefilter=None)
    try:
        adapter = discord_bot.create(services.core, settings)
        assert adapter.platform == "discord"
        assert isinstance(adapter.sink, ActionSink)
        assert type(adapter.client).__name__ == "ModbotShardedClient"
        assert [c.name for c in adapter.tree.get_commands()] == ["mod", "Report to modbot"]
    finally:
        await services.close()
