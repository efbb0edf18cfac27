"""Block Kit rendering of cases and of the moderator service's replies, and the button ids they carry.

Buttons use the action ids every platform shares: ``modbot:<verb>:<case id>`` (uphold, overturn,
reasoning; timeout/ban are not offered on Slack, which has neither) and ``modbot:queue:<page>``.
Everything a member wrote is escaped, so a quoted ``<!channel>`` cannot ping anyone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modbot.commands.presenters import case_summary, found_by
from modbot.domain import ActionKind, ActionTaken, Case, CaseStatus
from modbot.domain.commands import Reply

from .convert import mrkdwn_escape

__all__ = [
    "ButtonPress",
    "action_id",
    "case_blocks",
    "case_message",
    "parse_action_id",
    "reply_message",
]

Block = dict[str, Any]

# Block Kit's limits (characters): section text 3000, field 2000, header 150, fallback text kept short.
_SECTION_MAX = 2900
_FIELD_MAX = 1900
_HEADER_MAX = 150
_FALLBACK_MAX = 3000
_MAX_FIELDS_PER_SECTION = 10

_ACTION_ID = re.compile(r"^modbot:(uphold|overturn|reasoning|timeout|ban|queue):(\d{1,12})$")


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A parsed ``modbot:<verb>:<number>`` action id."""

    verb: str
    number: int


def action_id(verb: str, number: int) -> str:
    return f"modbot:{verb}:{number}"


def parse_action_id(value: str) -> ButtonPress | None:
    """The verb and case id (or page) of one of our buttons; ``None`` for anything else."""
    match = _ACTION_ID.match(value or "")
    return ButtonPress(match.group(1), int(match.group(2))) if match else None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, _HEADER_MAX) or "modbot", "emoji": False}}


def _section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(mrkdwn, _SECTION_MAX) or " "}}


def _fields(pairs: Sequence[tuple[str, str]]) -> list[Block]:
    blocks = []
    for start in range(0, len(pairs), _MAX_FIELDS_PER_SECTION):
        chunk = pairs[start : start + _MAX_FIELDS_PER_SECTION]
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _clip(f"*{name}*\n{value or '-'}", _FIELD_MAX)} for name, value in chunk
                ],
            }
        )
    return blocks


def _context(mrkdwn: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(mrkdwn, _SECTION_MAX)}]}


def _page_button(text: str, page: int) -> Block:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id("queue", page)}


def _quote(text: str) -> str:
    lines = mrkdwn_escape(_clip(text, 2000)).splitlines() or [""]
    return "\n".join(">" + line for line in lines)


def _button(text: str, verb: str, case_id: int, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id(verb, case_id),
        "value": str(case_id),
    }
    if style:
        button["style"] = style
    return button


def _taken_lines(taken: Sequence[ActionTaken]) -> list[str]:
    # The case post and the notices are this post itself; what matters is what happened to the member.
    return [
        f"{done.kind.value}: {'done' if done.ok else 'not done'}" + (f" ({done.detail})" if done.detail else "")
        for done in taken
        if done.kind not in (ActionKind.POST_CASE, ActionKind.NOTIFY_MODS)
    ]


def case_blocks(case: Case, *, actions_taken: Sequence[ActionTaken] = (), reviewed_by: str | None = None) -> list[Block]:
    """A case as posted to the mod channel: the message, the verdict, and the review buttons.

    Once reviewed (``case.status`` is upheld/overturned) only "Show reasoning" stays.
    """
    verdict = case.verdict
    event = case.event
    where = f"<#{mrkdwn_escape(event.channel_id)}>"
    if event.thread_id:
        where += " (in a thread)"
    edited = " (edited)" if event.edited else ""
    # The author by id, not as <@U…>: a mention would notify them if they can see the mod channel.
    message = f"*Message*{edited} by `{mrkdwn_escape(event.author_id)}` in {where}:\n{_quote(event.text)}"
    if event.attachments:
        names = ", ".join(mrkdwn_escape(a.filename) for a in event.attachments[:10])
        message += f"\n*Files:* {names}"
    pairs = [
        ("Verdict", verdict.decision.value),
        ("Rules", ", ".join(verdict.rule_ids) or "-"),
        ("Stage", verdict.stage.value),
        ("Confidence", f"{verdict.confidence:.2f}"),
        ("Policy version", verdict.policy_version),
        ("Status", case.status.value),
    ]
    if verdict.categories:
        pairs.insert(2, ("Categories", ", ".join(verdict.categories)))
    pairs.extend(found_by(verdict))  # an audit's or a moderator's report, not the bot's first judgement
    if lines := _taken_lines(actions_taken):
        pairs.append(("Actions", "\n".join(lines)))
    blocks: list[Block] = [
        _header(f"Case #{case.display_number}: {verdict.decision.value}"),
        _section(message),
        *_fields([(name, mrkdwn_escape(value)) for name, value in pairs]),
        _section(f"*Rationale*\n{mrkdwn_escape(verdict.rationale or '-')}"),
    ]
    if reviewed_by:
        blocks.append(_context(f"{case.status} by <@{mrkdwn_escape(reviewed_by)}>"))
    buttons = []
    if case.status is CaseStatus.OPEN:
        buttons += [_button("Uphold", "uphold", case.id, "primary"), _button("Overturn", "overturn", case.id, "danger")]
    buttons.append(_button("Show reasoning", "reasoning", case.id))
    blocks.append({"type": "actions", "block_id": f"modbot-case-{case.id}", "elements": buttons})
    return blocks


def case_message(
    case: Case, *, actions_taken: Sequence[ActionTaken] = (), reviewed_by: str | None = None
) -> dict[str, Any]:
    """``text`` (notification fallback) and ``blocks`` for ``chat.postMessage``/``respond``."""
    rules = ", ".join(case.verdict.rule_ids) or "no rule"
    text = f"Case #{case.display_number}: {case.verdict.decision.value} ({rules}) for a message by {mrkdwn_escape(case.event.author_id)}"
    return {"text": _clip(text, _FALLBACK_MAX), "blocks": case_blocks(case, actions_taken=actions_taken, reviewed_by=reviewed_by)}


def reply_message(reply: Reply, *, queue_pager: bool = False) -> dict[str, Any]:
    """A ``Reply`` as keyword arguments for bolt's ``respond``.

    ``queue_pager`` adds Previous/Next buttons (``modbot:queue:<page>``) to a paged review queue.
    """
    blocks: list[Block] = [_header(reply.title)]
    if reply.text:
        blocks.append(_section(mrkdwn_escape(reply.text)))
    if reply.case is not None:
        blocks += case_blocks(reply.case)[1:]  # the reply's own title replaces the case header
    elif reply.fields:
        blocks += _fields([(name, mrkdwn_escape(value)) for name, value in reply.fields])
    if reply.cases:
        lines = "\n".join(mrkdwn_escape(case_summary(case)) for case in reply.cases)
        blocks.append(_section(lines))
    if reply.pages > 1:
        pager = []
        if reply.page > 1:
            pager.append(_page_button("Previous", reply.page - 1))
        if reply.page < reply.pages:
            pager.append(_page_button("Next", reply.page + 1))
        blocks.append(_context(f"page {reply.page}/{reply.pages}"))
        if pager and queue_pager:
            blocks.append({"type": "actions", "block_id": "modbot-pager", "elements": pager})
    return {
        "text": _clip(reply.as_text(), _FALLBACK_MAX),
        "blocks": blocks[:50],
        "response_type": "ephemeral" if reply.ephemeral else "in_channel",
    }
