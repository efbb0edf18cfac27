"""``/mod ...`` text (Slack's slash command, the CLI) parsed into one command value.

Ids are plain platform ids: each adapter turns its own mention syntax (``<@123>``, ``<#C1|name>``)
into the id before the text gets here, so no platform's syntax lives in the core.
"""

from __future__ import annotations

import re
import shlex

from modbot.commands.presenters import USAGE
from modbot.domain.commands import (
    Exempt,
    Forget,
    Help,
    MemberHistory,
    MemberNoteCommand,
    ModCommand,
    PolicyDiff,
    PolicyReplay,
    PolicyShadow,
    PolicyShow,
    PolicyTest,
    PolicyUpload,
    PolicyUse,
    PrefilterCommunity,
    PrefilterRollback,
    PrefilterStatus,
    SetMode,
    SetModChannel,
    SetValue,
    ShowAudit,
    ShowCase,
    ShowQueue,
    Stats,
)

__all__ = ["CommandSyntaxError", "parse_mod_command"]

#: What a member, role or channel id may look like on any platform (digits, Slack's U…/C…/S… ids).
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class CommandSyntaxError(ValueError):
    """A ``/mod`` command line that does not parse; the message is the usage to show."""


def _target_id(token: str) -> str:
    value = token.strip()
    if not _PLAIN_ID.fullmatch(value):
        raise CommandSyntaxError(f"not a member, role or channel id: {token!r}")
    return value


def _int(token: str, what: str, minimum: int = 1, maximum: int = 10**9) -> int:
    try:
        value = int(token.lstrip("#"))
    except ValueError:
        raise CommandSyntaxError(f"{what} must be a number, not {token!r}") from None
    if not minimum <= value <= maximum:
        raise CommandSyntaxError(f"{what} must be between {minimum} and {maximum}")
    return value


def _policy_command(rest: str) -> ModCommand:
    sub_parts = rest.split(None, 1)
    sub = sub_parts[0].lower() if sub_parts else ""
    arg = sub_parts[1].strip() if len(sub_parts) > 1 else ""
    if sub == "show":
        return PolicyShow()
    if sub == "upload":
        # Typed uploads (Slack, the CLI) are stored but not used until asked: `--activate`, or `policy use`.
        activate = arg.split(None, 1)[:1] == ["--activate"]
        if activate:
            arg = arg[len("--activate") :].strip()
        if not arg:
            raise CommandSyntaxError("usage: /mod policy upload [--activate] <policy document text>")
        return PolicyUpload(arg, activate=activate)
    if sub == "use":
        if not arg:
            raise CommandSyntaxError("usage: /mod policy use <policy id or version>")
        return PolicyUse(arg.split()[0])
    if sub == "test":
        if not arg:
            raise CommandSyntaxError("usage: /mod policy test <message text> [version]")
        return _policy_test(arg)
    if sub == "shadow":
        words = arg.split()
        if len(words) > 2 or (words[:1] == ["off"] and len(words) > 1):
            raise CommandSyntaxError("usage: /mod policy shadow <id or version> [duration, e.g. 7d] | off")
        return PolicyShadow(words[0] if words else None, words[1] if len(words) > 1 else None)
    if sub == "diff":
        return PolicyDiff()
    if sub == "replay":
        words = arg.split()
        if not 1 <= len(words) <= 2:
            raise CommandSyntaxError("usage: /mod policy replay <id or version> [last messages, 1-1000]")
        return PolicyReplay(words[0], _int(words[1], "last", 1, 1000) if len(words) > 1 else 200)
    raise CommandSyntaxError(
        "usage: /mod policy show | upload [--activate] <text> | use <id> | test <text> [version] | shadow <id> [7d] | off | diff | replay <id> [last]"
    )


#: A trailing word that names the policy ``/mod policy test`` judges with: a version, or ``policy:<id>``.
_TEST_REF = re.compile(r"\s+(sha256:[0-9a-f]{4,64}|policy:[^\s]{1,100})\s*$")


def _policy_test(arg: str) -> PolicyTest:
    """``<text> [version]``: the last word is the candidate when it is a version (``sha256:…``) or
    ``policy:<id or version>``; the rest, as typed, is the text."""
    match = _TEST_REF.search(arg)
    if match is None:
        return PolicyTest(arg)
    text = arg[: match.start()].strip()
    if not text:
        return PolicyTest(arg)
    return PolicyTest(text, match.group(1).removeprefix("policy:"))


def parse_mod_command(text: str) -> ModCommand:
    """Parse the text after ``/mod`` into a command value object; CommandSyntaxError says how to use it."""
    parts = text.strip().split(None, 1)
    head, rest = (parts[0] if parts else ""), (parts[1].strip() if len(parts) > 1 else "")
    verb = head.lower()
    if verb in ("", "help"):
        return Help()
    if verb == "policy":
        # The policy text keeps its own line breaks and quotes: it is not split into arguments.
        return _policy_command(rest)
    try:
        args = shlex.split(rest)
    except ValueError:
        args = rest.split()
    if verb == "mode":
        if len(args) != 1 or args[0].lower() not in ("shadow", "enforce"):
            raise CommandSyntaxError("usage: /mod mode shadow|enforce")
        return SetMode(args[0].lower())  # type: ignore[arg-type]
    if verb == "queue":
        return ShowQueue(_int(args[0], "page") if args else 1)
    if verb == "case":
        if len(args) != 1:
            raise CommandSyntaxError("usage: /mod case <number>")
        return ShowCase(_int(args[0], "case number"))
    if verb == "history":
        if not args:
            raise CommandSyntaxError("usage: /mod history <member> [page]")
        return MemberHistory(_target_id(args[0]), _int(args[1], "page") if len(args) > 1 else 1)
    if verb == "exempt":
        if len(args) != 3 or args[0].lower() not in ("role", "channel") or args[1].lower() not in ("add", "remove"):
            raise CommandSyntaxError("usage: /mod exempt role|channel add|remove <id>")
        return Exempt(args[0].lower(), args[1].lower(), _target_id(args[2]))  # type: ignore[arg-type]
    if verb == "stats":
        return Stats(_int(args[0], "days", 1, 365) if args else 7)
    if verb in ("modchannel", "mod-channel"):
        if len(args) != 1:
            raise CommandSyntaxError("usage: /mod modchannel <channel>")
        return SetModChannel(_target_id(args[0]))
    if verb == "note":
        # The note keeps its words as typed (not shell-split): "<member> <text>".
        words = rest.split(None, 1)
        if not words:
            raise CommandSyntaxError("usage: /mod note <member> [text]")
        return MemberNoteCommand(_target_id(words[0]), words[1].strip() if len(words) > 1 else None)
    if verb == "set":
        # The value is checked by the handler (bounds and meaning live with the setting).
        if len(args) != 2:
            raise CommandSyntaxError("usage: /mod set audit_share <0..1> | set retention_days <days>")
        return SetValue(args[0].lower(), args[1])
    if verb == "audit":
        return ShowAudit(_int(args[0], "page") if args else 1)
    if verb == "prefilter":
        sub = args[0].lower() if args else ""
        if sub == "status" and len(args) == 1:
            return PrefilterStatus()
        if sub == "rollback" and len(args) == 1:
            return PrefilterRollback()
        if sub == "community" and len(args) == 2 and 0 < len(args[1]) <= 100:
            return PrefilterCommunity(None if args[1].lower() == "none" else args[1])
        raise CommandSyntaxError("usage: /mod prefilter status | rollback | community <name>|none")
    if verb == "forget":
        if len(args) != 1:
            raise CommandSyntaxError("usage: /mod forget <member>")
        return Forget(_target_id(args[0]))
    raise CommandSyntaxError(f"unknown command {head!r}\n{USAGE}")
