"""Slack platform adapter (slack-bolt, asyncio): Socket Mode or HTTP, single- or multi-workspace.

The composition root (``bot.app``) uses ``missing_settings(settings)`` and ``create(services)``.
The modules:

* ``convert``      pure payload → ``MessageEvent`` converter and Slack markup helpers
* ``blocks``       Block Kit rendering of cases and replies; the ``modbot:<verb>:<id>`` button ids
* ``sink``         the ``ActionSink`` (delete with an admin user token, warn, post cases, notify)
* ``directory``    admin/owner flags and user-group membership → the core's ``Invoker``
* ``installation`` OAuth installation store and state store in our database
* ``adapter``      the bolt app, its listeners, Socket Mode / HTTP serving
"""

from .adapter import BOT_SCOPES, EVENTS_PATH, USER_SCOPES, SlackAdapter, SlackCounters, create, missing_settings
from .blocks import action_id, case_blocks, parse_action_id, reply_message
from .convert import message_to_event, slack_to_plain
from .installation import DatabaseInstallationStore
from .sink import NO_ADMIN_TOKEN, SlackActionSink

__all__ = [
    "BOT_SCOPES",
    "DatabaseInstallationStore",
    "EVENTS_PATH",
    "NO_ADMIN_TOKEN",
    "SlackActionSink",
    "SlackAdapter",
    "SlackCounters",
    "USER_SCOPES",
    "action_id",
    "case_blocks",
    "create",
    "message_to_event",
    "missing_settings",
    "parse_action_id",
    "reply_message",
    "slack_to_plain",
]
