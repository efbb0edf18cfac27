"""``modbot serve`` as operators run it, with only the HTTP API configured: a real process on loopback,
killed with SIGKILL while its callbacks are failing, then restarted: delivery resumes with the same keys."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.adapters.http_api.harness import CALLBACK_SECRET, OPERATOR_TOKEN, SCAM, Receiver

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
MODBOT = Path(sys.executable).with_name("modbot")
SCAM_ACTIONS = {"delete", "timeout", "warn", "post_case"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(tmp_path: Path, port: int, callback_url: str) -> Path:
    path = tmp_path / "modbot.toml"
    path.write_text(
        f"""
database_url = "sqlite+aiosqlite:///{tmp_path / 'modbot.sqlite3'}"
policy_dir = "{REPO / 'policies'}"
prefilter_enabled = false
[server_defaults]
mode = "enforce"
[pipeline]
sweep_interval_s = 0.1
action_retry_base_s = 0.1
action_retry_max_s = 0.2
[reasoner]
backend = "none"
[http_api]
port = {port}
callback_url = "{callback_url}"
""",
        encoding="utf-8",
    )
    return path


def _environment() -> dict[str, str]:
    # Only the HTTP API: no Discord or Slack variable may leak in from the machine running the tests.
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "SLACK", "MODBOT"))}
    return {**keep, "MODBOT_HTTP_API__TOKEN": OPERATOR_TOKEN, "MODBOT_HTTP_API__CALLBACK_SECRET": CALLBACK_SECRET}


async def _serve(config: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [str(MODBOT), "serve", "--config", str(config)],
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(300):
            if process.poll() is not None:
                raise AssertionError(f"modbot serve exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if (await client.get("/v1/healthz")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("modbot serve never answered /v1/healthz")


async def test_serve_with_only_the_http_api_resumes_delivery_after_sigkill_with_the_same_keys(tmp_path):
    receiver = await Receiver(status=503).start()
    port = _free_port()
    config = _config(tmp_path, port, receiver.url)
    first = await _serve(config, port)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        ) as client:
            posted = await client.post(
                "/v1/servers/mc-1/messages",
                json={"message_id": "m1", "channel_id": "global", "author_id": "griefer", "text": SCAM},
            )
            assert posted.status_code == 202 and posted.json()["status"] == "queued"
            # Every action tried (and refused with 503) at least twice: the process is mid-delivery.
            await receiver.wait_for(
                lambda ds: all(sum(d.payload["action"] == k for d in ds) >= 2 for k in SCAM_ACTIONS), timeout=20
            )
            verdict = await client.get("/v1/servers/mc-1/messages/m1/verdict")
            assert verdict.status_code == 200 and verdict.json()["decision"] == "remove_and_timeout"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        first.stderr.close()
    keys = {d.payload["action"]: d.key for d in receiver.deliveries}
    assert set(keys) == SCAM_ACTIONS and all(d.key == keys[d.payload["action"]] for d in receiver.deliveries)
    seen = len(receiver.deliveries)

    receiver.status = 200
    second = await _serve(config, port)
    try:
        await receiver.wait_for(lambda ds: {d.payload["action"] for d in ds[seen:]} == SCAM_ACTIONS, timeout=20)
        await asyncio.sleep(1.0)  # several sweeps: a settled action is not delivered again
        again = sorted((d.payload["action"], d.key) for d in receiver.deliveries[seen:])
        assert again == sorted(keys.items())
        assert all(d.verified for d in receiver.deliveries)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            assert second.wait(20) == 0
        finally:
            second.stderr.close()
            await receiver.stop()
