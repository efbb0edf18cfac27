"""Slack platform adapter (slack-bolt, asyncio): Socket Mode or HTTP, single- or multi-workspace.

The composition root (``modbot.app``) uses ``missing_settings(settings)`` and ``create(core, settings)``;
the adapter imports only ``modbot.domain``, ``modbot.ports`` (the ``Core`` facade), ``modbot.config`` and the
core's command parser and presenters. The modules:

* ``convert``      pure payload → ``MessageEvent`` converter, Slack markup and mentions → plain text/ids
* ``blocks``       Block Kit rendering of cases and replies; the ``modbot:<verb>:<id>`` button ids
* ``events``       message events → ``Core.submit`` (exemptions, context, Slack's retries)
* ``commands``     ``/mod``, the buttons and the "Report to modbot" shortcut → ``Core.execute``; who
                   counts as a moderator on Slack
* ``sink``         the ``ActionSink`` (delete with an admin user token, warn, post cases, notify)
* ``directory``    admin/owner flags and user-group membership, cached
* ``installation`` where tokens come from; slack-sdk's OAuth installation and state stores
* ``clients``      Web API clients with Slack's retry handlers
* ``adapter``      the bolt app, Socket Mode / HTTP serving
"""

from .adapter import BOT_SCOPES, EVENTS_PATH, USER_SCOPES, SlackAdapter, create, missing_settings
from .blocks import action_id, case_blocks, parse_action_id, reply_message
from .convert import mentions_to_ids, message_to_event, slack_to_plain
from .events import SlackCounters
from .installation import oauth_stores
from .sink import NO_ADMIN_TOKEN, SlackActionSink

__all__ = [
    "BOT_SCOPES",
    "EVENTS_PATH",
    "NO_ADMIN_TOKEN",
    "SlackActionSink",
    "SlackAdapter",
    "SlackCounters",
    "USER_SCOPES",
    "action_id",
    "case_blocks",
    "create",
    "mentions_to_ids",
    "message_to_event",
    "missing_settings",
    "oauth_stores",
    "parse_action_id",
    "reply_message",
    "slack_to_plain",
]
