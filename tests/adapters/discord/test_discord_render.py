"""Embeds stay inside Discord's limits whatever the message, rationale or reply holds."""

from __future__ import annotations

from datetime import UTC, datetime

from modbot_adapters.discord_bot.render import EMBED_TOTAL_LIMIT, case_embed, case_view, queue_view, reply_embed
from modbot.domain.commands import Reply
from modbot.domain import Case, Decision, MessageEvent, ServerRef, Stage, Verdict

SERVER = ServerRef("discord", "1")


def _case(case_id: int, text: str, rationale: str = "r") -> Case:
    event = MessageEvent(SERVER, "2", str(100 + case_id), "3", text, thread_id="4")
    verdict = Verdict(Decision.FLAG, Stage.KEYWORD, "sha256:0", rule_ids=("CH1",), rationale=rationale)
    return Case(case_id, event, verdict, created_at=datetime.now(UTC))


def test_a_huge_message_and_rationale_fit_in_one_case_embed() -> None:
    embed = case_embed(_case(1, "line\n" * 5000, rationale="why " * 2000), note="overturn by <@5>")

    assert len(embed) <= EMBED_TOTAL_LIMIT
    assert all(len(f.value or "") <= 1024 for f in embed.fields)
    assert embed.description is not None and embed.description.startswith("> line")
    # Threads and forum posts link to the thread, where the message was.
    assert embed.url == "https://discord.com/channels/1/4/101"


def test_a_full_queue_page_of_long_messages_fits() -> None:
    reply = Reply(True, "Review queue (9 open)", cases=tuple(_case(i, "x" * 4000) for i in range(5)), page=1, pages=2)

    embed = reply_embed(reply)

    assert len(embed) <= EMBED_TOTAL_LIMIT
    assert len(embed.fields) == 5
    assert embed.footer.text == "page 1/2"


def test_replies_with_too_many_long_fields_are_cut_with_a_marker() -> None:
    reply = Reply(True, "Policy", fields=tuple((f"f{i}", "v" * 1500) for i in range(20)))

    embed = reply_embed(reply)

    assert len(embed) <= EMBED_TOTAL_LIMIT
    assert embed.fields[-1].value == "(more than fits in one message)"


def test_case_and_queue_buttons_carry_the_case_and_the_page() -> None:
    ids = [item.custom_id for item in case_view(42).children]  # type: ignore[attr-defined]
    assert ids == ["modbot:uphold:42", "modbot:overturn:42", "modbot:timeout:42", "modbot:ban:42", "modbot:reasoning:42"]
    assert queue_view(1, 1) is None
