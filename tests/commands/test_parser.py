"""``/mod`` text -> command values: plain ids only (adapters translate their mention syntax first)."""

from __future__ import annotations

import pytest

from modbot.commands.parser import CommandSyntaxError, parse_mod_command
from modbot.domain.commands import (
    Exempt,
    Forget,
    Help,
    MemberHistory,
    PolicyShow,
    PolicyTest,
    PolicyUpload,
    PolicyUse,
    SetMode,
    SetModChannel,
    ShowCase,
    ShowQueue,
    Stats,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("policy show", PolicyShow()),
        ("policy test selling aimbot now", PolicyTest("selling aimbot now")),
        ("policy use game-community", PolicyUse("game-community")),
        ("mode enforce", SetMode("enforce")),
        ("queue", ShowQueue(1)),
        ("queue 3", ShowQueue(3)),
        ("case #12", ShowCase(12)),
        ("history U123", MemberHistory("U123")),
        ("history 42 2", MemberHistory("42", 2)),
        ("exempt role add 99", Exempt("role", "add", "99")),
        ("exempt channel remove C1", Exempt("channel", "remove", "C1")),
        ("stats 30", Stats(30)),
        ("stats", Stats(7)),
        ("forget U9", Forget("U9")),
        ("modchannel C77", SetModChannel("C77")),
        ("policy  upload\n+++\nid = 1", PolicyUpload("+++\nid = 1", activate=False)),
        ("policy upload --activate\n+++\nid = 1", PolicyUpload("+++\nid = 1", activate=True)),
        ("", Help()),
    ],
)
def test_parse_mod_command(text, expected):
    assert parse_mod_command(text) == expected


@pytest.mark.parametrize(
    "text",
    ["mode loud", "queue x", "case", "exempt role add", "stats 9999", "frobnicate", "history U1 U2 x y", "forget " + "9" * 65],
)
def test_parse_mod_command_errors_say_how_to_use_it(text):
    with pytest.raises(CommandSyntaxError) as info:
        parse_mod_command(text)
    assert str(info.value)


@pytest.mark.parametrize("text", ["history <@U123|bob>", "exempt role add <@&99>", "modchannel <#C77|mods>", "forget <@!9>"])
def test_platform_mention_syntax_is_not_the_cores_business(text):
    with pytest.raises(CommandSyntaxError, match="not a member, role or channel id"):
        parse_mod_command(text)
