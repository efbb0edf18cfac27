"""The console under test: the real core (``build_services`` on a SQLite file), the real console
adapter serving on a loopback port, and a loopback fake of Discord's OAuth2 provider."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from modbot_adapters import web_console
from modbot_adapters.web_console.adapter import ConsoleAdapter
from modbot.app import Services, build_services
from modbot.config import ConsoleSettings
from modbot.domain import ServerRef
from modbot.domain.settings import ServerSettings
from tests.conftest import event, make_settings
from tests.console.fake_oauth import CLIENT_ID, CLIENT_SECRET, FakeOAuth, OAuthUser
from tests.support.scripted import ScriptedReasoner, by_keyword

GUILD_A = "111111111111111111"
GUILD_B = "222222222222222222"
SERVER_A = ServerRef("discord", GUILD_A)
SERVER_B = ServerRef("discord", GUILD_B)

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_settings(oauth: FakeOAuth, **overrides: Any) -> ConsoleSettings:
    """``[console]`` on any free loopback port, aimed at the fake provider."""
    values: dict[str, Any] = dict(
        port=0,
        discord_client_id=CLIENT_ID,
        discord_client_secret=CLIENT_SECRET,
        discord_api_base=oauth.api_base,
        discord_authorize_url=oauth.authorize_url,
        session_secret="test-session-secret",
    )
    values.update(overrides)
    return ConsoleSettings(**values)


async def start_console(services: Services) -> tuple[ConsoleAdapter, asyncio.Task[None]]:
    """Create the console as ``modbot serve`` does (its module's ``create``) and run it until it listens."""
    adapter = web_console.create(services.core, services.settings)
    services.dispatcher.register(adapter.platform, adapter.sink)
    task = asyncio.create_task(adapter.run())
    waiting = asyncio.create_task(adapter.started.wait())
    await asyncio.wait([task, waiting], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    assert adapter.started.is_set(), "the console did not start"
    return adapter, task


async def stop_console(adapter: ConsoleAdapter, task: asyncio.Task[None]) -> None:
    await adapter.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@dataclass
class Console:
    """A running console on a core with cases, and the fake provider its logins go through."""

    services: Services
    oauth: FakeOAuth
    adapter: ConsoleAdapter
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        assert self.adapter.base_url is not None
        return self.adapter.base_url

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, follow_redirects=True, timeout=10)

    async def login(self, client: httpx.AsyncClient, user: OAuthUser) -> httpx.Response:
        """Log in through the fake provider's consent screen; answers the page after the login."""
        self.oauth.login_as(user)
        answer = await client.get("/auth/discord")
        assert answer.status_code == 200, answer.text
        return answer

    async def close(self) -> None:
        await stop_console(self.adapter, self.task)
        await self.services.close()


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(page.text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def cheat_reasoner() -> ScriptedReasoner:
    return ScriptedReasoner(by_keyword({"cheat": "CH1", "aimbot": "CH1"}))


async def open_cases(services: Services, server: ServerRef, texts: list[str]) -> None:
    """Messages the scripted reasoner calls violations: each opens a case in ``server``."""
    for text in texts:
        await services.core.submit(event(text, server=server, author_id="555", channel_id="777"))
    await services.pipeline.drain(timeout=10)


async def start_stack(tmp_path: Path, oauth: FakeOAuth, **settings: Any) -> Console:
    """The real core with two Discord servers' cases, and the console on it."""
    values: dict[str, Any] = {"console": console_settings(oauth), "server_defaults": ServerSettings(policy_id="test-policy")}
    app_settings = make_settings(tmp_path, **{**values, **settings})
    services = await build_services(app_settings, reasoner=cheat_reasoner(), prefilter=None)
    try:
        await services.start()
        await open_cases(services, SERVER_A, ["selling an aimbot, dm me", "private aimbot for sale"])
        await open_cases(services, SERVER_B, ["aimbot menu 5$"])
        adapter, task = await start_console(services)
    except BaseException:
        await services.close()
        raise
    return Console(services, oauth, adapter, task)


@dataclass
class DiscordConsole:
    """The console beside the real Discord adapter (against the loopback Discord fake) on one core."""

    harness: Any  # tests.adapters.discord.harness.Harness
    oauth: FakeOAuth
    adapter: ConsoleAdapter
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        assert self.adapter.base_url is not None
        return self.adapter.base_url

    async def close(self) -> None:
        await stop_console(self.adapter, self.task)
        await self.harness.services.close()


async def start_discord_console(fake: Any, oauth: FakeOAuth, tmp_path: Path) -> DiscordConsole:
    """An enforcing test guild whose cases are posted to its mod channel, and the console on the same core."""
    from tests.adapters.discord import payloads as p
    from tests.adapters.discord.harness import make_harness

    harness = await make_harness(
        fake,
        tmp_path,
        server_defaults=ServerSettings(policy_id="test-policy", mode="enforce", mod_channel_id=p.MOD_CHANNEL_ID),
    )
    try:
        settings = harness.services.settings.model_copy(update={"console": console_settings(oauth)})
        console = ConsoleAdapter(harness.services.core, settings)
        task = asyncio.create_task(console.run())
        await asyncio.wait_for(console.started.wait(), 10)
    except BaseException:
        await harness.services.close()
        raise
    return DiscordConsole(harness, oauth, console, task)
