"""``/mod`` and the case buttons on Slack, mapped onto the core's moderator commands.

The listeners only translate: the command text (mentions turned into plain ids first) → a command
value object through the core's parser, the member → an ``Invoker`` with Slack's own answer to "is
this a moderator?", the core's ``Reply`` → Block Kit. Both acknowledge first: Slack wants an answer
within 3 seconds, and the reply follows through ``response_url``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncBoltContext

from modbot.commands.parser import CommandSyntaxError, parse_mod_command
from modbot.config import SlackSettings
from modbot.domain import ActionTaken, ReviewOutcome
from modbot.domain.commands import (
    CaseAction,
    Invoker,
    ModCommand,
    PolicyTest,
    PolicyUpload,
    Reply,
    ReportMessage,
    Review,
    ShowQueue,
    ShowReasoning,
)
from modbot.ports import Core

from .blocks import case_message, parse_action_id, reply_message
from .convert import mentions_to_ids, message_to_event, server_ref, slack_to_plain
from .directory import MemberDirectory
from .events import SlackCounters

__all__ = ["REPORT_CALLBACK_ID", "SlackCommands", "command_text"]

log = logging.getLogger(__name__)

_FAILED = Reply(False, "Something went wrong", "The error is in the bot's log.")

#: The message shortcut (⋮ More actions → Report to modbot) in ``slack/manifest.yml``.
REPORT_CALLBACK_ID = "modbot_report"


def command_text(text: str) -> str:
    """The text after ``/mod`` as the core's parser takes it.

    The parser separates its verbs with single spaces; a moderator pasting a policy usually starts it
    on a new line ("/mod policy upload⏎+++ ..."), so the first separators are normalised. Mentions
    become plain ids, except in a policy document or a test message, which are kept as typed.
    """
    text = re.sub(r"^\s*(\S+)\s+(\S+)\s*", lambda m: f"{m.group(1)} {m.group(2)} ", text, count=1)
    if text.split(None, 1)[:1] == ["policy"]:
        return text
    return mentions_to_ids(text)


def _plain_arguments(command: ModCommand) -> ModCommand:
    # Uploaded policies and test messages arrive in Slack markup (&amp;, <https://...>): restore the
    # text as typed, so the stored policy is the document the moderator wrote.
    if isinstance(command, PolicyUpload):
        return replace(command, text=slack_to_plain(command.text), filename="slack-upload.md")
    if isinstance(command, PolicyTest):
        return replace(command, text=slack_to_plain(command.text))
    return command


def _button_command(verb: str, number: int) -> ModCommand:
    if verb in {outcome.value for outcome in ReviewOutcome}:
        return Review(number, ReviewOutcome(verb))
    if verb in ("timeout", "ban"):
        return CaseAction(number, verb)  # type: ignore[arg-type]
    if verb == "queue":
        return ShowQueue(number)
    return ShowReasoning(number)


class SlackCommands:
    """The ``/mod`` and button listeners; ``remember`` notes each request's workspace for its tokens."""

    def __init__(
        self,
        core: Core,
        config: SlackSettings,
        directory: MemberDirectory,
        counters: SlackCounters,
        remember: Callable[[str | None, AsyncBoltContext], None],
    ):
        self.core = core
        self.config = config
        self.directory = directory
        self.counters = counters
        self._remember = remember

    async def invoker(self, context: AsyncBoltContext, team_id: str, user_id: str, name: str) -> Invoker:
        """Who runs a command: Slack calls them a moderator when they are a workspace admin or owner,
        or in one of the deployment's moderator user groups (``slack.moderator_usergroup_ids``)."""
        server = server_ref(team_id)
        settings = await self.core.server_settings(server)
        client = context.client
        groups = (*self.config.moderator_usergroup_ids, *settings.moderator_role_ids)
        roles = await self.directory.role_ids(client, team_id, user_id, groups)
        in_group = bool(set(roles) & set(self.config.moderator_usergroup_ids))
        moderator = in_group or await self.directory.is_admin(client, team_id, user_id)
        return Invoker(server, user_id, roles, platform_moderator=moderator, display_name=name)

    async def _execute(self, context: AsyncBoltContext, team_id: str, user_id: str, name: str, command: ModCommand) -> Reply:
        invoker = await self.invoker(context, team_id, user_id, name)
        return await self.core.execute(invoker, command)

    async def on_mod_command(self, ack: Any, body: dict, respond: Any, context: AsyncBoltContext) -> None:
        """``/mod <text>``."""
        await ack()  # first: Slack wants an answer within 3 seconds; the reply follows via response_url
        self.counters.commands += 1
        team_id = body.get("team_id") or context.team_id or ""
        self._remember(team_id, context)
        user_id = body.get("user_id") or ""
        try:
            command = _plain_arguments(parse_mod_command(command_text(body.get("text") or "")))
        except CommandSyntaxError as exc:
            await respond(text=str(exc), response_type="ephemeral")
            return
        try:
            reply = await self._execute(context, team_id, user_id, body.get("user_name") or "", command)
        except Exception:
            log.exception("/mod %s failed", getattr(command, "name", "?"))
            reply = _FAILED
        await respond(**reply_message(reply, queue_pager=isinstance(command, ShowQueue)))

    async def on_button(self, ack: Any, body: dict, action: dict, respond: Any, context: AsyncBoltContext) -> None:
        """A click on one of our buttons (``modbot:<verb>:<number>``)."""
        await ack()
        self.counters.buttons += 1
        press = parse_action_id(action.get("action_id") or "")
        if press is None:
            return
        user = body.get("user") or {}
        team_id = (body.get("team") or {}).get("id") or user.get("team_id") or context.team_id or ""
        self._remember(team_id, context)
        command = _button_command(press.verb, press.number)
        name = user.get("username") or user.get("name") or ""
        try:
            reply = await self._execute(context, team_id, user.get("id") or "", name, command)
        except Exception:
            log.exception("the %s button failed", press.verb)
            reply = _FAILED
        if isinstance(command, Review) and reply.ok and reply.case is not None:
            # The case post itself changes: new status, who reviewed it, no more review buttons.
            case = reply.case
            taken = [ActionTaken(r.kind, r.ok, r.detail) for r in await self.core.case_actions(case.event.server, case.id)]
            await respond(replace_original=True, **case_message(case, actions_taken=taken, reviewed_by=user.get("id")))
        elif isinstance(command, ShowQueue):
            await respond(replace_original=True, **reply_message(reply, queue_pager=True))
        else:
            await respond(replace_original=False, **reply_message(reply))

    async def on_report(self, ack: Any, body: dict, respond: Any, context: AsyncBoltContext) -> None:
        """The "Report to modbot" message shortcut (a ``message_action``): report a message the bot allowed."""
        await ack()
        self.counters.reports += 1
        user = body.get("user") or {}
        team_id = (body.get("team") or {}).get("id") or user.get("team_id") or context.team_id or ""
        self._remember(team_id, context)
        channel = (body.get("channel") or {}).get("id") or ""
        message = body.get("message") or {}
        # The shortcut carries the message without its channel: put it back, as a message event has it.
        payload = {
            **message,
            "type": "message",
            "channel": channel,
            "channel_type": "im" if channel.startswith("D") else "channel",
        }
        event = message_to_event(payload, team_id)
        try:
            if event is None:
                reply = Reply(False, "Cannot report this", "Only members' messages in channels can be reported.")
            else:
                name = user.get("username") or user.get("name") or ""
                reply = await self._execute(context, team_id, user.get("id") or "", name, ReportMessage(event))
        except Exception:
            log.exception("reporting a message failed")
            reply = _FAILED
        await respond(**reply_message(reply))
