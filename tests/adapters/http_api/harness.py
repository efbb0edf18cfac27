"""Test harness: the real core (``modbot.app.build_services``) on a SQLite file, the real HTTP API adapter
serving on a loopback port, and a loopback callback receiver that checks signatures with the adapter's
own ``verify`` and records what it was sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from modbot_adapters.http_api import HttpApiAdapter
from modbot_adapters.http_api.signing import IDEMPOTENCY_HEADER, verify
from modbot.app import Services, build_services, create_adapters
from modbot.config import PipelineSettings
from modbot.domain import ServerRef
from modbot.domain.settings import ServerSettings
from tests.conftest import make_settings

OPERATOR_TOKEN = "operator-token-0123456789abcdef"
CALLBACK_SECRET = "callback-secret-fedcba9876543210"
SERVER = "srv-a"
OTHER = "srv-b"
MOD_ROLE = "role-mod"
MOD_CHANNEL = "chan-mods"
#: Keywords of the shared test policy (tests/conftest.py): an act-on-match scam link (remove and time
#: out at once, no reasoner needed) and a cheat word (flagged for a moderator: a case is posted).
SCAM = "claim your prize at free-nitro.example today"
CHEAT = "anyone selling an aimbot?"


def ref(server_id: str = SERVER) -> ServerRef:
    return ServerRef("http", server_id)


@dataclass
class Delivery:
    path: str
    payload: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def key(self) -> str:
        return self.headers[IDEMPOTENCY_HEADER]


@dataclass
class Receiver:
    """A plugin's callback endpoint on 127.0.0.1: ``fail`` lists statuses to answer first, in order;
    ``status`` is the answer after that. Unsigned or badly signed deliveries get 401."""

    secrets: dict[str, str] = field(default_factory=lambda: {"": CALLBACK_SECRET})
    status: int = 200
    fail: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    #: Answer this late (to test the sink's timeout), and with this Retry-After header on a 429.
    delay_s: float = 0.0
    retry_after: str | None = None
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callbacks"

    def url_for(self, name: str) -> str:
        return f"{self.url}/{name}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        name = request.match_info.get("name", "")
        verified = verify(self.secrets.get(name, ""), request.headers, body)
        self.deliveries.append(Delivery(request.path, json.loads(body), dict(request.headers), body, verified))
        if not verified:
            return web.json_response({"error": "bad signature"}, status=401)
        status = self.fail.pop(0) if self.fail else self.status
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if 200 <= status < 300:
            return web.json_response(self.reply or {}, status=status)
        headers = {"Retry-After": self.retry_after} if status == 429 and self.retry_after else None
        return web.json_response({"error": f"answering {status}"}, status=status, headers=headers)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/callbacks", self._handle)
        app.router.add_post("/callbacks/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, predicate: Callable[[list[Delivery]], bool], timeout: float = 5.0) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self.deliveries):
            if loop.time() > deadline:
                raise AssertionError(f"deliveries never matched; got {[d.payload for d in self.deliveries]}")
            await asyncio.sleep(0.01)
        return self.deliveries

    def of_kind(self, kind: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.payload["action"] == kind]


def api_settings(tmp_path: Path, receiver: Receiver | None, *, server_defaults: dict[str, Any] | None = None, **http: Any):
    values: dict[str, Any] = {
        "port": 0,
        "token": OPERATOR_TOKEN,
        "callback_url": receiver.url if receiver is not None else None,
        "callback_secret": CALLBACK_SECRET,
        "callback_timeout_s": 2.0,
    }
    values.update(http)
    defaults = {
        "policy_id": "test-policy",
        "mode": "enforce",
        "moderator_role_ids": (MOD_ROLE,),
        "mod_channel_id": MOD_CHANNEL,
        **(server_defaults or {}),
    }
    return make_settings(
        tmp_path,
        http_api=values,
        server_defaults=ServerSettings(**defaults),
        pipeline=PipelineSettings(
            queue_size=100, workers=2, sweep_interval_s=0.05, action_retry_base_s=0.05, action_retry_max_s=0.2
        ),
    )


@dataclass
class Api:
    """The bot under test: services, the adapter serving, and a client with the operator token."""

    services: Services
    adapter: HttpApiAdapter
    task: asyncio.Task[None]
    client: httpx.AsyncClient

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.port}"

    def as_token(self, token: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10)

    async def post(self, text: str, *, message_id: str, server: str = SERVER, client: httpx.AsyncClient | None = None, **fields: Any) -> httpx.Response:
        body = {"message_id": message_id, "channel_id": "general", "author_id": "player-1", "text": text, **fields}
        return await (client or self.client).post(f"/v1/servers/{server}/messages", json=body)

    async def verdict(self, message_id: str, *, server: str = SERVER, client: httpx.AsyncClient | None = None) -> httpx.Response:
        return await (client or self.client).get(f"/v1/servers/{server}/messages/{message_id}/verdict")

    async def command(self, text: str, *, roles: tuple[str, ...] = (MOD_ROLE,), invoker: str = "mod-1", server: str = SERVER) -> httpx.Response:
        body = {"invoker_id": invoker, "invoker_roles": list(roles), "text": text}
        return await self.client.post(f"/v1/servers/{server}/commands", json=body)

    async def settle(self) -> None:
        await self.services.pipeline.drain(10)

    async def close(self) -> None:
        await self.client.aclose()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.services.close()


async def start_api(tmp_path: Path, receiver: Receiver | None, *, start_pipeline: bool = True, **options: Any) -> Api:
    settings = api_settings(tmp_path, receiver, **options)
    services = await build_services(settings, reasoner=None, prefilter=None)
    (adapter,) = [a for a in create_adapters(services) if a.platform == "http"]
    assert isinstance(adapter, HttpApiAdapter)
    if start_pipeline:
        await services.start()
    task = asyncio.create_task(adapter.run())
    await asyncio.wait_for(adapter.started.wait(), 10)
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{adapter.port}", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}, timeout=10
    )
    return Api(services, adapter, task, client)
