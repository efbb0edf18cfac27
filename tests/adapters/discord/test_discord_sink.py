"""The action sink against the fake Discord API: what is called, and how refusals and failures end.

Each action is complete (mod channel, member notice, duration, thread), as the enforcement layer
builds it: the sink needs nothing of the core.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import discord

from modbot_adapters.discord_bot import DiscordActionSink, DiscordAdapter
from modbot.app import build_services
from modbot.domain import Action, ActionKind, Case, Decision, MessageEvent, Stage, Verdict
from tests.adapters.discord import payloads as p
from tests.adapters.discord.fake_discord import FakeDiscord, Recorded
from tests.adapters.discord.harness import FAST_RETRY, SERVER, Harness, discord_settings

DELETE_PATH = rf"/channels/{p.GENERAL_ID}/messages/\d+"
#: What the enforcement layer tells a member who broke CH1 (the rule in the policy's words).
NOTICE = "• CH1: Selling or sharing cheats"


def _case(case_id: int = 7, *, thread: bool = False, text: str = "selling undetected cheats, dm me") -> Case:
    event = MessageEvent(
        server=SERVER,
        channel_id=p.FORUM_ID if thread else p.GENERAL_ID,
        thread_id=p.THREAD_ID if thread else None,
        message_id="1650000000000000001",
        author_id=p.SELLER_ID,
        text=text,
    )
    verdict = Verdict(
        Decision.REMOVE_AND_TIMEOUT,
        Stage.REASONER,
        "sha256:0123456789abcdef",
        categories=("cheats",),
        rule_ids=("CH1",),
        confidence=0.93,
        rationale="Offers paid cheats for sale.",
    )
    return Case(case_id, event, verdict, created_at=datetime.now(timezone.utc))


def _action(kind: ActionKind, case: Case | None = None, **fields: object) -> Action:
    case = case or _case()
    values: dict[str, object] = dict(
        server=SERVER,
        channel_id=case.event.channel_id,
        message_id=case.event.message_id,
        user_id=case.event.author_id,
        thread_id=case.event.thread_id,
        reason="Offers paid cheats for sale.",
        member_notice=NOTICE,
        case=case,
    )
    values.update(fields)
    return Action(kind, **values)  # type: ignore[arg-type]


async def test_delete_calls_discord_with_an_audit_reason(harness: Harness) -> None:
    outcome = await harness.adapter.sink.execute(_action(ActionKind.DELETE))

    assert outcome.ok and outcome.detail == "deleted"
    (request,) = harness.fake.calls("DELETE", rf"/channels/{p.GENERAL_ID}/messages/1650000000000000001")
    assert unquote(request.headers["X-Audit-Log-Reason"]) == "Offers paid cheats for sale."


async def test_delete_in_a_thread_or_forum_post_targets_the_thread(harness: Harness) -> None:
    outcome = await harness.adapter.sink.execute(_action(ActionKind.DELETE, _case(thread=True)))

    assert outcome.ok
    assert harness.fake.calls("DELETE", rf"/channels/{p.THREAD_ID}/messages/1650000000000000001")


async def test_delete_of_an_already_deleted_message_is_ok(harness: Harness) -> None:
    harness.fake.fail("DELETE", DELETE_PATH, 404, code=10008, message="Unknown Message")

    outcome = await harness.adapter.sink.execute(_action(ActionKind.DELETE))

    assert outcome.ok and outcome.detail == "already deleted"
    assert not outcome.permission_problem


async def test_timeout_patches_the_member_and_is_capped_at_28_days(harness: Harness) -> None:
    before = datetime.now(timezone.utc)
    short = await harness.adapter.sink.execute(_action(ActionKind.TIMEOUT, duration_s=3600))
    long = await harness.adapter.sink.execute(_action(ActionKind.TIMEOUT, duration_s=60 * 86400))

    assert short.ok and long.ok
    first, second = harness.fake.calls("PATCH", rf"/guilds/{p.GUILD_ID}/members/{p.SELLER_ID}")
    until_short = datetime.fromisoformat(first.body["communication_disabled_until"])
    until_long = datetime.fromisoformat(second.body["communication_disabled_until"])
    assert timedelta(minutes=59) < until_short - before < timedelta(minutes=61)
    assert timedelta(days=27, hours=23) < until_long - before <= timedelta(days=28, seconds=5)


async def test_a_timeout_without_a_duration_is_an_outcome_not_a_guess(harness: Harness) -> None:
    # The core always fills the duration in (the server's default for a Timeout button): the sink
    # has no settings to guess from, and must not time anyone out for an arbitrary length.
    outcome = await harness.adapter.sink.execute(_action(ActionKind.TIMEOUT, duration_s=None))

    assert not outcome.ok and "no duration" in outcome.detail
    assert harness.fake.calls("PATCH", r"/guilds/.*") == []


async def test_warn_sends_a_dm_naming_the_broken_rules(harness: Harness) -> None:
    outcome = await harness.adapter.sink.execute(_action(ActionKind.WARN))

    assert outcome.ok and outcome.detail == "warned by DM"
    (opened,) = harness.fake.calls("POST", "/users/@me/channels")
    assert int(opened.body["recipient_id"]) == int(p.SELLER_ID)
    (dm,) = [r for r in harness.fake.calls("POST", r"/channels/\d+/messages")]
    assert "Raid Night" in dm.body["content"]  # the guild's name from GUILD_CREATE
    assert "CH1: Selling or sharing cheats" in dm.body["content"]  # the rule as the policy words it
    assert "Offers paid cheats" not in dm.body["content"]  # the model's rationale is for moderators


async def test_warn_falls_back_to_a_channel_notice_when_dms_are_closed(harness: Harness) -> None:
    harness.fake.fail("POST", r"/channels/\d+/messages", 403, code=50007, message="Cannot send messages to this user")

    outcome = await harness.adapter.sink.execute(_action(ActionKind.WARN))

    assert outcome.ok and "notice posted" in outcome.detail
    assert not outcome.permission_problem
    (notice,) = harness.fake.posted(p.GENERAL_ID)
    assert notice["content"].startswith(f"<@{p.SELLER_ID}>")
    (request,) = [r for r in harness.fake.calls("POST", rf"/channels/{p.GENERAL_ID}/messages")]
    mentions = request.body["allowed_mentions"]
    assert mentions["parse"] == [] and [str(u) for u in mentions["users"]] == [p.SELLER_ID]  # no @everyone, no roles


async def test_ban_puts_the_ban_without_deleting_history(harness: Harness) -> None:
    outcome = await harness.adapter.sink.execute(_action(ActionKind.BAN, reason="case #7 by moderator 1"))

    assert outcome.ok
    (request,) = harness.fake.calls("PUT", rf"/guilds/{p.GUILD_ID}/bans/{p.SELLER_ID}")
    assert request.query == {"delete_message_seconds": "0"}
    assert unquote(request.headers["X-Audit-Log-Reason"]) == "case #7 by moderator 1"


async def test_post_case_posts_an_embed_with_buttons_and_returns_the_reference(harness: Harness) -> None:
    case = _case()

    outcome = await harness.adapter.sink.execute(_action(ActionKind.POST_CASE, case, mod_channel_id=p.MOD_CHANNEL_ID))

    assert outcome.ok
    (request,) = harness.fake.calls("POST", rf"/channels/{p.MOD_CHANNEL_ID}/messages")
    (embed,) = request.body["embeds"]
    assert embed["title"] == "Case #7 · remove_and_timeout"
    assert "selling undetected cheats, dm me" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Rules"] == "CH1"
    assert fields["Rationale"] == "Offers paid cheats for sale."
    assert fields["Stage"] == "reasoner"
    assert fields["Policy version"] == "sha256:0123456789abcdef"
    assert fields["Decision"] == "remove_and_timeout"
    assert fields["Author"] == f"<@{p.SELLER_ID}>"
    assert embed["url"].endswith(f"/{p.GUILD_ID}/{p.GENERAL_ID}/1650000000000000001")
    buttons = [c for row in request.body["components"] for c in row["components"]]
    assert [(b["label"], b["custom_id"]) for b in buttons] == [
        ("Uphold", "modbot:uphold:7"),
        ("Overturn", "modbot:overturn:7"),
        ("Timeout", "modbot:timeout:7"),
        ("Ban", "modbot:ban:7"),
        ("Show reasoning", "modbot:reasoning:7"),
    ]
    assert request.body["allowed_mentions"]["parse"] == []
    assert request.body["nonce"] == "modbot-case-7" and request.body["enforce_nonce"] is True
    assert outcome.platform_ref == f"{p.MOD_CHANNEL_ID}/{harness.fake.posted(p.MOD_CHANNEL_ID)[0]['id']}"


async def test_post_case_needs_a_mod_channel_and_is_not_repeated(harness: Harness) -> None:
    missing = await harness.adapter.sink.execute(_action(ActionKind.POST_CASE))
    again = await harness.adapter.sink.execute(_action(ActionKind.POST_CASE, _posted_case(), mod_channel_id=p.MOD_CHANNEL_ID))

    assert not missing.ok and "mod_channel_id" in missing.detail and not missing.permission_problem
    assert again.ok and again.detail == "already posted" and again.platform_ref == f"{p.MOD_CHANNEL_ID}/99"
    assert harness.fake.calls("POST", rf"/channels/{p.MOD_CHANNEL_ID}/messages") == []


def _posted_case() -> Case:
    case = _case()
    return Case(case.id, case.event, case.verdict, case.status, case.created_at, posted_ref=f"{p.MOD_CHANNEL_ID}/99")


async def test_notify_mods_posts_plain_text_in_the_mod_channel(harness: Harness) -> None:
    notice = Action(ActionKind.NOTIFY_MODS, server=SERVER, reason="I could not delete.", mod_channel_id=p.MOD_CHANNEL_ID)

    outcome = await harness.adapter.sink.execute(notice)

    assert outcome.ok
    (notice,) = harness.fake.posted(p.MOD_CHANNEL_ID)
    assert notice["content"] == "⚠️ I could not delete."
    assert notice["embeds"] == []


async def test_missing_permissions_are_a_permission_problem(harness: Harness) -> None:
    harness.fake.fail("PATCH", r"/guilds/\d+/members/\d+", 403, code=50013, message="Missing Permissions")

    outcome = await harness.adapter.sink.execute(_action(ActionKind.TIMEOUT, duration_s=60))

    assert not outcome.ok
    assert outcome.permission_problem
    assert "403" in outcome.detail and "50013" in outcome.detail


async def test_server_errors_and_dropped_connections_are_retried(harness: Harness) -> None:
    harness.fake.fail("DELETE", DELETE_PATH, 503, message="Service Unavailable")
    harness.fake.drop("DELETE", DELETE_PATH)

    outcome = await harness.adapter.sink.execute(_action(ActionKind.DELETE))

    assert outcome.ok
    assert len(harness.fake.calls("DELETE", DELETE_PATH)) == 3  # 503, dropped, then done


async def test_rate_limits_are_waited_out_by_discord_py(harness: Harness) -> None:
    harness.fake.rate_limit("DELETE", DELETE_PATH, retry_after=0.05)

    outcome = await harness.adapter.sink.execute(_action(ActionKind.DELETE))

    assert outcome.ok and outcome.detail == "deleted"
    assert len(harness.fake.calls("DELETE", DELETE_PATH)) == 2  # the 429, then the retry after 50 ms


async def test_a_server_that_stays_down_gives_a_failed_outcome(harness: Harness) -> None:
    harness.fake.fail("DELETE", DELETE_PATH, 503, times=10)

    outcome = await harness.adapter.sink.execute(_action(ActionKind.DELETE))

    assert not outcome.ok and not outcome.permission_problem
    assert "503" in outcome.detail
    assert len(harness.fake.calls("DELETE", DELETE_PATH)) == 3  # FAST_RETRY.attempts


async def test_actions_before_login_wait_for_the_connection(fake: FakeDiscord, tmp_path: Path) -> None:
    """Messages left pending by an earlier run are judged at start-up, maybe before the login finished."""
    settings = discord_settings(tmp_path)
    services = await build_services(settings, reasoner=None, prefilter=None)
    adapter = DiscordAdapter(services.core, settings.discord, retry=FAST_RETRY, connect_timeout_s=5)
    impatient = DiscordAdapter(services.core, settings.discord, connect_timeout_s=0.05)
    try:
        waiting = asyncio.create_task(adapter.sink.execute(_action(ActionKind.DELETE)))
        await asyncio.sleep(0.05)
        assert not waiting.done() and deletes(fake) == []
        await adapter.login()
        outcome = await asyncio.wait_for(waiting, 5)
        gave_up = await impatient.sink.execute(_action(ActionKind.DELETE))
    finally:
        await adapter.close()
        await impatient.close()
        await services.close()

    assert outcome.ok and len(deletes(fake)) == 1
    assert not gave_up.ok and "not connected to Discord" in gave_up.detail


def deletes(fake: FakeDiscord) -> list[Recorded]:
    return fake.calls("DELETE", DELETE_PATH)


async def test_bad_ids_are_an_outcome_not_a_crash(harness: Harness) -> None:
    outcome = await harness.adapter.sink.execute(_action(ActionKind.DELETE, message_id="not-a-snowflake"))

    assert not outcome.ok and "not a Discord id" in outcome.detail
    assert harness.fake.calls("DELETE", r".*") == []


async def test_a_refusal_in_enforce_mode_is_recorded_and_reported_once(harness: Harness) -> None:
    """Through the pipeline: two removals refused with 403 → two recorded outcomes, one notice."""
    await harness.services.server_settings.update(SERVER, mode="enforce", mod_channel_id=p.MOD_CHANNEL_ID, warn_users=False)
    harness.fake.fail("DELETE", DELETE_PATH, 403, code=50013, message="Missing Permissions", times=2)

    await harness.send("MESSAGE_CREATE", p.message("selling aimbot cheats", author_id=p.SELLER_ID))
    await harness.send("MESSAGE_CREATE", p.message("more aimbot cheats here", author_id=p.SELLER_ID))

    rows = await harness.services.storage.actions.recent_actions(SERVER)
    deletes = [r for r in rows if r.kind is ActionKind.DELETE]
    assert len(deletes) == 2 and not any(r.ok for r in deletes)
    notices = [m for m in harness.fake.posted(p.MOD_CHANNEL_ID) if not m["embeds"]]
    assert len(notices) == 1
    assert "could not delete" in notices[0]["content"] and "50013" in notices[0]["content"]
    # The cases themselves were still posted, and the core stored where.
    posts = [m for m in harness.fake.posted(p.MOD_CHANNEL_ID) if m["embeds"]]
    assert len(posts) == 2
    case = await harness.services.storage.cases.get_case(SERVER, 1)
    assert case is not None and case.posted_ref == f"{p.MOD_CHANNEL_ID}/{posts[0]['id']}"


async def test_a_complete_action_needs_no_core(fake: FakeDiscord) -> None:
    """A sink built from a logged-in client alone: no core, no settings, no store behind it."""
    client = discord.Client(intents=discord.Intents.none())
    sink = DiscordActionSink(client, retry=FAST_RETRY)
    try:
        await client.login("fake-token")
        sink.mark_connected()
        warned = await sink.execute(_action(ActionKind.WARN))
        posted = await sink.execute(_action(ActionKind.POST_CASE, mod_channel_id=p.MOD_CHANNEL_ID))
        timed_out = await sink.execute(_action(ActionKind.TIMEOUT, duration_s=600))
    finally:
        await client.close()

    assert warned.ok and posted.ok and timed_out.ok
    (dm,) = [r for r in fake.calls("POST", r"/channels/\d+/messages") if r.body.get("content")]
    assert NOTICE in dm.body["content"] and "the server" in dm.body["content"]  # no guild cache: no name
    assert posted.platform_ref == f"{p.MOD_CHANNEL_ID}/{fake.posted(p.MOD_CHANNEL_ID)[0]['id']}"
    assert fake.calls("PATCH", rf"/guilds/{p.GUILD_ID}/members/{p.SELLER_ID}")
