"""The callback sink on its own (complete actions, no core): what each kind of answer becomes."""

from __future__ import annotations

import socket

import pytest

from modbot_adapters.http_api.sink import CallbackRoutes, CallbackSink
from modbot.config import HttpApiSettings
from modbot.domain import Action, ActionKind, Case, Decision, MessageEvent, Stage, Verdict
from tests.adapters.http_api.harness import CALLBACK_SECRET, SERVER, Receiver, ref


def _sink(url: str | None, *, secret: str | None = CALLBACK_SECRET, timeout_s: float = 2.0) -> CallbackSink:
    config = HttpApiSettings(port=0, callback_url=url, callback_secret=secret, callback_timeout_s=timeout_s)
    return CallbackSink(config, CallbackRoutes(config, None))


def _delete(key: str = "key-1") -> Action:
    return Action(ActionKind.DELETE, ref(), channel_id="c1", message_id="m1", user_id="u1", reason="SC1", idempotency_key=key)


async def _outcome(sink: CallbackSink, action: Action):
    try:
        return await sink.execute(action)
    finally:
        await sink.aclose()


async def test_success_returns_the_receivers_ref_or_the_key(receiver: Receiver):
    outcome = await _outcome(_sink(receiver.url), _delete())
    assert (outcome.ok, outcome.detail, outcome.platform_ref, outcome.retry_after_s) == (True, "delivered (HTTP 200)", "key-1", None)
    receiver.reply = {"ref": "msg-9"}
    assert (await _outcome(_sink(receiver.url), _delete())).platform_ref == "msg-9"
    payload = receiver.deliveries[0].payload
    assert payload["case_id"] is None and payload["decision"] is None and payload["rule_ids"] == []
    assert payload["rationale"] == "SC1" and payload["reason"] == "SC1"


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(429, "7", 7.0), (429, None, 1.0), (503, None, 0.0), (500, None, 0.0)],
)
async def test_busy_and_broken_receivers_are_transient(receiver: Receiver, status, retry_after, expected):
    receiver.status, receiver.retry_after = status, retry_after
    outcome = await _outcome(_sink(receiver.url), _delete())
    assert not outcome.ok and outcome.retry_after_s == expected and str(status) in outcome.detail


async def test_a_timeout_and_no_connection_are_transient(receiver: Receiver):
    receiver.delay_s = 0.5
    timed_out = await _outcome(_sink(receiver.url, timeout_s=0.1), _delete())
    assert not timed_out.ok and timed_out.retry_after_s == 0.0 and "timed out" in timed_out.detail
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed_port = free.getsockname()[1]
    unreachable = await _outcome(_sink(f"http://user:hunter2@127.0.0.1:{closed_port}/cb?token=abc"), _delete())
    assert not unreachable.ok and unreachable.retry_after_s == 0.0
    assert "hunter2" not in unreachable.detail and "abc" not in unreachable.detail and "127.0.0.1" not in unreachable.detail


async def test_refusals_and_missing_settings_are_final(receiver: Receiver):
    receiver.status = 422
    refused = await _outcome(_sink(receiver.url), _delete())
    assert (refused.ok, refused.retry_after_s) == (False, None)
    assert refused.detail == "refused by the callback receiver: HTTP 422: answering 422"
    no_url = await _outcome(_sink(None), _delete())
    assert not no_url.ok and no_url.retry_after_s is None and f"no callback URL for server {SERVER}" in no_url.detail
    unsigned = await _outcome(_sink(receiver.url, secret=None), _delete())
    assert not unsigned.ok and unsigned.retry_after_s is None and "CALLBACK_SECRET" in unsigned.detail
    assert CALLBACK_SECRET not in refused.detail + no_url.detail + unsigned.detail
    assert len(receiver.deliveries) == 1


async def test_notify_mods_is_delivered_and_a_posted_case_is_not_posted_again(receiver: Receiver):
    notice = Action(ActionKind.NOTIFY_MODS, ref(), mod_channel_id="mods", reason="I could not delete", idempotency_key="n1")
    assert (await _outcome(_sink(receiver.url), notice)).ok
    (delivery,) = receiver.deliveries
    assert delivery.verified and delivery.payload["action"] == "notify_mods" and delivery.payload["reason"] == "I could not delete"

    event = MessageEvent(ref(), "c1", "m1", "u1", "aimbot")
    case = Case(7, event, Verdict(Decision.FLAG, Stage.KEYWORD, "v1", rule_ids=("CH1",)), posted_ref="earlier-ref")
    again = await _outcome(_sink(receiver.url), Action(ActionKind.POST_CASE, ref(), case=case, idempotency_key="p1"))
    assert again.ok and again.platform_ref == "earlier-ref" and len(receiver.deliveries) == 1
