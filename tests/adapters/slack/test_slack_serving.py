"""``run()`` for real: Socket Mode over a loopback WebSocket, and HTTP mode on a real port."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from tests.adapters.slack.slack_harness import (
    ADMIN,
    ADMIN_TOKEN,
    MOD_CHANNEL,
    event_envelope,
    message_payload,
    signed_headers,
    start_harness,
)

APP_TOKEN = "xapp-1-A1-socket"


async def _stop(task: asyncio.Task) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def test_socket_mode_receives_events_and_commands_and_acks_them(tmp_path):
    h = await start_harness(tmp_path, mode="socket", app_token=APP_TOKEN, signing_secret=None)
    task = asyncio.create_task(h.adapter.run())
    try:
        envelope = {
            "envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf",
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": event_envelope(message_payload("free-nitro.example")),
        }
        await h.mock.send_envelope(envelope)
        await h.mock.wait_for(lambda: any(a.get("envelope_id") == envelope["envelope_id"] for a in h.mock.socket_acks))
        await h.settle(1)
        (opened,) = h.mock.called("apps.connections.open")
        assert opened.token == APP_TOKEN
        assert h.mock.called("chat.delete")[0].token == ADMIN_TOKEN

        command = {
            "envelope_id": "a8e1f7d1-cmd",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {"team_id": "T1", "user_id": ADMIN, "user_name": "admin", "command": "/mod", "text": "queue",
                        "channel_id": MOD_CHANNEL, "response_url": h.mock.response_url("socket-queue"), "trigger_id": "t"},
        }
        await h.mock.send_envelope(command)
        answer = await h.response("socket-queue")
        assert "Review queue (1 open)" in answer["text"]
        # The ack comes back over the socket, the answer over HTTP: either may arrive first.
        await h.mock.wait_for(lambda: any(a.get("envelope_id") == "a8e1f7d1-cmd" for a in h.mock.socket_acks))

        # No signing secret in Socket Mode, so no HTTP events endpoint that anyone could forge.
        async with TestClient(TestServer(h.adapter.web_app())) as client:
            body = json.dumps(event_envelope(message_payload("x")))
            assert (await client.post("/slack/events", data=body)).status in (404, 405)
    finally:
        await _stop(task)
        assert h.adapter._socket is None
        await h.services.close()
        await h.mock.stop()


async def test_http_mode_serves_signed_events_on_its_port(tmp_path):
    h = await start_harness(tmp_path, http_port=0)
    task = asyncio.create_task(h.adapter.run())
    try:
        await h.mock.wait_for(lambda: h.adapter.http_port is not None)
        base = f"http://127.0.0.1:{h.adapter.http_port}"
        body = json.dumps(event_envelope(message_payload("free-nitro.example")))
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/healthz") as health:
                assert health.status == 200
            headers = signed_headers(body, content_type="application/json")
            async with session.post(base + "/slack/events", data=body, headers=headers) as response:
                assert response.status == 200
            form = urlencode({"team_id": "T1", "user_id": ADMIN, "command": "/mod", "text": "help",
                              "response_url": h.mock.response_url("http-help"), "trigger_id": "t"})
            headers = signed_headers(form, content_type="application/x-www-form-urlencoded")
            async with session.post(base + "/slack/events", data=form, headers=headers) as response:
                assert response.status == 200
        await h.settle(1)
        assert len(h.mock.called("chat.delete")) == 1
        assert "modbot moderator commands" in (await h.response("http-help"))["text"]
    finally:
        await _stop(task)
        await h.services.close()
        await h.mock.stop()
