"""``modbot serve`` as a real process when a platform cannot be reached, or refuses its token.

Discord is the real discord.py client; its REST base (``discord.http.Route.BASE``, the only thing changed,
before the real ``modbot`` entry point runs) is a name that never resolves (``.invalid``), as with no
network at all, or a loopback fake that answers 401. The HTTP API listens on loopback, so it keeps
judging while Discord is retried. What the operator reads on stderr is checked: one line per retry, no
traceback, no piece of any secret.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.adapters.discord.fake_discord import FakeDiscord
from tests.test_secrets import assert_no_piece_of

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DISCORD_TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.mnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
OPERATOR_TOKEN = "Op7Hq2Lm9Xv4Rt8Kp3Zw1Yd"
CALLBACK_SECRET = "Cb5Yc1Bz6Df0Gs7JnQ4Ex2"
SCAM = "claim your prize at free-nitro.example today"
#: The real entry point, with discord.py's REST base moved first (the test's one seam at the network edge).
LAUNCH = (
    "import sys, discord.http; discord.http.Route.BASE = sys.argv.pop(1); "
    "from modbot.cli.main import main; sys.argv[0] = 'modbot'; main()"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(tmp_path: Path, http_port: int | None) -> Path:
    path = tmp_path / "modbot.toml"
    http = f"[http_api]\nport = {http_port}\n" if http_port is not None else ""
    path.write_text(
        f"""
database_url = "sqlite+aiosqlite:///{tmp_path / 'modbot.sqlite3'}"
policy_dir = "{REPO / 'policies'}"
prefilter_enabled = false
[reasoner]
backend = "none"
[learning]
enabled = false
[platforms]
reconnect_base_s = 0.2
reconnect_max_s = 0.5
{http}""",
        encoding="utf-8",
    )
    return path


def _environment(tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "SLACK", "MODBOT"))}
    return {
        **keep,
        "HOME": str(tmp_path),
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "MODBOT_HTTP_API__TOKEN": OPERATOR_TOKEN,
        "MODBOT_HTTP_API__CALLBACK_SECRET": CALLBACK_SECRET,
    }


def _start(tmp_path: Path, discord_base: str, http_port: int | None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, discord_base, "serve", "--config", str(_config(tmp_path, http_port))],
        cwd=tmp_path,
        env=_environment(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _healthy(process: subprocess.Popen[str], port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(600):
            if process.poll() is not None:
                raise AssertionError(f"modbot serve exited: {process.communicate()[1][-3000:]}")
            try:
                if (await client.get("/v1/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("modbot serve never answered /v1/healthz")


async def test_serve_without_discord_keeps_retrying_in_one_line_and_the_http_api_still_judges(tmp_path):
    port = _free_port()
    process = _start(tmp_path, "http://discord.invalid/api/v10", port)
    try:
        await _healthy(process, port)
        started = time.monotonic()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}, timeout=10
        ) as client:
            posted = await client.post(
                "/v1/servers/mc-1/messages",
                json={"message_id": "m1", "channel_id": "global", "author_id": "griefer", "text": SCAM},
            )
            assert posted.status_code == 202, posted.text
            for _ in range(100):
                verdict = await client.get("/v1/servers/mc-1/messages/m1/verdict")
                if verdict.status_code == 200 and verdict.json().get("decision"):
                    break
                await asyncio.sleep(0.1)
            assert verdict.status_code == 200 and verdict.json()["decision"] == "remove_and_timeout", verdict.text
        await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - started)))
        assert process.poll() is None, "serve keeps running while Discord cannot be reached"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, stderr[-3000:]  # SIGTERM still shuts down cleanly
    retries = [line for line in stderr.splitlines() if "modbot.platforms: discord: cannot reach" in line]
    assert len(retries) >= 3, stderr[-3000:]
    assert all("discord.invalid (DNS lookup failed); retrying in " in line for line in retries)
    assert "Traceback" not in stderr
    assert_no_piece_of(stderr, DISCORD_TOKEN, OPERATOR_TOKEN, CALLBACK_SECRET)


async def test_serve_exits_non_zero_when_every_platform_refuses_its_token(tmp_path):
    fake = await FakeDiscord().start()
    fake.fail("GET", "/users/@me", 401, 0, "401: Unauthorized", times=100)
    try:
        process = _start(tmp_path, fake.api_base, None)
        try:
            # communicate() blocks: run it off the event loop, which serves the fake.
            _, stderr = await asyncio.wait_for(asyncio.to_thread(process.communicate), 120)
        finally:
            if process.poll() is None:
                process.kill()
    finally:
        await fake.close()
    assert process.returncode == 1, stderr[-3000:]
    assert len(fake.calls("GET", "/users/@me")) == 1, "a refused token is not retried"
    assert "modbot serve stopped: no platform is left running." in stderr
    assert "  discord: Discord rejected DISCORD_TOKEN (401 Unauthorized): copy the bot token again" in stderr
    assert "Traceback" not in stderr
    assert_no_piece_of(stderr, DISCORD_TOKEN, OPERATOR_TOKEN, CALLBACK_SECRET)
