"""The documented example plugin (docs/http_api_plugin.py) against the real core and the real HTTP API.

Everything runs on loopback: the core built by the composition root on a SQLite file, the ``http``
adapter serving on a free port, and the example's callback receiver on another. A phishing link that
the shipped policy's keyword stage removes at once (SC1, ``act_on_match``) goes in through the example
client; the verdict comes back, and modbot's signed callbacks reach the receiver, which executes them
once each and refuses forged, replayed and repeated deliveries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib.util
import io
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType

import pytest

from modbot.app import build_services, create_adapters
from modbot.config import AppSettings
from modbot.domain import ServerRef

REPO = Path(__file__).resolve().parents[2]
PLUGIN_FILE = REPO / "docs" / "http_api_plugin.py"
TOKEN = "t0ken-for-tests"
SECRET = "s3cret-for-tests"
SERVER = "mc-eu-1"
#: The keys of every callback payload (the documented contract).
CALLBACK_FIELDS = {
    "action", "server_id", "channel_id", "message_id", "author_id", "case_id", "decision", "rule_ids", "rationale",
    "duration_s", "idempotency_key", "reason", "member_notice",
}
#: SC1 in policies/game-community.md: a Steam lookalike domain, removed by the keyword stage at once.
PHISHING = "free skins at steamcommunlty.com/gift, log in quick"


def load_plugin() -> ModuleType:
    """The example as a module, from its file (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("http_api_plugin", PLUGIN_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


plugin = load_plugin()


class RecordingReceiver(plugin.CallbackReceiver):  # type: ignore[name-defined,misc]
    """The example's receiver, also keeping every delivery as it arrived (headers, raw body, answer)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deliveries: list[tuple[dict[str, str], bytes, int]] = []

    def handle(self, headers, body):
        status, answer = super().handle(headers, body)
        self.deliveries.append((dict(headers.items()), body, status))
        return status, answer


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """A blocking POST (as modbot's callbacks arrive): status and JSON answer, errors included."""
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def signed(body: bytes, key: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers modbot sends with ``body``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Modbot-Timestamp": stamp, "X-Modbot-Signature": plugin.sign(secret, stamp, body), "Idempotency-Key": key}


async def eventually(check: Callable[[], object], timeout_s: float = 15.0) -> None:
    """Wait until ``check()`` is truthy (the pipeline and the callbacks run in the background)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        await asyncio.sleep(0.05)


def executed_kinds(receiver: RecordingReceiver) -> list[str]:
    return [action["action"] for action in receiver.executed]


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    """The example's callback receiver, serving on a free loopback port."""
    started = RecordingReceiver(SECRET, port=0).start()
    yield started
    started.stop()


async def test_example_plugin_end_to_end(tmp_path: Path, receiver: RecordingReceiver) -> None:
    pytest.importorskip("modbot_adapters.http_api.adapter", reason="the HTTP API adapter (adapters/http_api) is not there yet")
    from modbot_adapters.http_api import signing

    settings = AppSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3",
        policy_dir=REPO / "policies",
        prefilter_enabled=False,
        reasoner={"backend": "none"},
        http_api={"port": 0, "token": TOKEN, "callback_url": receiver.url, "callback_secret": SECRET},
        server_defaults={"mode": "enforce", "moderator_role_ids": ["mod"]},
        pipeline={"sweep_interval_s": 0.05, "action_retry_base_s": 0.05},
    )
    services = await build_services(settings, reasoner=None, prefilter=None)
    (adapter,) = [adapter for adapter in create_adapters(services) if adapter.platform == "http"]
    serving = asyncio.create_task(adapter.run())
    try:
        await services.start()
        await asyncio.wait_for(adapter.started.wait(), 10)
        client = plugin.ModbotClient(f"http://127.0.0.1:{adapter.port}", TOKEN, SERVER)

        # 1. A chat line goes in and is judged by the shipped policy's keyword stage.
        queued = await asyncio.to_thread(client.post_message, "m-1", "griefer42", PHISHING, author_roles=["member"])
        assert queued["status"] == "queued" and isinstance(queued["id"], int)
        verdict = await asyncio.to_thread(client.verdict, "m-1", 15.0)
        assert verdict["decision"] in ("remove", "remove_and_timeout"), verdict
        assert "SC1" in verdict["rule_ids"] and verdict["stage"] == "keyword"
        assert client.last_message_status == "judged"
        again = await asyncio.to_thread(client.post_message, "m-1", "griefer42", PHISHING, author_roles=["member"])
        assert again == {"status": "duplicate", "id": queued["id"]}

        # 2. modbot's callbacks reach the receiver, signed, and are executed: the line deleted, the case posted.
        await eventually(lambda: len(receiver.executed) >= 4)
        assert executed_kinds(receiver) == ["delete", "timeout", "warn", "post_case"]
        delete, timeout, warn, _ = receiver.executed
        assert set(delete) == CALLBACK_FIELDS
        assert (delete["server_id"], delete["message_id"], delete["author_id"]) == (SERVER, "m-1", "griefer42")
        assert delete["decision"] == verdict["decision"] and "SC1" in delete["rule_ids"]
        assert timeout["duration_s"] == 7 * 86_400  # SC1 is critical: the policy's 7d timeout
        assert "SC1" in warn["member_notice"]
        case_id = delete["case_id"]

        for headers, body, status in receiver.deliveries:
            assert status == 200
            assert plugin.verify(SECRET, headers["X-Modbot-Timestamp"], headers["X-Modbot-Signature"], body)
            assert signing.verify(SECRET, headers, body)  # the example and the adapter agree on the scheme
            assert headers["Idempotency-Key"] == json.loads(body)["idempotency_key"]
        # The receiver's "ref" is what modbot keeps as where the case was posted.
        for _ in range(100):
            case = await services.storage.cases.get_case(ServerRef("http", SERVER), case_id)
            if case is not None and case.posted_ref:
                break
            await asyncio.sleep(0.05)
        assert case is not None and case.posted_ref == f"case:{case_id}"

        # 3. Forged and replayed deliveries are refused; a repeated one is executed once.
        headers, body, _ = receiver.deliveries[0]
        key = headers["Idempotency-Key"]
        count = len(receiver.executed)
        forged = await asyncio.to_thread(post, receiver.url, body, signed(body, key, secret="not-the-secret"))
        assert forged[0] == 401
        tampered = body.replace(b"griefer42", b"innocent1")
        as_sent = {name: headers[name] for name in ("X-Modbot-Timestamp", "X-Modbot-Signature", "Idempotency-Key")}
        assert (await asyncio.to_thread(post, receiver.url, tampered, as_sent))[0] == 401
        old = int(time.time()) - 600
        assert (await asyncio.to_thread(post, receiver.url, body, signed(body, key, timestamp=old)))[0] == 401
        replayed = await asyncio.to_thread(post, receiver.url, body, signed(body, key))
        assert replayed[0] == 200 and replayed[1]["duplicate"] is True
        assert len(receiver.executed) == count

        fresh = json.dumps({**json.loads(body), "action": "timeout", "duration_s": 60, "idempotency_key": "k-test"}).encode()
        first = await asyncio.to_thread(post, receiver.url, fresh, signed(fresh, "k-test"))
        second = await asyncio.to_thread(post, receiver.url, fresh, signed(fresh, "k-test"))
        assert first == (200, {"ref": "muted:griefer42"})
        assert second == (200, {"ref": "muted:griefer42", "duplicate": True})
        assert len(receiver.executed) == count + 1

        # 4. Moderators: a command and a review through the example client; a non-moderator is refused.
        stats = await asyncio.to_thread(client.command, "admin-7", "/mod stats 7", ["mod"])
        assert stats["ok"] is True
        review = await asyncio.to_thread(client.review, case_id, "overturn", "admin-7", ["mod"])
        assert review["ok"] is True
        with pytest.raises(plugin.ModbotError) as refused:
            await asyncio.to_thread(client.command, "griefer42", "/mod stats 7", ["member"])
        assert refused.value.status == 403
        with pytest.raises(plugin.ModbotError) as unknown:
            await asyncio.to_thread(client.verdict, "never-sent")
        assert unknown.value.status == 404
        with pytest.raises(plugin.ModbotError) as unauthorised:
            await asyncio.to_thread(plugin.ModbotClient(client.base_url, "wrong", SERVER).verdict, "m-1")
        assert unauthorised.value.status == 401

        # 5. New text under a known message id is an edit, judged again.
        edited = await asyncio.to_thread(client.post_message, "m-1", "griefer42", "sorry, wrong link", author_roles=["member"])
        assert edited["status"] == "queued" and edited["id"] != queued["id"]
        assert (await asyncio.to_thread(client.verdict, "m-1", 15.0))["decision"] == "allow"

        # 6. A server's own token works for that server only; its callbacks go to its own URL, signed with
        #    its own secret: hex HMAC-SHA256(callback_secret, "modbot-callback:" + server_id).
        own_secret = hmac.new(SECRET.encode(), b"modbot-callback:mc-eu-3", hashlib.sha256).hexdigest()
        own_receiver = RecordingReceiver(own_secret, port=0).start()
        try:
            issued = await adapter.clients.create("mc-eu-3", callback_url=own_receiver.url)
            own = plugin.ModbotClient(client.base_url, issued.token, "mc-eu-3")
            await asyncio.to_thread(own.post_message, "x-1", "griefer42", PHISHING)
            await eventually(lambda: "delete" in executed_kinds(own_receiver))
            with pytest.raises(plugin.ModbotError) as elsewhere:
                await asyncio.to_thread(plugin.ModbotClient(client.base_url, issued.token, SERVER).verdict, "m-1")
            assert elsewhere.value.status == 403
        finally:
            own_receiver.stop()

        # 7. The command line: --demo posts a fine line and a phishing one and prints their verdicts.
        out = io.StringIO()

        def run_demo() -> int:
            with redirect_stdout(out):
                return plugin.main(["--url", client.base_url, "--token", TOKEN, "--server", "mc-eu-2", "--demo"])

        assert await asyncio.to_thread(run_demo) == 0
        printed = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
        assert [row["verdict"]["decision"] for row in printed][0] == "allow"
        assert printed[1]["verdict"]["decision"] in ("remove", "remove_and_timeout")
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await services.close()


def test_seen_file_keeps_a_restarted_receiver_from_redoing_actions(tmp_path: Path) -> None:
    seen = tmp_path / "seen.jsonl"
    body = json.dumps({"action": "ban", "server_id": SERVER, "author_id": "griefer42", "idempotency_key": "k-1"}).encode()
    first = plugin.CallbackReceiver(SECRET, seen_file=str(seen))
    try:
        assert first.handle(signed(body, "k-1"), body) == (200, {"ref": "banned:griefer42"})
    finally:
        first.stop()
    restarted = plugin.CallbackReceiver(SECRET, seen_file=str(seen))
    try:
        assert restarted.handle(signed(body, "k-1"), body) == (200, {"ref": "banned:griefer42", "duplicate": True})
        assert restarted.executed == []
        unknown = json.dumps({"action": "explode", "idempotency_key": "k-2"}).encode()
        assert restarted.handle(signed(unknown, "k-2"), unknown)[0] == 422
    finally:
        restarted.stop()


def test_signature_matches_the_documented_formula() -> None:
    body = b'{"action":"delete"}'
    expected = "v1=" + hmac.new(SECRET.encode(), b"v1:1764620100:" + body, hashlib.sha256).hexdigest()
    assert plugin.sign(SECRET, "1764620100", body) == expected
    assert plugin.verify(SECRET, "1764620100", expected, body, now=1764620100 + 299)
    assert not plugin.verify(SECRET, "1764620100", expected, body, now=1764620100 + 301)
    assert not plugin.verify(SECRET, "1764620100", expected.replace("v1=", "v1=0"), body, now=1764620100)
