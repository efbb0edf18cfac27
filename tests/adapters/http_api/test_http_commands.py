"""Moderator commands and case reviews over HTTP: the core checks moderator roles, runs, and replies."""

from __future__ import annotations

import dataclasses

from modbot_adapters.http_api.responses import ReplyOut
from modbot.domain import CaseStatus
from modbot.domain.commands import Reply
from tests.adapters.http_api.harness import CHEAT, MOD_ROLE, SERVER, Api, Receiver, ref

REPLY_KEYS = {f.name for f in dataclasses.fields(Reply)}


async def _case_for(api: Api, receiver: Receiver, text: str, message_id: str) -> int:
    await api.post(text, message_id=message_id)
    await api.settle()
    await receiver.wait_for(lambda ds: any(d.payload["message_id"] == message_id and d.payload["action"] == "post_case" for d in ds))
    (post,) = [d for d in receiver.of_kind("post_case") if d.payload["message_id"] == message_id]
    return post.payload["case_id"]


async def test_a_member_without_a_moderator_role_is_refused_with_the_cores_reply(api: Api):
    answer = await api.command("/mod stats 7", roles=("player",))
    assert answer.status_code == 403
    reply = answer.json()
    assert set(reply) == REPLY_KEYS and reply["ok"] is False and reply["title"] == "Not allowed"
    (entry,) = await api.services.storage.audit.audit_entries(ref(), 10)
    assert (entry.actor_id, entry.allowed) == ("mod-1", False)


async def test_a_moderator_by_role_gets_stats(api: Api):
    await api.post("good game", message_id="m1")
    await api.settle()
    answer = await api.command("/mod stats 7")
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert set(reply) == REPLY_KEYS and reply["ok"] is True and reply["title"] == "Last 7 days"
    assert ["Messages seen", "1"] in reply["fields"]
    ReplyOut.model_validate(reply)
    assert (await api.command("stats")).json()["title"] == "Last 7 days"  # the /mod prefix is optional


async def test_a_command_that_does_not_parse_is_400_on_the_text_field(api: Api):
    answer = await api.command("/mod mode banana")
    assert answer.status_code == 400
    assert answer.json()["field"] == "text" and "usage" in answer.json()["error"]
    missing = await api.client.post(f"/v1/servers/{SERVER}/commands", json={"text": "stats"})
    assert missing.status_code == 400 and missing.json()["field"] == "invoker_id"


async def test_reviews_uphold_and_overturn_cases(api: Api, receiver: Receiver):
    first = await _case_for(api, receiver, CHEAT, "c1")
    second = await _case_for(api, receiver, "who has a wallhack", "c2")
    body = {"invoker_id": "mod-1", "invoker_roles": [MOD_ROLE]}

    overturned = await api.client.post(f"/v1/servers/{SERVER}/cases/{first}/review", json={**body, "outcome": "overturn"})
    assert overturned.status_code == 200, overturned.text
    reply = overturned.json()
    assert reply["ok"] and reply["case"]["id"] == first and reply["case"]["status"] == "overturned"
    assert "reasoning" not in reply["case"]["verdict"] and reply["case"]["event"]["server"] == {"platform": "http", "id": SERVER}
    ReplyOut.model_validate(reply)
    assert (await api.services.core.case(ref(), first)).status is CaseStatus.OVERTURNED

    upheld = await api.client.post(f"/v1/servers/{SERVER}/cases/{second}/review", json={**body, "outcome": "uphold"})
    assert upheld.status_code == 200 and upheld.json()["case"]["status"] == "upheld"
    assert (await api.services.core.case(ref(), second)).status is CaseStatus.UPHELD

    shown = await api.command(f"case {first}")
    assert shown.json()["case"]["status"] == "overturned"


async def test_review_refusals_and_bad_case_ids(api: Api, receiver: Receiver):
    case_id = await _case_for(api, receiver, CHEAT, "c1")
    path = f"/v1/servers/{SERVER}/cases/{case_id}/review"
    refused = await api.client.post(path, json={"invoker_id": "p1", "invoker_roles": [], "outcome": "uphold"})
    assert refused.status_code == 403 and refused.json()["ok"] is False
    assert (await api.services.core.case(ref(), case_id)).status is CaseStatus.OPEN

    body = {"invoker_id": "mod-1", "invoker_roles": [MOD_ROLE], "outcome": "uphold"}
    for bad in ("abc", "0", "-1", "1.5"):
        answer = await api.client.post(f"/v1/servers/{SERVER}/cases/{bad}/review", json=body)
        assert answer.status_code == 400 and answer.json()["field"] == "case_id", bad
    wrong_outcome = await api.client.post(path, json={**body, "outcome": "ban"})
    assert wrong_outcome.status_code == 400 and wrong_outcome.json()["field"] == "outcome"
    unknown = await api.client.post(f"/v1/servers/{SERVER}/cases/999999/review", json=body)
    assert unknown.status_code == 200 and unknown.json()["ok"] is False


async def test_a_moderator_bans_or_times_out_a_cases_author_and_the_callback_carries_it(api: Api, receiver: Receiver):
    case_id = await _case_for(api, receiver, CHEAT, "b1")
    body = {"invoker_id": "mod-1", "invoker_roles": [MOD_ROLE]}
    url = f"/v1/servers/{SERVER}/cases/{case_id}/actions"

    refused = await api.client.post(url, json={**body, "invoker_roles": ["player"], "action": "ban"})
    assert refused.status_code == 403
    bad = await api.client.post(url, json={**body, "action": "kick"})
    assert bad.status_code == 400 and bad.json()["field"] == "action"

    banned = await api.client.post(url, json={**body, "action": "ban"})
    assert banned.status_code == 200, banned.text
    timed_out = await api.client.post(url, json={**body, "action": "timeout", "duration_s": 120})
    assert timed_out.status_code == 200, timed_out.text
    await receiver.wait_for(lambda ds: any(d.payload["action"] == "ban" for d in ds) and any(
        d.payload["action"] == "timeout" and d.payload["duration_s"] == 120 for d in ds
    ))
    (ban,) = receiver.of_kind("ban")
    assert (ban.payload["case_id"], ban.payload["author_id"], ban.payload["message_id"]) == (case_id, "player-1", "b1")
    records = await api.services.core.case_actions(ref(), case_id)
    assert [(r.kind.value, r.requested_by) for r in records if r.requested_by] == [("ban", "mod-1"), ("timeout", "mod-1")]
