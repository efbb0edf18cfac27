"""Discord shards split across processes: ``[discord] shard_ids`` of ``shard_count`` reach discord.py's
``AutoShardedClient``, and the process identifies to the (fake) gateway as exactly those shards."""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord
import pytest

from modbot_adapters.discord_bot import DiscordAdapter
from modbot.app import build_services
from modbot.config import DiscordSettings, SettingsError, load_settings
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.harness import discord_settings


async def test_a_process_runs_and_identifies_only_its_own_shards(fake: FakeDiscord, tmp_path: Path) -> None:
    settings = discord_settings(tmp_path, shard_ids=(1,), shard_count=2)
    services = await build_services(settings, reasoner=None, prefilter=None)
    adapter = DiscordAdapter(services.core, settings.discord)
    assert isinstance(adapter.client, discord.AutoShardedClient)
    assert adapter.client.shard_ids == [1] and adapter.client.shard_count == 2
    services.dispatcher.register(adapter.platform, adapter.sink)
    services.adapters.append(adapter)
    await services.start()
    running = asyncio.create_task(adapter.run())
    try:
        identify = await fake.wait_identified()
        assert identify["shard"] == [1, 2]
    finally:
        await services.close()
        await asyncio.wait_for(running, 5)


async def test_without_shard_settings_the_plain_client_is_used(tmp_path: Path) -> None:
    settings = discord_settings(tmp_path)
    services = await build_services(settings, reasoner=None, prefilter=None)
    try:
        client = DiscordAdapter(services.core, settings.discord).client
        assert not isinstance(client, discord.AutoShardedClient)
    finally:
        await services.close()


def test_shard_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODBOT_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("MODBOT_DISCORD__SHARD_IDS", "[2, 3]")
    monkeypatch.setenv("MODBOT_DISCORD__SHARD_COUNT", "4")
    discord_table = load_settings().discord
    assert discord_table.shard_ids == (2, 3) and discord_table.shard_count == 4


@pytest.mark.parametrize(
    ("ids", "count", "says"),
    [((0, 1), None, "needs discord.shard_count"), ((4,), 4, "from 0 to 3"), ((), 2, "from 0 to 1")],
)
def test_shard_ids_must_fit_the_shard_count(ids: tuple[int, ...], count: int | None, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        DiscordSettings(shard_ids=ids, shard_count=count)
    with pytest.raises(SettingsError, match=says):
        load_settings(discord={"shard_ids": ids, "shard_count": count})
