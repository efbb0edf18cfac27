"""``modbot serve`` as operators run it, with only the HTTP API and ``MODBOT_METRICS__PORT``: a real
process on loopback, scraped over HTTP, logging JSON lines that never carry a secret."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.adapters.http_api.harness import CALLBACK_SECRET, CHEAT, OPERATOR_TOKEN, SCAM
from tests.metrics.support import healthz, scrape

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MODBOT = Path(sys.executable).with_name("modbot")
REASONER_KEY = "sk-reasoner-key-never-logged-42"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(tmp_path: Path, api_port: int) -> Path:
    path = tmp_path / "modbot.toml"
    path.write_text(
        f"""
database_url = "sqlite+aiosqlite:///{tmp_path / 'modbot.sqlite3'}"
policy_dir = "{REPO / 'policies'}"
prefilter_enabled = false
[pipeline]
sweep_interval_s = 0.1
[reasoner]
backend = "none"
[http_api]
port = {api_port}
""",
        encoding="utf-8",
    )
    return path


def _environment(metrics_port: int) -> dict[str, str]:
    # Only the HTTP API: no Discord or Slack variable may leak in from the machine running the tests.
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "SLACK", "MODBOT"))}
    return {
        **keep,
        "MODBOT_HTTP_API__TOKEN": OPERATOR_TOKEN,
        "MODBOT_HTTP_API__CALLBACK_SECRET": CALLBACK_SECRET,
        "MODBOT_REASONER_API_KEY": REASONER_KEY,
        "MODBOT_METRICS__PORT": str(metrics_port),
    }


async def _until(check, what: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0):
    for _ in range(int(timeout_s / 0.1)):
        if process.poll() is not None:
            raise AssertionError(f"modbot serve exited while waiting for {what}: {process.stderr.read().decode()[-2000:]}")
        try:
            result = await check()
            if result:
                return result
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_serve_exposes_metrics_and_health_and_logs_json_lines_without_secrets(tmp_path):
    api_port, metrics_port = _free_port(), _free_port()
    metrics = f"http://127.0.0.1:{metrics_port}"
    process = subprocess.Popen(
        [str(MODBOT), "serve", "--config", str(_config(tmp_path, api_port)), "--log-format", "json"],
        env=_environment(metrics_port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        ) as api:

            async def api_up():
                return (await api.get("/v1/healthz")).status_code == 200

            await _until(api_up, "the HTTP API", process)
            for number, text in enumerate([SCAM, CHEAT, "gg, well played", "see you tomorrow"]):
                posted = await api.post(
                    "/v1/servers/mc-1/messages",
                    json={"message_id": f"m{number}", "channel_id": "global", "author_id": "p1", "text": text},
                )
                assert posted.status_code == 202

        async def all_judged():
            scraped = await scrape(metrics)
            return scraped if scraped.value("modbot_pipeline_events_total", event="judged") == 4 else None

        scraped = await _until(all_judged, "4 judged messages in /metrics", process)
        judged = {
            (dict(k)["stage"], dict(k)["decision"]): v for k, v in scraped.matching("modbot_messages_judged_total").items()
        }
        # No reasoner: the scam link is acted on at once, the cheat word is flagged, the rest allowed.
        assert judged == {("keyword", "remove_and_timeout"): 1, ("keyword", "flag"): 1, ("keyword", "allow"): 2}
        assert scraped.value("modbot_stage_latency_seconds_count", stage="keyword") == 4
        assert scraped.value("modbot_escalation_share") == 0
        assert scraped.value("modbot_database_up") == 1

        status, body = await healthz(metrics)
        assert status == 200 and body["database"] == "ok" and body["backlog"] == 0
        # Before the composition root reports platform states there are none; after, the API is connected.
        assert set(body["platforms"].values()) <= {"connected"} and body["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(20) == 0
        finally:
            log = process.stderr.read().decode()
            process.stderr.close()

    lines = [line for line in log.splitlines() if line.strip()]
    assert lines, "modbot serve logged nothing"
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    assert any(f"127.0.0.1:{metrics_port}" in entry["message"] for entry in entries)
    for secret in (OPERATOR_TOKEN, CALLBACK_SECRET, REASONER_KEY):
        assert secret not in log
