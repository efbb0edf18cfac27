"""``/mod audit`` and ``/mod prefilter ...`` as Discord slash commands, through discord.py's parser."""

from __future__ import annotations

from tests.adapters.discord import payloads as p
from tests.adapters.discord.harness import SERVER, Harness, slash


async def test_audit_lists_this_servers_moderator_commands(harness: Harness) -> None:
    await slash(harness, "policy show")
    await slash(harness, "stats")

    answer = await slash(harness, "audit")
    second_page = await slash(harness, "audit", [p.option("page", 4, 2)])

    assert answer.ephemeral
    text = str(answer.embed)
    assert "policy show" in text and "stats" in text, answer.embed
    assert "policy show" not in str(second_page.embed)


async def test_prefilter_commands_reach_the_core(harness: Harness) -> None:
    status = await slash(harness, "prefilter status")
    community = await slash(harness, "prefilter community", [p.option("name", 3, "none")])

    assert status.embed and community.embed
    entries = [row.command for row in await harness.services.storage.audit.audit_entries(SERVER, limit=10)]
    assert any("prefilter" in entry for entry in entries), entries


async def test_set_and_note_reach_the_core(harness: Harness) -> None:
    answer = await slash(harness, "set", [p.option("setting", 3, "audit_share"), p.option("value", 3, "5%")])
    refused = await slash(harness, "set", [p.option("setting", 3, "retention_days"), p.option("value", 3, "0")])
    member = p.snowflake()
    resolved = {"users": {member: p.user(member, "seller")}}
    await slash(harness, "note", [p.option("member", 6, member), p.option("text", 3, "warned in voice chat")], resolved=resolved)
    listed = await slash(harness, "note", [p.option("member", 6, member)], resolved=resolved)

    settings = await harness.services.server_settings.get(SERVER)
    assert settings.audit_share == 0.05, answer.embed
    assert settings.retention_days != 0 and refused.embed
    assert "warned in voice chat" in str(listed.embed)
