"""Turning the API on and off, and what the composition root gets."""

from __future__ import annotations

import asyncio
import socket

import pytest

import modbot_adapters.http_api as http_api
from modbot.app import build_services, create_adapters
from modbot.ports import ActionSink
from tests.adapters.http_api.harness import api_settings
from tests.conftest import make_settings


def test_the_port_turns_the_api_on(tmp_path):
    assert http_api.missing_settings(make_settings(tmp_path)) == ["MODBOT_HTTP_API__PORT (or [http_api] port)"]
    assert http_api.missing_settings(make_settings(tmp_path, http_api={"port": 0})) == []


async def test_create_adapters_registers_the_http_sink_only_when_enabled(tmp_path):
    services = await build_services(make_settings(tmp_path), reasoner=None, prefilter=None)
    try:
        assert [a.platform for a in create_adapters(services)] == []
    finally:
        await services.close()
    services = await build_services(api_settings(tmp_path, None), reasoner=None, prefilter=None)
    try:
        (adapter,) = create_adapters(services)
        assert adapter.platform == "http" and isinstance(adapter.sink, ActionSink)
        assert services.dispatcher.sinks["http"] is adapter.sink
    finally:
        await services.close()


async def test_a_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        services = await build_services(api_settings(tmp_path, None, port=port), reasoner=None, prefilter=None)
        try:
            (adapter,) = create_adapters(services)
            with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port}"):
                await asyncio.wait_for(adapter.run(), 10)
        finally:
            await services.close()
