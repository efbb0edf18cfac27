"""The Slack ActionSink against the loopback API: rate limits, server errors, fallbacks, refusals."""

from __future__ import annotations

from dataclasses import replace

from modbot_adapters.slack_app import SlackActionSink
from modbot_adapters.slack_app.clients import ClientFactory
from modbot_adapters.slack_app.installation import StaticTokens
from modbot.domain import Action, ActionKind, ActionTaken, Case, Decision, MessageEvent, Stage, Verdict
from modbot.domain.settings import ServerSettings
from tests.adapters.slack.slack_harness import (
    BOT_TOKEN,
    GENERAL,
    MOD_CHANNEL,
    PLAYER,
    SERVER,
    TEAM,
    harness,  # noqa: F401  (fixture)
    start_harness,
)
from tests.adapters.slack.slack_mock import MockSlack

__all__ = ["harness"]


def _action(kind: ActionKind, **fields) -> Action:
    values = dict(
        server=SERVER, channel_id=GENERAL, message_id="1700000000.000001", user_id=PLAYER, reason="CH1",
        mod_channel_id=MOD_CHANNEL, member_notice="• CH1: Selling or sharing cheats",
    )
    return Action(kind, **{**values, **fields})


async def test_ratelimited_calls_are_retried_after_retry_after(harness):
    harness.mock.fail_next("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    outcome = await harness.adapter.sink.execute(_action(ActionKind.NOTIFY_MODS))
    assert outcome.ok, outcome.detail
    first, second = harness.mock.called("chat.postMessage")
    assert second.at - first.at >= 1.0  # waited as long as Slack asked
    assert second.args["channel"] == MOD_CHANNEL


async def test_server_errors_are_retried(harness):
    harness.mock.fail_next("chat.delete", 503, {"ok": False, "error": "service_unavailable"})
    outcome = await harness.adapter.sink.execute(_action(ActionKind.DELETE))
    assert outcome.ok and len(harness.mock.called("chat.delete")) == 2


async def test_timeout_and_ban_are_not_available_on_slack(harness):
    for kind in (ActionKind.TIMEOUT, ActionKind.BAN):
        outcome = await harness.adapter.sink.execute(_action(kind, duration_s=600))
        assert not outcome.ok and not outcome.permission_problem and "not available on Slack" in outcome.detail
    assert harness.mock.calls == []


async def test_warning_falls_back_to_a_direct_message(harness):
    harness.mock.fail_next("chat.postEphemeral", 200, {"ok": False, "error": "user_not_in_channel"})
    outcome = await harness.adapter.sink.execute(_action(ActionKind.WARN))
    assert outcome.ok and outcome.detail == "warned by direct message"
    assert harness.mock.called("conversations.open")[0].args["users"] == PLAYER
    assert harness.mock.called("chat.postMessage")[0].args["channel"] == "D" + PLAYER


async def test_refusals_become_outcomes_and_permission_problems(harness):
    harness.mock.fail_next("chat.postMessage", 200, {"ok": False, "error": "not_in_channel"})
    event = MessageEvent(SERVER, GENERAL, "1.000001", PLAYER, "x")
    case = Case(1, event, Verdict(Decision.FLAG, Stage.KEYWORD, "sha256:x"))
    outcome = await harness.adapter.sink.execute(_action(ActionKind.POST_CASE, case=case))
    assert not outcome.ok and outcome.permission_problem and "not_in_channel" in outcome.detail

    harness.mock.fail_next("chat.delete", 200, {"ok": False, "error": "message_not_found"})
    gone = await harness.adapter.sink.execute(_action(ActionKind.DELETE))
    assert gone.ok and gone.detail == "already deleted"

    harness.mock.fail_next("chat.postEphemeral", 200, {"ok": False, "error": "missing_scope", "needed": "chat:write"})
    scope = await harness.adapter.sink.execute(_action(ActionKind.WARN))
    assert not scope.ok and scope.permission_problem and "needs scope chat:write" in scope.detail

    no_case = await harness.adapter.sink.execute(_action(ActionKind.POST_CASE))
    assert not no_case.ok


async def test_unreachable_slack_is_an_outcome_not_a_crash(harness):
    await harness.mock.stop()
    outcome = await harness.adapter.sink.execute(_action(ActionKind.NOTIFY_MODS))
    assert not outcome.ok and "could not be reached" in outcome.detail


async def test_without_a_mod_channel_cases_are_not_posted_but_recorded(tmp_path):
    h = await start_harness(tmp_path, server_defaults=ServerSettings(policy_id="test-policy", mode="enforce"))
    try:
        await h.message("free-nitro.example")
        case = (await h.services.storage.cases.list_cases(SERVER)).cases[0]
        post = next(r for r in await h.services.storage.actions.actions_for_case(SERVER, case.id) if r.kind is ActionKind.POST_CASE)
        assert not post.ok and "no mod channel" in post.detail
        assert h.mock.called("chat.postMessage") == [] and len(h.mock.called("chat.delete")) == 1
    finally:
        await h.services.close()
        await h.mock.stop()


async def test_a_complete_action_needs_no_core():
    """A sink built from tokens and a client factory alone; the action says what was already done."""
    mock = await MockSlack().start()
    mock.tokens.update({BOT_TOKEN: TEAM})
    sink = SlackActionSink(tokens=StaticTokens(BOT_TOKEN), clients=ClientFactory(mock.base_url))
    event = MessageEvent(SERVER, GENERAL, "1700000000.000001", PLAYER, "selling cheats", thread_id="1699999999.000001")
    case = Case(3, event, Verdict(Decision.REMOVE, Stage.REASONER, "sha256:x", rule_ids=("CH1",)))
    deleted = (ActionTaken(ActionKind.DELETE, True, "deleted with the admin user token"),)
    try:
        warned = await sink.execute(_action(ActionKind.WARN, case=case, thread_id=event.thread_id, taken=deleted))
        posted = await sink.execute(_action(ActionKind.POST_CASE, case=case, taken=deleted))
        again = await sink.execute(_action(ActionKind.POST_CASE, case=replace(case, posted_ref=posted.platform_ref)))
    finally:
        await mock.stop()

    assert warned.ok and posted.ok and again.ok and again.detail == "already posted"
    (ephemeral,) = mock.called("chat.postEphemeral")
    assert ephemeral.args["thread_ts"] == event.thread_id
    assert "was removed" in ephemeral.args["text"] and "CH1: Selling or sharing cheats" in ephemeral.args["text"]
    (post,) = mock.called("chat.postMessage")  # not posted twice
    assert post.args["channel"] == MOD_CHANNEL and "delete: done" in str(post.args["blocks"])
    channel, ts = posted.platform_ref.split("/")
    assert channel == MOD_CHANNEL and ts.startswith("17")  # the posted message's own ts, for the core to store
