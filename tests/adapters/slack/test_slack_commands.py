"""``/mod`` and the case buttons: acknowledged at once, answered through response_url, moderators only."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from modbot.domain import CaseStatus
from tests.adapters.slack.slack_harness import (
    ADMIN,
    GROUP_MOD,
    MOD_CHANNEL,
    PLAYER,
    SERVER,
    harness,  # noqa: F401  (fixture)
    signed_headers,
)

__all__ = ["harness"]

POLICY = """\
+++
id = "tiny-guild"
title = "Tiny guild rules"
[actions]
medium = "remove"
[[categories]]
id = "trading"
title = "Trading & selling"
[[categories.rules]]
id = "TR1"
description = "Selling accounts <for real money> & gold"
severity = "medium"
keywords = ["selling account"]
+++
# Instruction
See https://example.org/rules & be kind. Answer in the output format below.
## Definitions
- **Trading**: selling accounts & gold for money.
## Criteria
### trading: Trading & selling
- **TR1**: selling accounts <for real money> & gold.
## Examples
- "selling account, dm me" → 1, trading, TR1
## Output format
One JSON object.
"""


def _text(response: dict) -> str:
    return response.get("text", "") + json.dumps(response.get("blocks", []))


async def test_non_moderators_are_refused_in_slack_and_in_the_audit_log(harness):
    response = await harness.command("mode shadow", user=PLAYER)
    assert response["response_type"] == "ephemeral" and "Not allowed" in response["text"]
    assert (await harness.services.server_settings.get(SERVER)).mode == "enforce"
    audit = await harness.services.storage.audit.audit_entries(SERVER)
    assert [(a.actor_id, a.command, a.allowed) for a in audit] == [(PLAYER, "mode", False)]
    assert [c.args["user"] for c in harness.mock.called("users.info")] == [PLAYER]


async def test_workspace_admins_and_moderator_group_members_may_moderate(harness):
    response = await harness.command("mode shadow", user=ADMIN)
    assert response["response_type"] == "in_channel" and response["text"].startswith("Mode: shadow")
    assert (await harness.services.server_settings.get(SERVER)).mode == "shadow"

    stats = await harness.command("stats 3", user=GROUP_MOD)
    assert "Last 3 days" in stats["text"]
    assert [c.args["usergroup"] for c in harness.mock.called("usergroups.users.list")] == ["SMODS"]
    audit = await harness.services.storage.audit.audit_entries(SERVER)
    assert [(a.actor_id, a.allowed) for a in reversed(audit)] == [(ADMIN, True), (GROUP_MOD, True)]


async def test_acknowledged_before_the_work_and_answered_through_respond(harness):
    harness.mock.delays["users.info"] = 1.2  # a slow Slack API: the ack must not wait for it
    form = {"team_id": "T1", "user_id": ADMIN, "user_name": "admin", "command": "/mod", "text": "help",
            "channel_id": MOD_CHANNEL, "response_url": harness.mock.response_url("slow"), "trigger_id": "t"}
    body = urlencode(form)
    started = time.monotonic()
    response = await harness.dispatch(body, "application/x-www-form-urlencoded")
    acked_after = time.monotonic() - started
    assert response.status == 200 and acked_after < 1.0
    answer = await harness.response("slow")
    assert time.monotonic() - started >= 1.2 and "/mod policy show" in answer["text"]


async def test_syntax_errors_answer_with_usage(harness):
    response = await harness.command("exempt planet add X1")
    assert response["response_type"] == "ephemeral" and "usage: /mod exempt" in response["text"]
    unknown = await harness.command("frobnicate")
    assert "unknown command" in unknown["text"]


async def test_policy_upload_takes_the_document_inline_exactly_as_typed(harness):
    # Issue 14: a typed upload is stored but not used unless asked (--activate).
    stored = await harness.command("policy upload\n" + POLICY)
    assert stored["text"].startswith("Policy tiny-guild uploaded") and "in use" not in stored["text"].splitlines()[0]
    assert (await harness.services.policies.get(SERVER)).id != "tiny-guild"
    response = await harness.command("policy upload --activate\n" + POLICY)
    assert response["text"].startswith("Policy tiny-guild uploaded and in use"), response["text"]
    policy = await harness.services.policies.get(SERVER)
    assert policy.text == POLICY.strip()  # Slack's &amp;/&lt;/&gt; and <url> links undone
    shown = await harness.command("policy show")
    assert "TR1" in _text(shown)
    tested = await harness.command("policy test selling account & gold, dm me")
    assert tested["text"].startswith("Test verdict: flag") and "TR1" in _text(tested)  # no reasoner: keyword hit → flag


async def test_history_and_exempt_take_slack_mentions(harness):
    await harness.message("free-nitro.example", user="U0SPAMMER")
    history = await harness.command("history <@U0SPAMMER|spammer>", escape=False)
    assert "History of U0SPAMMER (1 cases)" in history["text"]
    exempt = await harness.command("exempt channel add <#C0OFFTOPIC|off-topic>", escape=False)
    assert exempt["text"].startswith("Exempt channels")
    assert (await harness.services.server_settings.get(SERVER)).exempt_channel_ids == ("C0OFFTOPIC",)
    role = await harness.command("exempt role add <!subteam^S0HELP|@helpers>", escape=False)
    assert "S0HELP" in role["text"]


async def test_overturn_button_reviews_the_case_and_updates_the_post(harness):
    await harness.message("free-nitro.example")
    case_id = (await harness.services.storage.cases.list_cases(SERVER)).cases[0].id

    refused = await harness.click(f"modbot:overturn:{case_id}", user=PLAYER)
    assert "Not allowed" in refused["text"] and refused.get("replace_original") is False
    assert (await harness.services.storage.cases.get_case(SERVER, case_id)).status is CaseStatus.OPEN

    updated = await harness.click(f"modbot:overturn:{case_id}", user=ADMIN)
    assert updated["replace_original"] is True
    assert (await harness.services.storage.cases.get_case(SERVER, case_id)).status is CaseStatus.OVERTURNED
    buttons = [e["action_id"] for b in updated["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == [f"modbot:reasoning:{case_id}"]
    assert f"overturned by <@{ADMIN}>" in json.dumps(updated["blocks"])
    audit = await harness.services.storage.audit.audit_entries(SERVER)
    assert [(a.actor_id, a.command, a.allowed) for a in reversed(audit)] == [(PLAYER, "review", False), (ADMIN, "review", True)]

    reasoning = await harness.click(f"modbot:reasoning:{case_id}", user=GROUP_MOD)
    assert reasoning["response_type"] == "ephemeral" and reasoning["replace_original"] is False
    assert f"Reasoning for case #{case_id}" in reasoning["text"]


async def test_queue_pages_with_buttons(harness):
    await harness.services.server_settings.update(SERVER, mode="shadow")
    for number in range(7):
        await harness.message(f"free-nitro.example #{number}")
    first = await harness.command("queue")
    assert "Review queue (7 open)" in first["text"]
    pager = [e["action_id"] for b in first["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert pager == ["modbot:queue:2"]
    second = await harness.click("modbot:queue:2")
    assert second["replace_original"] is True and "page 2/2" in second["text"]


async def test_unknown_buttons_and_bad_signatures_do_nothing(harness):
    payload = json.dumps({"type": "block_actions", "user": {"id": ADMIN}, "team": {"id": "T1"},
                          "actions": [{"action_id": "modbot:overturn:1", "type": "button"}],
                          "response_url": harness.mock.response_url("x")})
    body = urlencode({"payload": payload})
    headers = signed_headers(body, content_type="application/x-www-form-urlencoded", secret="wrong")
    from slack_bolt.request.async_request import AsyncBoltRequest

    response = await harness.adapter.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    assert response.status == 401
    assert harness.adapter.counters.buttons == 0 and await harness.services.storage.audit.audit_entries(SERVER) == []
