"""The HTTP event API's cost: messages posted over loopback HTTP beside the same core fed in-process.

Run: ``.venv/bin/python bench/http_api.py [--messages 2000] [--concurrency 32]``. Both runs use a fresh
SQLite file, the keyword stage and no reasoner or prefilter (so the API's own cost shows). Prints, from
one run: messages/s posted through ``POST /v1/servers/{id}/messages`` until every one is judged, the
same messages through ``Core.submit`` directly (32 concurrent submitters), their ratio, the median/p95
time from POST to a 200 verdict for every 20th message (polled every 20 ms), and when the callbacks
for the removed messages had all reached a loopback receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections import Counter
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from modbot.app import build_services, create_adapters  # noqa: E402
from modbot.config import AppSettings  # noqa: E402
from modbot.domain import MessageEvent, ServerRef  # noqa: E402

TOKEN = "bench-operator-token"
SECRET = "bench-callback-secret"
CHAT = ["gg ez", "push mid", "need heals", "anyone up for ranked?", "lag is insane today", "ty for the carry"]
SCAM = "claim your prize at free-nitro.example today"


def settings(folder: Path, receiver_url: str) -> AppSettings:
    return AppSettings(
        database_url=f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}",
        policy_dir=REPO / "policies",
        prefilter_enabled=False,
        reasoner={"backend": "none"},
        server_defaults={"mode": "enforce", "policy_id": "game-community"},
        pipeline={"queue_size": 10_000, "workers": 32, "sweep_interval_s": 0.5},
        http_api={"port": 0, "token": TOKEN, "callback_url": receiver_url, "callback_secret": SECRET,
                  "rate_per_s": 1e6, "burst": 10**6},
    )


def texts(n: int) -> list[str]:
    return [SCAM if i % 50 == 0 else f"{CHAT[i % len(CHAT)]} {i}" for i in range(n)]


async def receiver() -> tuple[web.AppRunner, str, list[tuple[float, str]]]:
    arrivals: list[tuple[float, str]] = []

    async def handle(request: web.Request) -> web.Response:
        payload = await request.json()
        arrivals.append((time.perf_counter(), payload["action"]))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/cb", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/cb", arrivals


async def over_http(n: int, concurrency: int) -> dict[str, float]:
    runner, url, arrivals = await receiver()
    with tempfile.TemporaryDirectory() as folder:
        services = await build_services(settings(Path(folder), url), reasoner=None, prefilter=None)
        (adapter,) = create_adapters(services)
        await services.start()
        serving = asyncio.create_task(adapter.run())
        await asyncio.wait_for(adapter.started.wait(), 10)
        base = f"http://127.0.0.1:{adapter.port}"
        # aiohttp's client, not httpx's: with dozens of concurrent requests httpx's connection pool
        # costs more CPU than the server (a plugin is another process anyway).
        connector = aiohttp.TCPConnector(limit=concurrency)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession(base, connector=connector, headers=headers) as client:
            gate = asyncio.Semaphore(concurrency)
            latencies: list[float] = []

            async def post(i: int, text: str) -> None:
                async with gate:
                    began = time.perf_counter()
                    body = {"message_id": f"m{i}", "channel_id": "global", "author_id": f"p{i % 97}", "text": text}
                    async with client.post("/v1/servers/bench/messages", json=body) as answer:
                        assert answer.status == 202, await answer.text()
                if i % 20 == 0:  # a sample polls its verdict, as a plugin would (not every line: that would be a flood)
                    while True:
                        async with client.get(f"/v1/servers/bench/messages/m{i}/verdict") as answer:
                            if answer.status == 200:
                                break
                        await asyncio.sleep(0.02)
                    latencies.append(time.perf_counter() - began)

            started = time.perf_counter()
            await asyncio.gather(*(post(i, t) for i, t in enumerate(texts(n))))
            await services.pipeline.drain(300)
            elapsed = time.perf_counter() - started
        expected = sum(1 for t in texts(n) if t == SCAM) * 4  # delete, timeout, warn, post_case
        while len(arrivals) < expected and time.perf_counter() - started < 120:
            await asyncio.sleep(0.05)
        callbacks_s = (arrivals[-1][0] - started) if arrivals else float("nan")
        kinds = Counter(kind for _, kind in arrivals)
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await services.close()
    await runner.cleanup()
    latencies.sort()
    return {
        "rate": n / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "callbacks": len(arrivals),
        "kinds": dict(kinds),
        "callbacks_expected": expected,
        "callbacks_done_s": callbacks_s,
    }


async def in_process(n: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        services = await build_services(settings(Path(folder), "http://127.0.0.1:9/none"), reasoner=None, prefilter=None)
        await services.start()
        server = ServerRef("http", "bench")
        gate = asyncio.Semaphore(32)

        async def submit(i: int, text: str) -> None:
            async with gate:
                await services.core.submit(MessageEvent(server, "global", f"m{i}", f"p{i % 97}", text))

        started = time.perf_counter()
        await asyncio.gather(*(submit(i, t) for i, t in enumerate(texts(n))))
        await services.pipeline.drain(300)
        elapsed = time.perf_counter() - started
        await services.close()
    return n / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    reference = await in_process(args.messages)
    http = await over_http(args.messages, args.concurrency)
    print(f"messages: {args.messages}, HTTP concurrency {args.concurrency}")
    print(f"in-process Core.submit until judged (ref): {reference:8.0f} msg/s")
    print(f"over HTTP (POST until judged):          {http['rate']:8.0f} msg/s   ratio {http['rate'] / reference:.2f}")
    print(f"POST → 200 verdict: median {http['p50_ms']:.1f} ms, p95 {http['p95_ms']:.1f} ms")
    print(
        f"callbacks delivered: {http['callbacks']} (at least {http['callbacks_expected']} for the scam lines; "
        f"by kind {http['kinds']}), the last {http['callbacks_done_s']:.2f} s after the first POST"
    )


if __name__ == "__main__":
    asyncio.run(main())
