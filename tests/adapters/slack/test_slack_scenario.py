"""The game-community scenario on Slack, end to end: a moderator uploads the shipped policy with /mod,
turns enforcement on, a cheat seller's message is removed and its case posted, and a moderator
overturns the case from its button. Real bolt, real core, real SQLite; only the model is scripted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modbot.domain import CaseStatus
from modbot.domain.settings import ServerSettings
from tests.adapters.slack.slack_harness import (
    ADMIN,
    ADMIN_TOKEN,
    GENERAL,
    GROUP_MOD,
    MOD_CHANNEL,
    PLAYER,
    SERVER,
    next_ts,
    start_harness,
)
from tests.support.scripted import ScriptedReasoner, by_keyword

POLICY_FILE = Path(__file__).resolve().parents[3] / "policies" / "game-community.md"


@pytest.mark.skipif(not POLICY_FILE.is_file(), reason="the shipped game-community policy is missing")
async def test_game_community_on_slack(tmp_path):
    reasoner = ScriptedReasoner(by_keyword({"aimbot": "CH1"}))
    h = await start_harness(tmp_path, reasoner=reasoner, server_defaults=ServerSettings(mod_channel_id=MOD_CHANNEL))
    try:
        document = POLICY_FILE.read_text(encoding="utf-8")
        uploaded = await h.command("policy upload --activate\n" + document, user=ADMIN)
        assert uploaded["text"].startswith("Policy game-community uploaded and in use"), uploaded["text"]
        policy = await h.services.policies.get(SERVER)
        assert policy.id == "game-community" and policy.text == document.strip()

        assert (await h.command("mode enforce", user=GROUP_MOD))["text"].startswith("Mode: enforce")

        await h.message("gg everyone, that last round was close")
        seller_ts = next_ts()
        await h.message("WTS undetected aimbot + spoofer, 10$/week, dm me", ts=seller_ts, user=PLAYER)

        (delete,) = h.mock.called("chat.delete")
        assert delete.token == ADMIN_TOKEN and (delete.args["channel"], delete.args["ts"]) == (GENERAL, seller_ts)
        assert reasoner.calls[-1].policy.version == policy.version

        (post,) = [c for c in h.mock.called("chat.postMessage") if c.args.get("blocks")]
        assert post.args["channel"] == MOD_CHANNEL
        blocks = post.args["blocks"]
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        rendered = json.dumps(blocks)
        assert "CH1" in rendered and policy.version in rendered and "Scripted violation." in rendered
        overturn = next(e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"] if "overturn" in e["action_id"])
        case_id = int(overturn.rsplit(":", 1)[1])

        updated = await h.click(overturn, user=ADMIN, message_ts=post.args.get("ts", "1700001000.000001"))
        assert updated["replace_original"] is True
        case = await h.services.storage.cases.get_case(SERVER, case_id)
        assert case.status is CaseStatus.OVERTURNED and case.verdict.rule_ids == ("CH1",)

        shown = await h.command(f"case {case_id}", user=ADMIN)
        assert "overturned" in json.dumps(shown["blocks"])
        stats = await h.command("stats", user=ADMIN)
        assert "Overturned: 1" in stats["text"] and "Messages seen: 2" in stats["text"]
    finally:
        await h.services.close()
        await h.mock.stop()
