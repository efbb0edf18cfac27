"""Fixtures for the Discord adapter tests: the real discord.py client aimed at a loopback fake.

``harness`` builds the real core on a SQLite file under tmp_path (with a scripted reasoner at the
model edge), creates the real ``DiscordAdapter``, logs in over REST against ``FakeDiscord`` (which
also runs the command sync), and feeds GUILD_CREATE through discord.py's own parser. Tests then feed
more gateway payloads with ``harness.feed(...)`` and assert on the requests the fake recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from sqlalchemy import select

from adapters.discord_bot import DiscordAdapter, RetryPolicy
from bot.app import Services, build_services
from bot.domain import MessageEvent, ServerRef
from bot.settings import AppSettings, DiscordSettings, PipelineSettings
from bot.store.schema import MessageRow
from tests.conftest import make_settings
from tests.support.scripted import ScriptedReasoner, by_keyword

from tests.adapters.discord import payloads as p
from tests.adapters.discord.fake_discord import FakeDiscord

SERVER = ServerRef("discord", p.GUILD_ID)
FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02)

# discord.py's own background tasks that run our handlers: gateway events, slash commands, buttons.
_EVENT_TASK_PREFIXES = ("discord.py: on_", "CommandTree-invoker", "discord-ui-dynamic-item-")


def _event_tasks() -> list[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return [
        t
        for t in asyncio.all_tasks()
        if t is not current and not t.done() and t.get_name().startswith(_EVENT_TASK_PREFIXES)
    ]


class Harness:
    """The bot under test and the fake it talks to."""

    def __init__(self, fake: FakeDiscord, services: Services, adapter: DiscordAdapter):
        self.fake = fake
        self.services = services
        self.adapter = adapter
        self.client = adapter.client

    def feed(self, event: str, data: dict[str, Any]) -> None:
        """Hand a gateway DISPATCH payload to discord.py's own parser (as the gateway reader does)."""
        self.client._connection.parsers[event](data)

    async def settle(self) -> None:
        """Wait until discord.py's event tasks and the pipeline (judging and actions) are done."""
        for _ in range(50):
            tasks = _event_tasks()
            if tasks:
                await asyncio.wait(tasks, timeout=10)
                continue
            await self.services.pipeline.drain(timeout=10)
            if not _event_tasks():
                return
        raise AssertionError("the bot did not settle")

    async def send(self, event: str, data: dict[str, Any]) -> None:
        self.feed(event, data)
        await self.settle()

    async def stored_events(self) -> list[MessageEvent]:
        """Every message revision the core recorded, oldest first."""
        async with self.services.store.session() as session:
            ids = (await session.scalars(select(MessageRow.id).order_by(MessageRow.id))).all()
        events = []
        for row_id in ids:
            loaded = await self.services.store.load_message(row_id)
            assert loaded is not None
            events.append(loaded[0])
        return events

    async def statuses(self) -> list[str]:
        async with self.services.store.session() as session:
            return list((await session.scalars(select(MessageRow.status).order_by(MessageRow.id))).all())


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


def discord_settings(tmp_path: Path, **discord_options: Any) -> AppSettings:
    # The shared test policy is the default; the game-community policy arrives by /mod policy upload.
    return make_settings(
        tmp_path,
        discord=DiscordSettings(token="fake-token", **discord_options),
        pipeline=PipelineSettings(queue_size=100, workers=2, sweep_interval_s=60),
    )


def _repo() -> Path:
    return Path(__file__).resolve().parents[3]


def _game_policy_exists() -> bool:
    return (_repo() / "policies" / "game-community.md").is_file()


def game_policy_text() -> str:
    """The game-community policy a moderator uploads (the shipped file; the shared test policy if absent)."""
    if _game_policy_exists():
        return (_repo() / "policies" / "game-community.md").read_text(encoding="utf-8")
    from tests.conftest import TEST_POLICY

    return TEST_POLICY


def cheat_reasoner() -> ScriptedReasoner:
    """gpt-oss-safeguard's stand-in: anything about cheats violates CH1, the rest is fine."""
    return ScriptedReasoner(by_keyword({"cheat": "CH1", "aimbot": "CH1"}))


async def make_harness(
    fake: FakeDiscord, tmp_path: Path, *, reasoner: ScriptedReasoner | None = None, **discord_options: Any
) -> Harness:
    settings = discord_settings(tmp_path, **discord_options)
    services = await build_services(settings, reasoner=reasoner or cheat_reasoner(), prefilter=None)
    adapter = DiscordAdapter(services, retry=FAST_RETRY, notice_ttl_s=None)
    services.dispatcher.register(adapter.platform, adapter.sink)
    services.adapters.append(adapter)
    try:
        await adapter.login()
        harness = Harness(fake, services, adapter)
        harness.feed("GUILD_CREATE", p.guild_create())
        await services.start()
        await harness.settle()
    except BaseException:
        await services.close()
        raise
    return harness


@pytest.fixture
async def harness(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Harness]:
    built = await make_harness(fake, tmp_path)
    try:
        yield built
    finally:
        await built.services.close()  # closes the adapter (and its client) too
