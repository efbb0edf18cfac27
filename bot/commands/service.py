"""The moderator command service: ``/mod ...`` written once, for every platform.

Adapters turn a slash command or a button click into an ``Invoker`` plus one of the command value
objects below and render the ``Reply``. Permissions are checked here again, independently of the
platform's own gate (a Discord server admin can override ``default_member_permissions``; a Slack
slash command has no gate at all), and every command, allowed or refused, is written to the audit log.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Literal, Protocol

from bot.moderation.enforcement import ActionDispatcher
from bot.domain import Action, ActionKind, Case, MessageEvent, ServerRef, Verdict, utcnow
from bot.moderation.pipeline import Pipeline
from bot.domain.policy import PolicyError, parse_policy
from bot.moderation.resolvers import PolicyResolver, SettingsResolver
from bot.domain.settings import ServerSettings
from bot.store.repository import Store

__all__ = [
    "CaseAction",
    "CommandSyntaxError",
    "Exempt",
    "FeedbackSink",
    "Forget",
    "Help",
    "Invoker",
    "MODERATOR_PERMISSIONS",
    "MemberHistory",
    "ModCommand",
    "ModeratorService",
    "PolicyShow",
    "PolicyTest",
    "PolicyUpload",
    "PolicyUse",
    "Reply",
    "Review",
    "SetMode",
    "SetModChannel",
    "ShowCase",
    "ShowQueue",
    "ShowReasoning",
    "Stats",
    "parse_mod_command",
]

log = logging.getLogger(__name__)

#: Platform-neutral permission names an adapter may report for the invoking user. Any one suffices.
MODERATOR_PERMISSIONS = frozenset(
    {"manage_messages", "moderate_members", "administrator", "workspace_admin", "workspace_owner", "moderator_group"}
)
QUEUE_PAGE_SIZE = 5
MAX_UPLOAD_BYTES = 128 * 1024


class FeedbackSink(Protocol):
    """Where moderators' decisions go to teach the prefilter (uphold = violation, overturn = fine)."""

    async def add_feedback(self, server_key: str, text: str, violation: bool) -> None: ...


class CommandSyntaxError(ValueError):
    """A ``/mod`` command line that does not parse; the message is the usage to show."""


USAGE = """\
/mod policy show | policy upload <text> | policy use <id> | policy test <text>
/mod mode shadow|enforce
/mod modchannel <channel>
/mod queue [page]
/mod case <id>
/mod history <member> [page]
/mod exempt role|channel add|remove <id>
/mod stats [days]
/mod forget <member>"""

# Mentions as the platforms write them: Discord <@123> <@!123> <@&123> <#123>; Slack <@U1|name>
# <#C1|name> <!subteam^S1|name>.
_MENTION = re.compile(r"^<(?:@[!&]?|#|!subteam\^)([A-Za-z0-9_.-]+)(?:\|[^>]*)?>$")


def _target_id(token: str) -> str:
    match = _MENTION.match(token.strip())
    value = match.group(1) if match else token.strip()
    if not value or len(value) > 64 or not re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
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


def parse_mod_command(text: str) -> ModCommand:
    """Parse the text after ``/mod`` (Slack, CLI) into a command value object."""
    parts = text.strip().split(None, 1)
    head, rest = (parts[0] if parts else ""), (parts[1].strip() if len(parts) > 1 else "")
    verb = head.lower()
    if verb in ("", "help"):
        return Help()
    if verb == "policy":
        sub_parts = rest.split(None, 1)
        sub = sub_parts[0].lower() if sub_parts else ""
        arg = sub_parts[1].strip() if len(sub_parts) > 1 else ""
        if sub == "show":
            return PolicyShow()
        if sub == "upload":
            if not arg:
                raise CommandSyntaxError("usage: /mod policy upload <policy document text>")
            return PolicyUpload(arg)
        if sub == "use":
            if not arg:
                raise CommandSyntaxError("usage: /mod policy use <policy id or version>")
            return PolicyUse(arg.split()[0])
        if sub == "test":
            if not arg:
                raise CommandSyntaxError("usage: /mod policy test <message text>")
            return PolicyTest(arg)
        raise CommandSyntaxError("usage: /mod policy show | upload <text> | use <id> | test <text>")
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
            raise CommandSyntaxError("usage: /mod case <id>")
        return ShowCase(_int(args[0], "case id"))
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
    if verb == "forget":
        if len(args) != 1:
            raise CommandSyntaxError("usage: /mod forget <member>")
        return Forget(_target_id(args[0]))
    raise CommandSyntaxError(f"unknown command {head!r}\n{USAGE}")


def case_fields(case: Case) -> tuple[tuple[str, str], ...]:
    """The fields every rendering of a case shows (mod-channel post, /mod case)."""
    verdict = case.verdict
    return (
        ("Author", case.event.author_id),
        ("Channel", case.event.channel_id),
        ("Decision", verdict.decision.value),
        ("Rules", ", ".join(verdict.rule_ids) or "-"),
        ("Categories", ", ".join(verdict.categories) or "-"),
        ("Rationale", verdict.rationale or "-"),
        ("Stage", verdict.stage.value),
        ("Confidence", f"{verdict.confidence:.2f}"),
        ("Policy version", verdict.policy_version),
        ("Status", case.status),
    )


def verdict_fields(verdict: Verdict) -> tuple[tuple[str, str], ...]:
    return (
        ("Decision", verdict.decision.value),
        ("Rules", ", ".join(verdict.rule_ids) or "-"),
        ("Categories", ", ".join(verdict.categories) or "-"),
        ("Stage", verdict.stage.value),
        ("Rationale", verdict.rationale or "-"),
        ("Policy version", verdict.policy_version),
    )


@dataclass
class ModeratorService:
    """Executes moderator commands for any platform. Built once by the composition root."""

    store: Store
    pipeline: Pipeline
    policies: PolicyResolver
    settings: SettingsResolver
    dispatcher: ActionDispatcher
    feedback: FeedbackSink | None = None
    _handlers: dict[type, object] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._handlers = {
            PolicyShow: self._policy_show,
            PolicyUpload: self._policy_upload,
            PolicyUse: self._policy_use,
            PolicyTest: self._policy_test,
            SetMode: self._set_mode,
            SetModChannel: self._set_mod_channel,
            ShowQueue: self._queue,
            ShowCase: self._case,
            MemberHistory: self._history,
            Exempt: self._exempt,
            Stats: self._stats,
            Forget: self._forget,
            Review: self._review,
            CaseAction: self._case_action,
            ShowReasoning: self._reasoning,
            Help: self._help,
        }

    @staticmethod
    def is_moderator(invoker: Invoker, settings: ServerSettings) -> bool:
        """The core's own check: a moderator permission on the platform, or a configured moderator role."""
        if invoker.permissions & MODERATOR_PERMISSIONS:
            return True
        return bool(set(invoker.role_ids) & set(settings.moderator_role_ids))

    async def execute(self, invoker: Invoker, command: ModCommand) -> Reply:
        """Check permissions, run the command, audit it. Never raises for bad input."""
        await self.store.ensure_server(invoker.server)
        settings = await self.settings.get(invoker.server)
        arguments = _audit_arguments(command)
        if not self.is_moderator(invoker, settings):
            reply = Reply(
                False,
                "Not allowed",
                "Only moderators can use /mod: a moderator permission on this platform "
                "(Manage Messages on Discord, workspace admin on Slack) or a moderator role set for this server.",
            )
            await self.store.audit(invoker.server, invoker.user_id, command.name, arguments, allowed=False, result="refused")
            return reply
        handler = self._handlers[type(command)]
        try:
            reply = await handler(invoker, command)  # type: ignore[operator]
        except (LookupError, ValueError, PolicyError) as exc:
            reply = Reply(False, "Could not do that", str(exc))
        except Exception as exc:
            log.exception("moderator command %s failed", command.name)
            reply = Reply(False, "Something went wrong", f"{type(exc).__name__}; the error is in the bot's log.")
        await self.store.audit(
            invoker.server, invoker.user_id, command.name, arguments, allowed=True, result=reply.title[:200]
        )
        return reply

    # -- policy ------------------------------------------------------------------------------

    async def _policy_show(self, invoker: Invoker, _: PolicyShow) -> Reply:
        policy = await self.policies.get(invoker.server)
        available = await self.store.list_policies(invoker.server)
        rules = [f"{cat.id}: {', '.join(r.id for r in cat.rules)}" for cat in policy.meta.categories]
        listing = [
            f"{'* ' if r.active or (r.version == policy.version) else ''}{r.policy_id} {r.version}"
            f"{' (shipped)' if r.builtin else ''}"
            for r in available
        ]
        return Reply(
            True,
            f"Policy: {policy.meta.title}",
            fields=(
                ("Id", policy.id),
                ("Version", policy.version),
                ("Categories and rules", "\n".join(rules)),
                ("Available", "\n".join(listing) or "-"),
            ),
        )

    async def _policy_upload(self, invoker: Invoker, command: PolicyUpload) -> Reply:
        if len(command.text.encode("utf-8", "surrogatepass")) > MAX_UPLOAD_BYTES:
            return Reply(False, "Policy too large", f"A policy can be at most {MAX_UPLOAD_BYTES // 1024} KB.")
        try:
            policy = parse_policy(command.text, source=command.filename)
        except PolicyError as exc:
            return Reply(False, "The policy has a mistake", str(exc))
        row_id = await self.policies.upload(invoker.server, policy, invoker.user_id)
        if command.activate:
            await self.policies.use(invoker.server, policy.version, invoker.user_id)
        rules = sum(len(c.rules) for c in policy.meta.categories)
        return Reply(
            True,
            f"Policy {policy.id} uploaded" + (" and in use" if command.activate else ""),
            fields=(("Version", policy.version), ("Categories", str(len(policy.meta.categories))), ("Rules", str(rules)), ("Row", str(row_id))),
        )

    async def _policy_use(self, invoker: Invoker, command: PolicyUse) -> Reply:
        policy = await self.policies.use(invoker.server, command.ref, invoker.user_id)
        return Reply(True, f"Now using {policy.id}", fields=(("Version", policy.version),))

    async def _policy_test(self, invoker: Invoker, command: PolicyTest) -> Reply:
        policy = await self.policies.get(invoker.server)
        settings = await self.settings.get(invoker.server)
        event = MessageEvent(
            server=invoker.server, channel_id="policy-test", message_id="policy-test", author_id=invoker.user_id, text=command.text
        )
        verdict = await self.pipeline.classify(event, policy, settings=settings)
        return Reply(True, f"Test verdict: {verdict.decision.value}", fields=verdict_fields(verdict), verdict=verdict)

    # -- settings ----------------------------------------------------------------------------

    async def _set_mode(self, invoker: Invoker, command: SetMode) -> Reply:
        if command.mode not in ("shadow", "enforce"):
            raise ValueError("mode must be shadow or enforce")
        await self.settings.update(invoker.server, mode=command.mode)
        explain = (
            "Verdicts are recorded and cases queued; no message is deleted and nobody is timed out."
            if command.mode == "shadow"
            else "Verdicts are acted on: messages removed, members timed out and warned, cases posted."
        )
        return Reply(True, f"Mode: {command.mode}", explain, ephemeral=False)

    async def _set_mod_channel(self, invoker: Invoker, command: SetModChannel) -> Reply:
        await self.settings.update(invoker.server, mod_channel_id=command.channel_id)
        return Reply(True, "Mod channel set", f"Cases and notices go to {command.channel_id}.")

    async def _exempt(self, invoker: Invoker, command: Exempt) -> Reply:
        settings = await self.settings.get(invoker.server)
        field_name = "exempt_role_ids" if command.kind == "role" else "exempt_channel_ids"
        current = list(getattr(settings, field_name))
        if command.op == "add" and command.target_id not in current:
            current.append(command.target_id)
        elif command.op == "remove" and command.target_id in current:
            current.remove(command.target_id)
        await self.settings.update(invoker.server, **{field_name: tuple(current)})
        return Reply(True, f"Exempt {command.kind}s", "\n".join(current) or "none")

    # -- cases -------------------------------------------------------------------------------

    async def _queue(self, invoker: Invoker, command: ShowQueue) -> Reply:
        cases, total = await self.store.list_cases(invoker.server, status="open", page=command.page, per_page=QUEUE_PAGE_SIZE)
        pages = max(1, math.ceil(total / QUEUE_PAGE_SIZE))
        if not cases:
            return Reply(True, "Review queue", "No open cases." if total == 0 else "No cases on this page.", page=command.page, pages=pages)
        return Reply(True, f"Review queue ({total} open)", cases=tuple(cases), page=command.page, pages=pages)

    async def _get_case(self, invoker: Invoker, case_id: int) -> Case:
        case = await self.store.get_case(invoker.server, case_id)
        if case is None:
            # Same answer for "does not exist" and "belongs to another server": no cross-server probing.
            raise LookupError(f"no case #{case_id} in this server")
        return case

    async def _case(self, invoker: Invoker, command: ShowCase) -> Reply:
        case = await self._get_case(invoker, command.case_id)
        return Reply(True, f"Case #{case.id}", case.event.text[:1000], fields=case_fields(case), case=case)

    async def _history(self, invoker: Invoker, command: MemberHistory) -> Reply:
        cases, total = await self.store.list_cases(
            invoker.server, status=None, author_id=command.member_id, page=command.page, per_page=QUEUE_PAGE_SIZE
        )
        pages = max(1, math.ceil(total / QUEUE_PAGE_SIZE))
        text = "" if cases else "No cases for this member."
        return Reply(True, f"History of {command.member_id} ({total} cases)", text, cases=tuple(cases), page=command.page, pages=pages)

    async def _review(self, invoker: Invoker, command: Review) -> Reply:
        case = await self._get_case(invoker, command.case_id)
        status = "upheld" if command.outcome == "uphold" else "overturned"
        await self.store.add_review(invoker.server, case.id, invoker.user_id, command.outcome)
        await self.store.set_case_status(invoker.server, case.id, status)
        if self.feedback is not None and case.event.text:
            try:
                await self.feedback.add_feedback(invoker.server.key, case.event.text, command.outcome == "uphold")
            except Exception:  # learning is best effort; the review itself is recorded
                log.exception("could not feed the review of case %s to the prefilter", case.id)
        updated = await self.store.get_case(invoker.server, case.id)
        return Reply(
            True,
            f"Case #{case.id} {status}",
            "Overturned: recorded; the prefilter learns from it. Nothing is restored automatically."
            if status == "overturned"
            else "Upheld: recorded.",
            fields=case_fields(updated) if updated else (),
            case=updated,
            ephemeral=False,
        )

    async def _case_action(self, invoker: Invoker, command: CaseAction) -> Reply:
        case = await self._get_case(invoker, command.case_id)
        settings = await self.settings.get(invoker.server)
        kind = ActionKind.TIMEOUT if command.kind == "timeout" else ActionKind.BAN
        action = Action(
            kind,
            server=invoker.server,
            channel_id=case.event.channel_id,
            message_id=case.event.message_id,
            user_id=case.event.author_id,
            reason=f"case #{case.id} by moderator {invoker.user_id}",
            duration_s=(command.duration_s or settings.default_timeout_s) if kind is ActionKind.TIMEOUT else None,
            case=case,
        )
        outcome = await self.dispatcher.execute(action, requested_by=invoker.user_id)
        await self.store.add_review(invoker.server, case.id, invoker.user_id, command.kind, outcome.detail)
        if outcome.ok:
            await self.store.set_case_status(invoker.server, case.id, "upheld")
        return Reply(outcome.ok, f"{command.kind.capitalize()} {'done' if outcome.ok else 'failed'} for case #{case.id}", outcome.detail)

    async def _reasoning(self, invoker: Invoker, command: ShowReasoning) -> Reply:
        case = await self._get_case(invoker, command.case_id)
        verdict = case.verdict
        body = verdict.reasoning or "(no reasoning recorded: this verdict came from a fast stage)"
        if verdict.error:
            body += f"\n\nError: {verdict.error}"
            if verdict.raw_output:
                body += f"\nRaw model output: {verdict.raw_output[:1500]}"
        return Reply(True, f"Reasoning for case #{case.id} (moderators only)", body[:3900])

    # -- stats and privacy -------------------------------------------------------------------

    async def _stats(self, invoker: Invoker, command: Stats) -> Reply:
        since = utcnow() - timedelta(days=command.days)
        stats = await self.store.stats(invoker.server, since, command.days)
        median = f"{stats.median_latency_ms:.1f} ms" if stats.median_latency_ms is not None else "-"
        decisions = ", ".join(f"{k}: {v}" for k, v in sorted(stats.decisions.items())) or "-"
        return Reply(
            True,
            f"Last {command.days} days",
            fields=(
                ("Messages seen", str(stats.messages_seen)),
                ("Escalated", str(stats.escalated)),
                ("Acted", str(stats.acted)),
                ("Overturned", str(stats.overturned)),
                ("Upheld", str(stats.upheld)),
                ("Open cases", str(stats.open_cases)),
                ("Median latency", median),
                ("Decisions", decisions),
            ),
        )

    async def _forget(self, invoker: Invoker, command: Forget) -> Reply:
        erased = await self.store.forget_member(invoker.server, command.member_id)
        return Reply(True, f"Forgot {command.member_id}", f"Erased the stored content of {erased} messages.")

    async def _help(self, invoker: Invoker, _: Help) -> Reply:
        return Reply(True, "modbot moderator commands", USAGE)


def _audit_arguments(command: ModCommand) -> dict[str, object]:
    arguments = asdict(command)
    # Uploaded documents and test texts can be long; the audit keeps their size, not their body.
    for key in ("text",):
        if key in arguments and isinstance(arguments[key], str) and len(arguments[key]) > 200:
            arguments[key] = f"<{len(arguments[key])} chars>"
    return arguments
