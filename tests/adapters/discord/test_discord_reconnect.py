"""The real discord.py client under the platform supervisor: Discord unreachable, then back; a refused token.

discord.py's REST base (``Route.BASE``) is aimed at a loopback port nobody listens on, or at a name that
cannot resolve (``.invalid`` never does), then at the loopback ``FakeDiscord``. What the operator reads is
checked line by line: one line per failure, no traceback, never a piece of the token.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import discord
import pytest

from modbot_adapters.discord_bot import DiscordAdapter
from modbot.app import Services, build_services
from modbot.config import DiscordSettings
from modbot.runtime import CONNECTED, RECONNECTING, STOPPED, Backoff, PlatformSupervisor, StoppedPlatform, cancel_and_wait
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.harness import cheat_reasoner, discord_settings
from tests.test_secrets import assert_no_piece_of

#: Shaped like a real bot token (id.timestamp.hmac), so that a leak of any 8 characters would be noticed.
TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.mnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
FAST = Backoff(0.05, 0.2, jitter=0.1)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:  # generous: CI is loaded
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = discord_settings(tmp_path).model_copy(update={"discord": DiscordSettings(token=TOKEN)})
    built = await build_services(settings, reasoner=cheat_reasoner(), prefilter=None)
    await built.start()
    try:
        yield built
    finally:
        await built.close()


def _adapter(services: Services) -> DiscordAdapter:
    # guild_ready_timeout: discord.py waits this long after READY for more GUILD_CREATEs before on_ready.
    adapter = DiscordAdapter(services.core, services.settings.discord, client_options={"guild_ready_timeout": 0.05})
    services.dispatcher.register(adapter.platform, adapter.sink)
    services.adapters.append(adapter)
    return adapter


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "modbot.platforms"]


async def test_an_unreachable_discord_is_retried_in_one_line_each_and_connects_once_it_is_back(
    fake: FakeDiscord, services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    port = _closed_port()
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    adapter = _adapter(services)
    supervisor = PlatformSupervisor([adapter], backoff=FAST, state=services.platform_state, errors=services.platform_error)
    task = asyncio.create_task(supervisor.run())
    try:
        await _until(lambda: len([line for line in _lines(caplog) if "retrying in" in line]) >= 3)
        assert services.platform_state["discord"] == RECONNECTING
        assert services.platform_error["discord"] == f"cannot reach 127.0.0.1:{port} (connection refused)"
        # The name Discord is reached by does not resolve (no network, or a broken resolver).
        monkeypatch.setattr(discord.http.Route, "BASE", "http://discord.invalid/api/v10")
        await _until(lambda: any("DNS lookup failed" in line for line in _lines(caplog)))
        assert services.platform_error["discord"] == "cannot reach discord.invalid (DNS lookup failed)"

        # Discord is back: the same client logs in afresh (after its failed attempts closed it) and connects.
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
        identify = await fake.wait_identified(timeout=30)
        assert identify["token"] == TOKEN
        await _until(lambda: services.platform_state["discord"] == CONNECTED)
        assert fake.calls("GET", "/users/@me")
    finally:
        await cancel_and_wait(task)
    retries = [line for line in _lines(caplog) if "retrying in" in line]
    assert retries[0].startswith(f"discord: cannot reach 127.0.0.1:{port} (connection refused); retrying in 0.0")
    assert any(line.startswith("discord: cannot reach discord.invalid (DNS lookup failed); retrying in ") for line in retries)
    assert "discord: connected" in _lines(caplog)
    assert all(record.exc_info is None for record in caplog.records), "no traceback for a network error"
    assert "Traceback" not in caplog.text
    assert_no_piece_of(caplog.text, TOKEN)


async def test_a_refused_token_stops_discord_with_the_setting_to_fix(
    fake: FakeDiscord, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail("GET", "/users/@me", 401, 0, "401: Unauthorized")
    supervisor = PlatformSupervisor([_adapter(services)], backoff=FAST, state=services.platform_state)
    (stopped,) = await asyncio.wait_for(supervisor.run(), 10)
    assert isinstance(stopped, StoppedPlatform) and stopped.setting == "DISCORD_TOKEN"
    assert stopped.reason.startswith("Discord rejected DISCORD_TOKEN (401 Unauthorized): copy the bot token again")
    assert services.platform_state["discord"] == STOPPED
    assert len(fake.calls("GET", "/users/@me")) == 1, "a refused token is not tried again"
    (line,) = [line for line in _lines(caplog) if "stopped" in line]
    assert line.startswith("discord: stopped, not retried: Discord rejected DISCORD_TOKEN")
    assert "Traceback" not in caplog.text
    assert_no_piece_of(caplog.text + repr(stopped), TOKEN)


async def test_a_token_the_gateway_refuses_stops_discord_too(fake: FakeDiscord, services: Services) -> None:
    fake.gateway.close_code = 4004  # Authentication failed: REST took the token, the gateway did not
    (stopped,) = await asyncio.wait_for(PlatformSupervisor([_adapter(services)], backoff=FAST).run(), 10)
    assert stopped.setting == "DISCORD_TOKEN" and "gateway close code 4004" in stopped.reason


async def test_a_dropped_gateway_is_one_line_while_discord_py_reconnects(
    fake: FakeDiscord, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    adapter = _adapter(services)
    task = asyncio.create_task(PlatformSupervisor([adapter], backoff=FAST, state=services.platform_state).run())
    try:
        await fake.wait_identified(timeout=10)
        await _until(lambda: services.platform_state["discord"] == CONNECTED)
        # Discord goes away: the socket closes and the resume cannot connect, so discord.py's own
        # backoff loop takes over (it would log a traceback each time).
        await fake.close()
        await _until(lambda: any("Attempting a reconnect" in r.getMessage() for r in caplog.records))
        await _until(lambda: services.platform_state["discord"] == RECONNECTING)
    finally:
        await cancel_and_wait(task)
    (record,) = [r for r in caplog.records if "Attempting a reconnect" in r.getMessage()]
    assert record.exc_info is None and "\n" not in record.getMessage()
    assert record.getMessage().startswith("discord: connection lost (cannot reach 127.0.0.1:")
    assert "Traceback" not in caplog.text
