"""The real Slack adapter under the platform supervisor: refused tokens stop Slack alone, an unreachable
Slack is retried in one line, and a Discord that cannot be reached no longer takes a healthy Slack down.

The Slack Web API is the loopback ``MockSlack`` (its ``auth.test`` knows the harness's tokens only), or a
loopback port nobody listens on; Discord is the real discord.py client aimed at such a port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable

import aiohttp
import discord
import pytest

from modbot_adapters.discord_bot import DiscordAdapter
from modbot_adapters.slack_app import create
from modbot.config import DiscordSettings
from modbot.runtime import CONNECTED, RECONNECTING, STOPPED, Backoff, PlatformSupervisor, cancel_and_wait
from tests.adapters.slack.slack_harness import event_envelope, message_payload, signed_headers, start_harness
from tests.test_secrets import assert_no_piece_of

FAST = Backoff(0.05, 0.2, jitter=0.1)
BAD_BOT_TOKEN = "xoxb-4821-Zq8VuX2mPw4RtY7nKc3LbJ6h"
BAD_APP_TOKEN = "xapp-1-A1-9QmW2eR5tY8uI1oP4aS7dF0g"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "modbot.platforms"]


async def test_a_refused_bot_token_stops_slack_naming_the_setting(tmp_path, caplog):
    h = await start_harness(tmp_path, bot_token=BAD_BOT_TOKEN, http_port=0)
    try:
        (stopped,) = await asyncio.wait_for(PlatformSupervisor([h.adapter], backoff=FAST).run(), 10)
    finally:
        await h.services.close()
        await h.mock.stop()
    assert stopped.setting == "SLACK_BOT_TOKEN"
    assert stopped.reason.startswith("Slack rejected SLACK_BOT_TOKEN (invalid_auth)")
    assert len(h.mock.called("auth.test")) == 1, "a refused token is not tried again"
    assert h.adapter.http_port is None, "nothing is served for a token Slack refuses"
    assert "Traceback" not in caplog.text
    assert_no_piece_of(caplog.text + repr(stopped), BAD_BOT_TOKEN)


async def test_a_refused_app_token_stops_socket_mode_naming_the_setting(tmp_path, caplog):
    h = await start_harness(tmp_path, mode="socket", app_token=BAD_APP_TOKEN, signing_secret=None)
    h.mock.fail_next("apps.connections.open", 200, {"ok": False, "error": "invalid_auth"})
    try:
        (stopped,) = await asyncio.wait_for(PlatformSupervisor([h.adapter], backoff=FAST).run(), 10)
    finally:
        await h.services.close()
        await h.mock.stop()
    assert stopped.setting == "SLACK_APP_TOKEN" and "invalid_auth" in stopped.reason
    assert len(h.mock.called("apps.connections.open")) == 1
    assert "Traceback" not in caplog.text
    assert_no_piece_of(caplog.text + repr(stopped), BAD_APP_TOKEN)


async def test_an_unreachable_slack_is_retried_with_one_line_each(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    h = await start_harness(tmp_path, http_port=0)
    port = _closed_port()
    adapter = create(h.services.core, h.services.settings, api_base_url=f"http://127.0.0.1:{port}/api/")
    state: dict[str, str] = {}
    task = asyncio.create_task(PlatformSupervisor([adapter], backoff=FAST, state=state).run())
    try:
        # slack-sdk retries a refused connection twice by itself (about a second each) before giving up.
        await _until(lambda: len(_lines(caplog)) >= 2)
        assert state["slack"] == RECONNECTING
    finally:
        await cancel_and_wait(task)
        await adapter.close()
        await h.services.close()
        await h.mock.stop()
    for line in _lines(caplog)[:2]:
        assert line.startswith(f"slack: cannot reach 127.0.0.1:{port} (connection refused); retrying in 0.")
    assert all(record.exc_info is None for record in caplog.records) and "Traceback" not in caplog.text


async def test_an_unreachable_discord_does_not_stop_a_healthy_slack(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    h = await start_harness(tmp_path, http_port=0)
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{_closed_port()}/api/v10")
    discord_adapter = DiscordAdapter(h.services.core, DiscordSettings(token="discord-token-never-accepted"))
    h.services.adapters.append(discord_adapter)
    state = h.services.platform_state
    supervisor = PlatformSupervisor([discord_adapter, h.adapter], backoff=FAST, state=state)
    task = asyncio.create_task(supervisor.run())
    try:
        await _until(lambda: state.get("slack") == CONNECTED)
        await _until(lambda: sum(line.startswith("discord: cannot reach") for line in _lines(caplog)) >= 3)
        assert state == {"discord": RECONNECTING, "slack": CONNECTED}
        # Slack still takes events and the core still judges them: the scam link is deleted.
        body = json.dumps(event_envelope(message_payload("free-nitro.example")))
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{h.adapter.http_port}/slack/events"
            async with session.post(url, data=body, headers=signed_headers(body, content_type="application/json")) as answer:
                assert answer.status == 200
        await h.settle(1)
        assert len(h.mock.called("chat.delete")) == 1
        assert not task.done() and state["discord"] != STOPPED
    finally:
        await cancel_and_wait(task)
        await h.services.close()
        await h.mock.stop()
    assert "Traceback" not in caplog.text
