"""Actions delivered as signed callbacks, end to end on the real core: payloads, signatures, per-server
routes and secrets, refusals, and retries with the same idempotency key (also across a restart)."""

from __future__ import annotations

import asyncio
import json

from modbot_adapters.http_api.clients import ClientStore
from modbot_adapters.http_api.signing import server_secret, sign, verify
from modbot.domain import ActionKind
from tests.adapters.http_api.harness import CALLBACK_SECRET, CHEAT, OTHER, SCAM, SERVER, Api, Receiver, ref, start_api

PAYLOAD_KEYS = {
    "action", "server_id", "channel_id", "message_id", "author_id", "case_id", "decision", "rule_ids", "rationale",
    "duration_s", "idempotency_key", "reason", "member_notice",
}
SCAM_ACTIONS = ["delete", "timeout", "warn", "post_case"]


def _all_kinds_delivered(kinds: list[str]):
    return lambda deliveries: set(kinds) <= {d.payload["action"] for d in deliveries}


async def test_actions_arrive_signed_with_the_contract_payload(api: Api, receiver: Receiver):
    receiver.reply = {"ref": "plugin-7"}
    await api.post(SCAM, message_id="m1", channel_id="lobby", author_id="cheater")
    await api.settle()
    await receiver.wait_for(_all_kinds_delivered(SCAM_ACTIONS))
    assert [d.payload["action"] for d in receiver.deliveries] == SCAM_ACTIONS
    case_ids = set()
    for delivery in receiver.deliveries:
        payload = delivery.payload
        assert delivery.verified and set(payload) == PAYLOAD_KEYS
        assert delivery.headers["Content-Type"] == "application/json"
        assert delivery.key == payload["idempotency_key"] and delivery.key
        assert delivery.body == json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        assert (payload["server_id"], payload["channel_id"], payload["message_id"], payload["author_id"]) == (
            SERVER, "lobby", "m1", "cheater",
        )
        assert payload["decision"] == "remove_and_timeout" and payload["rule_ids"] == ["SC1"]
        case_ids.add(payload["case_id"])
    (case_id,) = case_ids
    assert len({d.key for d in receiver.deliveries}) == 4
    timeout, warn = receiver.of_kind("timeout")[0].payload, receiver.of_kind("warn")[0].payload
    assert timeout["duration_s"] == 3600 and warn["member_notice"].startswith("• SC1")
    assert receiver.of_kind("delete")[0].payload["member_notice"] is None

    records = await api.services.core.case_actions(ref(), case_id)
    assert [(r.kind.value, r.ok, r.platform_ref) for r in records] == [(k, True, "plugin-7") for k in SCAM_ACTIONS]
    assert records[0].detail == "delivered (HTTP 200)"
    assert (await api.services.core.case(ref(), case_id)).posted_ref == "plugin-7"


async def test_verify_rejects_a_wrong_timestamp_signature_secret_or_body(api: Api, receiver: Receiver):
    await api.post(CHEAT, message_id="m1")
    await api.settle()
    (delivery,) = await receiver.wait_for(lambda ds: len(ds) == 1)
    headers, body = delivery.headers, delivery.body
    assert verify(CALLBACK_SECRET, headers, body)
    stamp = int(headers["X-Modbot-Timestamp"])
    assert not verify(CALLBACK_SECRET, {**headers, "X-Modbot-Timestamp": str(stamp + 1)}, body)
    assert not verify(CALLBACK_SECRET, {**headers, "X-Modbot-Signature": "v1=" + "0" * 64}, body)
    assert not verify(CALLBACK_SECRET, {k: v for k, v in headers.items() if k != "X-Modbot-Signature"}, body)
    assert not verify("another secret", headers, body)
    assert not verify(CALLBACK_SECRET, headers, body.replace(b"m1", b"m2"))
    assert not verify(CALLBACK_SECRET, headers, body, now=stamp + 301)  # a replay, later
    old = stamp - 3600
    replayed = {**headers, "X-Modbot-Timestamp": str(old), "X-Modbot-Signature": sign(CALLBACK_SECRET, old, body)}
    assert not verify(CALLBACK_SECRET, replayed, body)
    assert verify(CALLBACK_SECRET, {k.lower(): v for k, v in headers.items()}, body)


async def test_a_receiver_that_fails_twice_gets_the_action_again_with_the_same_key(api: Api, receiver: Receiver):
    receiver.fail = [503, 503]
    await api.post(SCAM, message_id="m1")
    await api.settle()
    # The first two deliveries got 503; every kind is answered 200 among the later ones.
    await receiver.wait_for(lambda ds: len(ds) >= 6 and _all_kinds_delivered(SCAM_ACTIONS)(ds[2:]))
    by_kind: dict[str, set[str]] = {}
    for delivery in receiver.deliveries:
        by_kind.setdefault(delivery.payload["action"], set()).add(delivery.key)
    assert all(len(keys) == 1 for keys in by_kind.values()), by_kind
    assert len(receiver.of_kind("delete")) >= 2
    case_id = receiver.deliveries[0].payload["case_id"]
    for _ in range(200):
        records = await api.services.core.case_actions(ref(), case_id)
        if len(records) == 4:
            break
        await asyncio.sleep(0.02)
    assert sorted((r.kind.value, r.ok) for r in records) == sorted((k, True) for k in SCAM_ACTIONS)


async def test_a_400_from_the_receiver_is_recorded_as_refused_and_not_retried(api: Api, receiver: Receiver):
    receiver.status = 400
    await api.post(SCAM, message_id="m1")
    await api.settle()
    await receiver.wait_for(_all_kinds_delivered(SCAM_ACTIONS))
    await asyncio.sleep(0.3)  # several sweeps: nothing is tried again
    assert [d.payload["action"] for d in receiver.deliveries] == SCAM_ACTIONS
    records = await api.services.core.case_actions(ref(), receiver.deliveries[0].payload["case_id"])
    assert [r.kind.value for r in records] == SCAM_ACTIONS and not any(r.ok for r in records)
    assert records[0].detail == "refused by the callback receiver: HTTP 400: answering 400"
    assert await api.services.dispatcher.unsettled() == 0


async def test_a_server_with_its_own_token_gets_its_own_callback_url_and_secret(api: Api, receiver: Receiver):
    own_secret = server_secret(CALLBACK_SECRET, SERVER)
    receiver.secrets["a"] = own_secret
    store = ClientStore(api.services.settings.database_url)
    try:
        await store.create(SERVER, callback_url=receiver.url_for("a"), label="plugin A")
    finally:
        await store.aclose()
    await api.post(CHEAT, message_id="a1")
    await api.post(CHEAT, message_id="b1", server=OTHER)
    await api.settle()
    await receiver.wait_for(lambda ds: len(ds) == 2)
    by_server = {d.payload["server_id"]: d for d in receiver.deliveries}
    assert by_server[SERVER].path == "/callbacks/a" and by_server[SERVER].verified
    assert not verify(CALLBACK_SECRET, by_server[SERVER].headers, by_server[SERVER].body)  # not the shared secret
    assert by_server[OTHER].path == "/callbacks" and by_server[OTHER].verified


async def test_planned_actions_survive_a_restart_with_their_idempotency_keys(tmp_path, receiver: Receiver):
    receiver.status = 503
    first = await start_api(tmp_path, receiver)
    try:
        await first.post(SCAM, message_id="m1")
        await first.settle()
        await receiver.wait_for(_all_kinds_delivered(SCAM_ACTIONS))
    finally:
        await first.close()  # the pipeline stops; the outbox rows stay
    failed_keys = {d.payload["action"]: d.key for d in receiver.deliveries}
    assert len(failed_keys) == 4 and len(set(failed_keys.values())) == 4
    seen = len(receiver.deliveries)

    receiver.status = 200
    second = await start_api(tmp_path, receiver)
    try:
        await receiver.wait_for(lambda ds: _all_kinds_delivered(SCAM_ACTIONS)(ds[seen:]))
        for _ in range(200):
            if await second.services.dispatcher.unsettled() == 0:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # a few more sweeps: nothing may be delivered again
        # Each action once more, with the key of its failed attempts (receivers dedupe by it).
        again = [(d.payload["action"], d.key) for d in receiver.deliveries[seen:]]
        assert sorted(again) == sorted(failed_keys.items())
        case_id = receiver.deliveries[-1].payload["case_id"]
        records = await second.services.core.case_actions(ref(), case_id)
        assert sorted((r.kind.value, r.ok, r.platform_ref) for r in records) == sorted(
            (k, True, failed_keys[k]) for k in SCAM_ACTIONS
        )
    finally:
        await second.close()
