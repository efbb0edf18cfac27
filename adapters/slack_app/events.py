"""Message events in: a Slack ``message`` event → a ``MessageEvent`` submitted to the core.

Exempt channels and members are skipped here already (with the core's own rule,
``modbot.domain.settings.exemption_reason``), because finding a member's user groups costs API calls
and context is kept only for messages that are judged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from cachetools import LRUCache
from slack_bolt.async_app import AsyncBoltContext

from modbot.domain.records import IntakeStatus
from modbot.domain.settings import exemption_reason
from modbot.ports import Core

from .convert import message_to_event
from .directory import MemberDirectory
from .recent import RecentMessages

__all__ = ["MessageIntake", "SlackCounters"]

log = logging.getLogger(__name__)

#: How many recent event ids are remembered to drop Slack's retries of them.
SEEN_EVENT_IDS = 4096


@dataclass(slots=True)
class SlackCounters:
    """What the adapter did with what Slack sent (metrics, and what tests wait on)."""

    message_events: int = 0
    retries_dropped: int = 0
    not_moderated: int = 0
    exempt: int = 0
    #: Recorded by the core (queued, or pending when the queue was full).
    submitted: int = 0
    duplicates: int = 0
    rejected: int = 0
    commands: int = 0
    buttons: int = 0
    #: "Report to modbot" message shortcuts received.
    reports: int = 0
    #: Message events whose handling finished (whatever the outcome).
    handled: int = 0


class MessageIntake:
    """The ``message`` listener; ``remember`` notes each request's workspace for its tokens."""

    def __init__(
        self,
        core: Core,
        directory: MemberDirectory,
        counters: SlackCounters,
        remember: Callable[[str | None, AsyncBoltContext], None],
    ):
        self.core = core
        self.directory = directory
        self.counters = counters
        self.recent = RecentMessages()
        self._remember = remember
        self._event_ids: LRUCache[str, bool] = LRUCache(SEEN_EVENT_IDS)

    async def on_message(self, body: dict, context: AsyncBoltContext) -> None:
        """A ``message`` event from the Events API or Socket Mode."""
        counters = self.counters
        counters.message_events += 1
        event_id = body.get("event_id")
        # Slack retries an event it thinks we missed (X-Slack-Retry-Num); the first delivery already
        # submitted it. The core dedupes too (message id + content hash), across restarts.
        try:
            if isinstance(event_id, str):
                if event_id in self._event_ids:
                    counters.retries_dropped += 1
                    return
                self._event_ids[event_id] = True
            await self._take(body, context)
        except Exception:
            if isinstance(event_id, str):
                self._event_ids.pop(event_id, None)
            log.exception("a Slack message event could not be taken in")
        finally:
            counters.handled += 1

    async def _take(self, body: dict, context: AsyncBoltContext) -> None:
        team_id = body.get("team_id") or context.team_id
        self._remember(team_id, context)
        event = message_to_event(body.get("event") or {}, team_id or "")
        if event is None:
            self.counters.not_moderated += 1
            return
        settings = await self.core.server_settings(event.server)
        if exemption_reason(event, settings) is not None:  # an exempt channel or thread: no lookups
            self.counters.exempt += 1
            return
        # Only exempt groups matter for a message; looking them up is cached (see MemberDirectory).
        roles = await self.directory.role_ids(context.client, event.server.id, event.author_id, settings.exempt_role_ids)
        event = replace(event, author_role_ids=roles)
        if exemption_reason(event, settings) is not None:
            self.counters.exempt += 1
            return
        earlier = self.recent.before(event, settings.context_messages)
        self.recent.note(event)
        intake = await self.core.submit(replace(event, context=earlier))
        if intake.status is IntakeStatus.DUPLICATE:
            self.counters.duplicates += 1
        elif intake.status is IntakeStatus.REJECTED:
            self.counters.rejected += 1
        else:
            self.counters.submitted += 1
