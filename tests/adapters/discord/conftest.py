"""Fixtures for the Discord adapter tests (the harness itself is in ``harness.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket

from tests.adapters.discord import payloads as p
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.harness import Harness, make_harness


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord().start()
    # discord.py builds every REST URL (bot and interaction webhooks alike) from Route.BASE, and the
    # plain client opens the gateway at DEFAULT_GATEWAY; both are aimed at the loopback fake.
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url))
    server.gateway.guilds = [p.guild_create()]
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def harness(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Harness]:
    built = await make_harness(fake, tmp_path)
    try:
        yield built
    finally:
        await built.services.close()  # closes the adapter (and its client) too
