"""``adapters/connection.py``: real network errors (made by real aiohttp requests on loopback) as one
line, and an SDK's reconnect log record stripped of its traceback (and only such records)."""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import pytest
from aiohttp import web

from modbot_adapters.connection import OneLineReconnects, describe, unreachable


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _error_of(url: str, timeout_s: float = 10.0) -> BaseException:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
            async with session.get(url):
                pass
    except Exception as exc:  # noqa: BLE001 - what the request raised is the subject here
        return exc
    raise AssertionError("the request did not fail")


async def test_refused_unresolvable_and_slow_are_each_one_line() -> None:
    port = _closed_port()
    refused = await _error_of(f"http://127.0.0.1:{port}/api")
    assert str(unreachable(refused, "discord.com")) == f"cannot reach 127.0.0.1:{port} (connection refused)"
    dns = await _error_of("https://chat.invalid/api")
    assert str(unreachable(dns, "discord.com")) == "cannot reach chat.invalid (DNS lookup failed)"

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    app = web.Application()
    app.router.add_get("/", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        timed_out = await _error_of(f"http://127.0.0.1:{runner.addresses[0][1]}/", timeout_s=0.2)
    finally:
        await runner.cleanup()
    assert str(unreachable(timed_out, "Slack")) == "cannot reach Slack (timed out)"

    assert unreachable(KeyError("guild"), "Slack") is None, "a bug is not a network error"
    assert describe(KeyError("guild"), "Slack") == "KeyError: 'guild'"


async def test_a_reconnect_record_loses_its_traceback_and_gains_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.fake_sdk")
    OneLineReconnects("discord", "Discord", ("Attempting a reconnect",)).install(logger.name)
    OneLineReconnects("discord", "Discord", ("Attempting a reconnect",)).install(logger.name)
    assert len(logger.filters) == 1, "installed once however often run() is called"
    port = _closed_port()
    refused = await _error_of(f"http://127.0.0.1:{port}/")
    with caplog.at_level(logging.INFO, logger=logger.name):
        try:
            raise refused
        except aiohttp.ClientError:
            logger.exception("Attempting a reconnect in %.2fs", 1.25)
        try:
            raise KeyError("guild")
        except KeyError:
            logger.exception("Attempting a reconnect in %.2fs", 2.5)  # a bug: keeps its traceback
        try:
            raise refused
        except aiohttp.ClientError:
            logger.exception("Something else failed")  # not a reconnect message: untouched
    network, bug, other = caplog.records
    assert network.getMessage() == (
        f"discord: connection lost (cannot reach 127.0.0.1:{port} (connection refused)); Attempting a reconnect in 1.25s"
    )
    assert network.exc_info is None and network.levelno == logging.WARNING
    assert bug.exc_info is not None and bug.levelno == logging.ERROR
    assert other.exc_info is not None
    logger.filters.clear()
