"""Rendering core objects for Discord: embeds for replies and cases, and the persistent buttons.

Buttons carry their meaning in the custom id (``modbot:<verb>:<case_id>``, ``modbot:queue:<page>``)
and are ``DynamicItem`` templates registered on the client, so a click is understood after a
restart without any per-message state (and without growing discord.py's view store per post).
"""

from __future__ import annotations

from typing import Any, Protocol

import discord

from modbot.commands.presenters import case_fields
from modbot.domain import Case, CaseStatus
from modbot.domain.commands import Reply

__all__ = [
    "CASE_VERBS",
    "CaseButton",
    "QueuePageButton",
    "case_embed",
    "case_view",
    "clip",
    "message_link",
    "queue_view",
    "reply_embed",
]

#: Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
MAX_FIELDS = 25
#: Discord rejects embeds whose title, description, fields and footer add up to more than 6,000.
EMBED_TOTAL_LIMIT = 6000
#: Case text shown in the mod channel; long messages are cut, the stored case keeps them whole.
CASE_TEXT_LIMIT = 1500
#: Per case in lists (queue, history).
CASE_EXCERPT_LIMIT = 200

CASE_VERBS = ("uphold", "overturn", "timeout", "ban", "reasoning")

_COLOURS = {
    CaseStatus.OPEN: discord.Colour.orange(),
    CaseStatus.UPHELD: discord.Colour.red(),
    CaseStatus.OVERTURNED: discord.Colour.green(),
}


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis; never empty (Discord rejects empty values)."""
    text = text or "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_link(case: Case) -> str:
    event = case.event
    where = event.thread_id or event.channel_id
    return f"https://discord.com/channels/{event.server.id}/{where}/{event.message_id}"


def _mentionable(name: str, value: str, case: Case) -> str:
    # Mentions in embeds render as names but never ping anyone.
    if name == "Author":
        return f"<@{value}>"
    if name == "Channel":
        where = case.event.thread_id or case.event.channel_id
        return f"<#{where}>"
    return value


def case_embed(case: Case, note: str = "") -> discord.Embed:
    """The mod-log post of a case: the message, the verdict, rule ids, rationale, stage, policy version."""
    verdict = case.verdict
    text = case.event.text.strip() or "(no text)"
    description = "\n".join(f"> {line}" for line in clip(text, CASE_TEXT_LIMIT).splitlines())
    if case.event.attachments:
        description += "\n" + ", ".join(f"📎 {a.filename}" for a in case.event.attachments[:5])
    embed = discord.Embed(
        title=clip(f"Case #{case.display_number} · {verdict.decision.value}", TITLE_LIMIT),
        description=clip(description, CASE_TEXT_LIMIT + 500),
        colour=_COLOURS.get(case.status, discord.Colour.light_grey()),
        url=message_link(case),
        timestamp=case.created_at or case.event.timestamp,
    )
    for name, value in case_fields(case):
        long_value = name in ("Rationale",)
        embed.add_field(
            name=clip(name, FIELD_NAME_LIMIT),
            value=clip(_mentionable(name, value, case), FIELD_VALUE_LIMIT),
            inline=not long_value,
        )
    if note:
        embed.add_field(name="Review", value=clip(note, FIELD_VALUE_LIMIT), inline=False)
    embed.set_footer(text=f"modbot case {case.display_number}{' (edited message)' if case.event.edited else ''}")
    return embed


def reply_embed(reply: Reply) -> discord.Embed:
    """A moderator command's ``Reply`` as an embed (green when it worked, red when it did not)."""
    embed = discord.Embed(
        title=clip(reply.title, TITLE_LIMIT),
        description=clip(reply.text, DESCRIPTION_LIMIT) if reply.text else None,
        colour=discord.Colour.green() if reply.ok else discord.Colour.red(),
    )
    fields = list(reply.fields)
    for case in reply.cases:
        rules = ", ".join(case.verdict.rule_ids) or "-"
        excerpt = clip(case.event.text.replace("\n", " "), CASE_EXCERPT_LIMIT)
        fields.append(
            (
                f"#{case.display_number} · {case.status} · {case.verdict.decision.value} · {rules}",
                f"<@{case.event.author_id}>: {excerpt}",
            )
        )
    footer = f"page {reply.page}/{reply.pages}" if reply.pages > 1 else ""
    budget = EMBED_TOTAL_LIMIT - len(embed.title or "") - len(embed.description or "") - len(footer) - 50
    for name, value in fields[:MAX_FIELDS]:
        name, value = clip(name, FIELD_NAME_LIMIT), clip(value, FIELD_VALUE_LIMIT)
        if len(name) + len(value) > budget:
            embed.add_field(name="…", value="(more than fits in one message)", inline=False)
            break
        budget -= len(name) + len(value)
        embed.add_field(name=name, value=value, inline=False)
    if footer:
        embed.set_footer(text=footer)
    return embed


# -- buttons ----------------------------------------------------------------------------------------


class ButtonHandler(Protocol):
    """What the buttons call; implemented by the adapter's interaction handler."""

    async def on_case_button(self, interaction: discord.Interaction, verb: str, case_id: int) -> None: ...

    async def on_queue_page(self, interaction: discord.Interaction, page: int) -> None: ...


def _handler(interaction: discord.Interaction) -> ButtonHandler:
    # The client is the adapter's own subclass, which carries its handler (see client.py).
    return interaction.client.modbot_buttons  # type: ignore[attr-defined]


_CASE_STYLES = {
    "uphold": ("Uphold", discord.ButtonStyle.success),
    "overturn": ("Overturn", discord.ButtonStyle.secondary),
    "timeout": ("Timeout", discord.ButtonStyle.primary),
    "ban": ("Ban", discord.ButtonStyle.danger),
    "reasoning": ("Show reasoning", discord.ButtonStyle.secondary),
}


class CaseButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"modbot:(?P<verb>uphold|overturn|timeout|ban|reasoning):(?P<case_id>[0-9]{1,18})",
):
    """A button on a posted case. Works for any case id, across restarts."""

    def __init__(self, verb: str, case_id: int):
        label, style = _CASE_STYLES[verb]
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"modbot:{verb}:{case_id}"))
        self.verb = verb
        self.case_id = case_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> CaseButton:
        return cls(match["verb"], int(match["case_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).on_case_button(interaction, self.verb, self.case_id)


class QueuePageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"modbot:queue:(?P<page>[0-9]{1,6})"):
    """Previous/next page of ``/mod queue``."""

    def __init__(self, page: int, label: str = "", disabled: bool = False):
        super().__init__(
            discord.ui.Button(
                label=label or f"Page {page}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"modbot:queue:{page}",
                disabled=disabled,
            )
        )
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> QueuePageButton:
        return cls(int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).on_queue_page(interaction, self.page)


def case_view(case_id: int) -> discord.ui.View:
    """Uphold, Overturn, Timeout, Ban, Show reasoning."""
    view = discord.ui.View(timeout=None)
    for verb in CASE_VERBS:
        view.add_item(CaseButton(verb, case_id))
    return view


def queue_view(page: int, pages: int) -> discord.ui.View | None:
    """Previous/next buttons, or None when everything fits on one page."""
    if pages <= 1:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(QueuePageButton(max(page - 1, 0), "◀ Previous", disabled=page <= 1))
    view.add_item(QueuePageButton(page + 1, "Next ▶", disabled=page >= pages))
    return view

