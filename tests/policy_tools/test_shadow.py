"""A shadow policy on live traffic: its verdicts are stored beside the live ones, never acted on, and
``/mod policy diff`` reports what it would change. ``/mod policy test`` can target a candidate."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from modbot.app import build_services
from modbot.cli.policy_tools import ReplayRequest, run_replay
from modbot.commands.parser import parse_mod_command
from modbot.domain import Decision, ServerRef, utcnow
from modbot.domain.commands import Invoker, PolicyDiff, PolicyShadow, PolicyTest
from modbot.domain.policy import parse_policy
from tests.conftest import event, make_settings
from tests.policy_tools.conftest import CANDIDATE_POLICY
from tests.policy_tools.test_replay import MESSAGES
from tests.support.recording_sink import RecordingSink

SERVER = ServerRef("test", "g1")
MOD = Invoker(SERVER, "mod1", platform_moderator=True)


async def test_shadow_verdicts_are_stored_never_acted_on_and_diffed(tmp_path):
    sink = RecordingSink()
    services = await build_services(make_settings(tmp_path), reasoner=None, prefilter=None, sinks={"test": sink})
    try:
        await services.server_settings.update(SERVER, mode="enforce")
        candidate = parse_policy(CANDIDATE_POLICY)
        await services.policies.upload(SERVER, candidate, "mod1")  # stored, not active
        live = await services.policies.get(SERVER)
        refused = await services.moderators.execute(MOD, PolicyShadow(live.version))
        assert not refused.ok and "the policy in use" in refused.text
        started = await services.moderators.execute(MOD, parse_mod_command("policy shadow candidate-policy 7d"))
        assert started.ok, started.text
        shadow = (await services.server_settings.get(SERVER)).shadow_policy
        assert shadow.version == candidate.version
        assert timedelta(days=6.9) < shadow.until - shadow.started_at <= timedelta(days=7)

        await services.start()
        for message_id, text in MESSAGES.items():
            await services.pipeline.submit(event(text, message_id=message_id))
        await services.pipeline.drain(30)

        # Only the live verdicts acted: the candidate would also flag m-gold and m-account (a case post each).
        assert sorted({a.message_id for a in sink.actions}) == ["m-aimbot", "m-nitro", "m-wallhack"]
        assert len(sink.actions) == 6  # two case posts, and delete + timeout + warn + post for m-nitro
        assert services.pipeline.shadow.judged == 6
        with sqlite3.connect(tmp_path / "modbot.sqlite3") as db:
            rows = db.execute("SELECT policy_version, shadow, id FROM verdicts WHERE candidate = 1").fetchall()
            assert len(rows) == 6 and {(v, s) for v, s, _ in rows} == {(candidate.version, 1)}
            ids = [i for _, _, i in rows]
            marks = ",".join("?" * len(ids))
            assert db.execute(f"SELECT count(*) FROM cases WHERE verdict_id IN ({marks})", ids).fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM cases").fetchone() == (3,)
            assert db.execute("SELECT count(*) FROM action_outbox").fetchone() == (0,)
        stored = await services.storage.messages.latest_revision(SERVER, "m-gold")
        assert [v.policy_version for v in await services.storage.verdicts.verdicts_for(SERVER, stored[0].row_id)] == [
            live.version
        ]  # the candidate's verdict is not the message's verdict
        stats = await services.storage.verdicts.stats(SERVER, utcnow() - timedelta(days=1), 1)
        assert sum(stats.decisions.values()) == 6  # the bot's own figures leave the candidate out

        diff = await services.moderators.execute(MOD, PolicyDiff())
        assert diff.ok, diff.text
        fields = dict(diff.fields)
        assert (fields["Compared"], fields["Newly removed"], fields["No longer removed"], fields["Changed"]) == (
            "6", "0", "1", "3",
        )  # fmt: skip
        assert "no longer removed m-nitro: remove_and_timeout SC1 → flag SC1" in diff.text
        assert "changed m-account: allow - → flag AT1" in diff.text

        stopped = await services.moderators.execute(MOD, PolicyShadow("off"))
        assert stopped.ok and "stopped" in stopped.title
        await services.pipeline.submit(event("selling aimbot again", message_id="m-after"))
        await services.pipeline.drain(30)
        assert services.pipeline.shadow.judged == 6  # nothing judged after off
        again = await services.moderators.execute(MOD, PolicyDiff())
        assert dict(again.fields)["Compared"] == "6"  # the period that ended is still reported
    finally:
        await services.close()

    # Replaying the stored candidate by its id says the same (plus m-after: flagged live, allowed by it).
    replayed, meta = await run_replay(
        make_settings(tmp_path), ReplayRequest("candidate-policy", server=SERVER), reasoner=None, prefilter=None,
        show_progress=False,
    )  # fmt: skip
    assert (replayed.compared, replayed.newly_removed, replayed.no_longer_removed, replayed.changed) == (7, 0, 1, 4)
    assert meta["candidate"] == f"candidate-policy {candidate.version}"


async def test_policy_test_can_target_a_stored_candidate(tmp_path):
    services = await build_services(make_settings(tmp_path), reasoner=None, prefilter=None)
    try:
        await services.storage.servers.ensure_server(SERVER)
        candidate = parse_policy(CANDIDATE_POLICY)
        await services.policies.upload(SERVER, candidate, "mod1")
        live = await services.policies.get(SERVER)
        text = "claim at free-nitro.example now"
        as_live = await services.moderators.execute(MOD, PolicyTest(text))
        by_id = await services.moderators.execute(MOD, parse_mod_command(f"policy test {text} policy:candidate-policy"))
        by_version = await services.moderators.execute(MOD, parse_mod_command(f"policy test {text} {candidate.version}"))
        assert (as_live.verdict.decision, as_live.verdict.policy_version) == (Decision.REMOVE_AND_TIMEOUT, live.version)
        for reply in (by_id, by_version):
            assert (reply.verdict.decision, reply.verdict.policy_version) == (Decision.FLAG, candidate.version)
        assert (await services.policies.get(SERVER)).version == live.version  # testing activates nothing
        unknown = await services.moderators.execute(MOD, PolicyTest(text, "sha256:0000"))
        assert not unknown.ok and "no policy" in unknown.text
    finally:
        await services.close()


def test_the_commands_parse_and_discord_offers_them():
    from modbot_adapters.discord_bot.commands import build_mod_group

    assert parse_mod_command("policy shadow") == PolicyShadow(None, None)
    assert parse_mod_command("policy shadow off") == PolicyShadow("off", None)
    assert parse_mod_command("policy diff") == PolicyDiff()
    assert parse_mod_command("policy test is sha256:abc fine here") == PolicyTest("is sha256:abc fine here")
    policy = next(c for c in build_mod_group(object()).commands if c.name == "policy")
    commands = {c.name: c for c in policy.commands}
    assert {"shadow", "diff", "test"} <= commands.keys()
    assert [p.name for p in commands["test"].parameters] == ["text", "version"]
    assert [p.name for p in commands["shadow"].parameters] == ["policy", "duration"]
