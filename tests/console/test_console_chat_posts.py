"""``update_case`` on the Slack sink (the action a console review sends to redraw a case post), against
the loopback Slack API, with a complete action and no core."""

from __future__ import annotations

from modbot.domain import Action, ActionKind, Case, CaseStatus, Decision, MessageEvent, Stage, Verdict
from tests.adapters.slack.slack_harness import GENERAL, MOD_CHANNEL, PLAYER, SERVER, harness  # noqa: F401  (fixture)

__all__ = ["harness"]


def _case(posted_ref: str | None) -> Case:
    event = MessageEvent(SERVER, GENERAL, "1700000000.000001", PLAYER, "private aimbot, dm me")
    verdict = Verdict(Decision.REMOVE, Stage.REASONER, "sha256:x", categories=("cheats",), rule_ids=("CH1",))
    return Case(7, event, verdict, status=CaseStatus.OVERTURNED, posted_ref=posted_ref, number=3)


async def test_slack_redraws_the_posted_case_with_chat_update(harness) -> None:  # noqa: F811
    action = Action(ActionKind.UPDATE_CASE, server=SERVER, mod_channel_id=MOD_CHANNEL, case=_case(f"{MOD_CHANNEL}/1700000001.000200"))
    outcome = await harness.adapter.sink.execute(action)
    assert outcome.ok and outcome.platform_ref == f"{MOD_CHANNEL}/1700000001.000200"
    (update,) = harness.mock.called("chat.update")
    assert (update.args["channel"], update.args["ts"]) == (MOD_CHANNEL, "1700000001.000200")
    assert "Case #3" in update.args["text"] and "overturned" in str(update.args["blocks"])


async def test_a_case_never_posted_is_not_updated(harness) -> None:  # noqa: F811
    outcome = await harness.adapter.sink.execute(Action(ActionKind.UPDATE_CASE, server=SERVER, case=_case(None)))
    assert not outcome.ok and harness.mock.called("chat.update") == []
