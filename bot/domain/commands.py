"""Moderator commands as values: who runs one (``Invoker``), what they asked (one frozen value per
command) and the platform-neutral ``Reply`` that adapters render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modbot.domain.cases import Case, ReviewOutcome
from modbot.domain.messages import MessageEvent, ServerRef
from modbot.domain.verdicts import Verdict

__all__ = [
    "CaseAction",
    "Exempt",
    "Forget",
    "Help",
    "Invoker",
    "MAX_UPLOAD_BYTES",
    "MemberHistory",
    "MemberNoteCommand",
    "ModCommand",
    "PolicyDiff",
    "PolicyReplay",
    "PolicyShadow",
    "PolicyShow",
    "PolicyTest",
    "PolicyUpload",
    "PolicyUse",
    "PrefilterCommunity",
    "PrefilterRollback",
    "PrefilterStatus",
    "Reply",
    "ReportMessage",
    "Review",
    "SetMode",
    "SetModChannel",
    "SetValue",
    "ShowAudit",
    "ShowCase",
    "ShowQueue",
    "ShowReasoning",
    "Stats",
    "case_summary",
]


#: The largest policy document ``/mod policy upload`` takes (adapters check it before downloading a file).
MAX_UPLOAD_BYTES = 128 * 1024


@dataclass(frozen=True, slots=True)
class Invoker:
    """Who runs a command, where, and with which platform permissions (as reported by the adapter)."""

    server: ServerRef
    user_id: str
    role_ids: tuple[str, ...] = ()
    #: The adapter's answer to "does the platform call this user a moderator?" (Manage Messages on
    #: Discord, workspace admin or a moderator user group on Slack). Platform permission names stay
    #: in the adapters; the core also accepts the server's configured moderator roles.
    platform_moderator: bool = False
    display_name: str = ""


# -- commands (one frozen value object each) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyShow:
    name = "policy show"


@dataclass(frozen=True, slots=True)
class PolicyUpload:
    text: str
    filename: str = "policy.md"
    activate: bool = True
    name = "policy upload"


@dataclass(frozen=True, slots=True)
class PolicyUse:
    ref: str
    name = "policy use"


@dataclass(frozen=True, slots=True)
class PolicyTest:
    text: str
    #: A stored policy id or version to judge with instead of the active one (a candidate).
    ref: str | None = None
    name = "policy test"


@dataclass(frozen=True, slots=True)
class PolicyShadow:
    """``/mod policy shadow <id> [7d]``: run a candidate beside the live policy; ``off`` stops it,
    no argument shows what runs."""

    ref: str | None = None
    #: How long it runs, e.g. "7d" (None: until turned off).
    duration: str | None = None
    name = "policy shadow"


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    """``/mod policy diff``: the shadow policy's verdicts against the live ones over its period."""

    name = "policy diff"


@dataclass(frozen=True, slots=True)
class PolicyReplay:
    """``/mod policy replay <id or version> [last]``: re-judge the server's newest stored messages with a
    stored candidate and diff against their live verdicts; nothing is stored or acted on."""

    ref: str
    last: int = 200
    name = "policy replay"


@dataclass(frozen=True, slots=True)
class SetValue:
    """``/mod set <setting> <value>``: one of the server's numeric settings (``audit_share``, ``retention_days``).

    ``value`` is the text as typed; the handler checks and converts it (clear errors, not a parse failure)."""

    setting: str
    value: str
    name = "set"


@dataclass(frozen=True, slots=True)
class SetMode:
    mode: Literal["shadow", "enforce"]
    name = "mode"


@dataclass(frozen=True, slots=True)
class SetModChannel:
    """Where cases and notices are posted."""

    channel_id: str
    name = "modchannel"


@dataclass(frozen=True, slots=True)
class ShowQueue:
    page: int = 1
    name = "queue"


@dataclass(frozen=True, slots=True)
class ShowCase:
    """``/mod case N``: N is the case's number in the server (``Case.number``), not its internal id."""

    number: int
    name = "case"


@dataclass(frozen=True, slots=True)
class MemberHistory:
    member_id: str
    page: int = 1
    name = "history"


@dataclass(frozen=True, slots=True)
class MemberNoteCommand:
    """``/mod note <member> [text]``: add a note about a member (with text) or list their notes (without)."""

    member_id: str
    text: str | None = None
    name = "note"


@dataclass(frozen=True, slots=True)
class Exempt:
    kind: Literal["role", "channel"]
    op: Literal["add", "remove"]
    target_id: str
    name = "exempt"


@dataclass(frozen=True, slots=True)
class Stats:
    days: int = 7
    name = "stats"


@dataclass(frozen=True, slots=True)
class Forget:
    member_id: str
    name = "forget"


@dataclass(frozen=True, slots=True)
class ShowAudit:
    """``/mod audit [page]``: the server's own audit log, newest first."""

    page: int = 1
    name = "audit"


@dataclass(frozen=True, slots=True)
class Review:
    """A button on a posted case: uphold or overturn the bot's decision (the only thing that decides a case)."""

    case_id: int
    outcome: ReviewOutcome
    name = "review"

    def __post_init__(self) -> None:
        # Adapters read the outcome from a button id ("uphold"/"overturn"): take the word, keep the enum.
        object.__setattr__(self, "outcome", ReviewOutcome(self.outcome))


@dataclass(frozen=True, slots=True)
class CaseAction:
    """A button on a posted case: time out or ban the author. An enforcement action, not a review."""

    case_id: int
    kind: Literal["timeout", "ban"]
    duration_s: int | None = None
    name = "case action"


@dataclass(frozen=True, slots=True)
class ShowReasoning:
    case_id: int
    name = "reasoning"


@dataclass(frozen=True, slots=True)
class ReportMessage:
    """A moderator reports a message the bot allowed (Discord's message menu, Slack's message shortcut).

    ``message`` is the reported message as the platform shows it now; the core records it if it never
    saw this revision, and opens one case for it: reporting it again answers with the same case.
    """

    message: MessageEvent
    note: str = ""
    name = "report"

    def audit_arguments(self) -> dict[str, object]:
        """What the audit log keeps: where the message is and whose it is, not its text."""
        event = self.message
        return {
            "channel_id": event.channel_id,
            "message_id": event.message_id,
            "author_id": event.author_id,
            "text": f"<{len(event.text)} chars>",
            "note": self.note[:200],
        }


@dataclass(frozen=True, slots=True)
class PrefilterStatus:
    name = "prefilter status"


@dataclass(frozen=True, slots=True)
class PrefilterRollback:
    name = "prefilter rollback"


@dataclass(frozen=True, slots=True)
class PrefilterCommunity:
    #: None: the server is a community of its own again.
    community: str | None
    name = "prefilter community"


@dataclass(frozen=True, slots=True)
class Help:
    name = "help"


ModCommand = (
    PolicyShow | PolicyUpload | PolicyUse | PolicyTest | SetMode | SetModChannel | ShowQueue | ShowCase | MemberHistory
    | Exempt | Stats | Forget | Review | CaseAction | ShowReasoning | ReportMessage | Help
    | PrefilterStatus | PrefilterRollback | PrefilterCommunity
    | ShowAudit | PolicyShadow | PolicyDiff | SetValue | PolicyReplay | MemberNoteCommand
)


@dataclass(frozen=True, slots=True)
class Reply:
    """A platform-neutral answer; adapters render it as an embed, Block Kit, or plain text."""

    ok: bool
    title: str
    text: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    cases: tuple[Case, ...] = ()
    case: Case | None = None
    page: int = 1
    pages: int = 1
    verdict: Verdict | None = None
    #: Only the invoking moderator sees it (Discord ephemeral, Slack ``response_type=ephemeral``).
    ephemeral: bool = True

    def as_text(self) -> str:
        """A plain-text rendering (CLI, Slack fallback text, logs)."""
        lines = [self.title]
        if self.text:
            lines.append(self.text)
        lines.extend(f"{name}: {value}" for name, value in self.fields)
        for case in self.cases:
            lines.append(case_summary(case))
        if self.pages > 1:
            lines.append(f"page {self.page}/{self.pages}")
        return "\n".join(lines)


def case_summary(case: Case) -> str:
    """One line per case for lists."""
    text = case.event.text.replace("\n", " ")
    excerpt = text if len(text) <= 80 else text[:77] + "…"
    rules = ", ".join(case.verdict.rule_ids) or "-"
    return f"#{case.display_number} [{case.status}] {case.verdict.decision.value} {rules} by {case.event.author_id}: {excerpt}"
