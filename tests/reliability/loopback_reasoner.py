"""A loopback llama-server stand-in for fault tests: real HTTP on 127.0.0.1, faults on demand.

It speaks the one call the HTTP reasoner makes with ``http_api = "completion"`` (``POST /completion``,
prompt as token ids) and answers with a real harmony completion (token ids, as llama-server's
``return_tokens`` does): a violation of CH1 when the prompt mentions "aimbot", safe otherwise. The model is
the only fake here; the reasoner, its HTTP client, retries and the core are the real ones.

``mode`` says how the server behaves now: ``ok``, ``hang`` (never answers), ``500`` (every request), or
``close`` (drops the connection without an answer, like a server that crashes mid-request). ``stop()``
takes the listener away (connection refused); ``start()`` brings it back on the same port.
"""

from __future__ import annotations

import asyncio
import json
import socket

from aiohttp import web

from modbot.stages.reasoner import HarmonyCodec
from modbot.stages.reasoner.harmony import TOKEN_RETURN

__all__ = ["LoopbackReasoner", "free_port"]

VIOLATION = '{"violation": 1, "policy_category": "cheats", "rule_ids": ["CH1"], "confidence": 0.9, "rationale": "Sells cheats."}'
SAFE = '{"violation": 0, "policy_category": null, "rule_ids": [], "confidence": 0.9, "rationale": "Fine."}'


def free_port() -> int:
    """A loopback port nobody listens on (bound and released: the kernel does not hand it out again soon)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackReasoner:
    """The server; ``requests`` counts what reached it, answered or not."""

    def __init__(self, codec: HarmonyCodec, port: int | None = None):
        self.codec = codec
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.mode = "ok"
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._hanging: list[asyncio.Future[None]] = []

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/completion", self._completion)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        for waiter in self._hanging:
            waiter.cancel()
        self._hanging.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _answer(self, prompt: list[int]) -> dict:
        final = VIOLATION if "aimbot" in self.codec.decode(prompt) else SAFE
        text = f"<|channel|>analysis<|message|>Checked.<|end|><|start|>assistant<|channel|>final<|message|>{final}"
        tokens = self.codec.encode_completion_text(text) + [TOKEN_RETURN]
        return {
            "content": "",
            "tokens": tokens,
            "tokens_evaluated": len(prompt),
            "stop_type": "eos",
            "timings": {"prompt_n": len(prompt)},
        }

    async def _completion(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = json.loads(await request.read())
        if self.mode == "hang":
            waiter = asyncio.get_running_loop().create_future()
            self._hanging.append(waiter)
            await waiter  # until stop() or the client gives up
        if self.mode == "500":
            return web.json_response({"error": "model crashed"}, status=500)
        if self.mode == "close":
            assert request.transport is not None
            request.transport.close()  # no status line, no body: the client sees the connection drop
            return web.Response()
        return web.json_response(self._answer(body["prompt"]))
