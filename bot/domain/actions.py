"""Actions: instructions for a platform's action executor, and what came of them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from modbot.domain.cases import Case
from modbot.domain.messages import ServerRef

__all__ = ["Action", "ActionKind", "ActionOutcome", "ActionTaken"]


class ActionKind(StrEnum):
    """Things the bot can do on a platform."""

    DELETE = "delete"
    TIMEOUT = "timeout"
    WARN = "warn"
    BAN = "ban"
    POST_CASE = "post_case"
    NOTIFY_MODS = "notify_mods"
    #: Redraw a posted case (its ``posted_ref``) after a review made elsewhere (the web console).
    UPDATE_CASE = "update_case"


@dataclass(frozen=True, slots=True)
class ActionTaken:
    """An action already tried on the same case, and whether it worked (a case post lists them)."""

    kind: ActionKind
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Action:
    """One instruction for a platform's action executor, carrying everything the executor needs.

    The enforcement layer fills it in completely (where the mod channel is, what the member is told,
    how long a timeout lasts), so an ``ActionSink`` never calls back into the core.
    """

    kind: ActionKind
    server: ServerRef
    channel_id: str | None = None
    message_id: str | None = None
    user_id: str | None = None
    #: Why, for the platform's audit log and the moderators (the rationale or the rule ids).
    reason: str = ""
    duration_s: int | None = None
    case: Case | None = None
    #: The thread or forum post the message lives in, when not the channel itself.
    thread_id: str | None = None
    #: Where cases and notices go (the server's ``mod_channel_id``); None: none configured.
    mod_channel_id: str | None = None
    #: What the member is told (WARN): the rules broken, in the policy's own words.
    member_notice: str = ""
    #: What was already tried on the same case, in order (filled in by the dispatcher): lets a sink say
    #: "removed" rather than "flagged", or list the actions on the case post, without asking the core.
    taken: tuple[ActionTaken, ...] = ()
    #: The same for this action across retries and restarts (set when it is planned in the outbox):
    #: platforms that deliver at least once (the HTTP API's callbacks) let receivers dedupe by it.
    idempotency_key: str = ""


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What happened when an action was carried out; recorded for every action, failures too."""

    ok: bool
    detail: str = ""
    #: A refusal that will repeat until a human fixes something (missing permission, role order).
    permission_problem: bool = False
    platform_ref: str | None = None
    #: A transient failure (network down, 429, 5xx): try again after at least this many seconds.
    #: None means the outcome is final, success or not.
    retry_after_s: float | None = None
