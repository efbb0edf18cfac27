"""Fixtures: the fake OAuth provider, and the console serving on the real core."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.adapters.discord.fake_discord import FakeDiscord, aimed_fake
from tests.console.fake_oauth import FakeOAuth
from tests.console.harness import Console, DiscordConsole, start_discord_console, start_stack


@pytest.fixture
async def oauth() -> AsyncIterator[FakeOAuth]:
    server = await FakeOAuth().start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def console(tmp_path: Path, oauth: FakeOAuth) -> AsyncIterator[Console]:
    running = await start_stack(tmp_path, oauth)
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """The loopback Discord fake, with discord.py aimed at it (as in tests/adapters/discord)."""
    async with aimed_fake(monkeypatch) as server:
        yield server


@pytest.fixture
async def discord_console(fake: FakeDiscord, oauth: FakeOAuth, tmp_path: Path) -> AsyncIterator[DiscordConsole]:
    running = await start_discord_console(fake, oauth, tmp_path)
    try:
        yield running
    finally:
        await running.close()
