"""The health of a running bot: does the database answer, how much waits, which platforms are connected."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from modbot.domain import MessageStatus
from modbot.moderation.dispatch import ActionDispatcher
from modbot.ports import MessageLog

__all__ = ["CONNECTED", "Health", "HealthProbe", "PlatformStates"]

#: The state of a platform that is up; the others are "starting", "reconnecting" and "stopped".
CONNECTED = "connected"
#: The states a dashboard can expect (``Services.platform_state`` values); others are exported as they are.
KNOWN_STATES = ("starting", "connected", "reconnecting", "stopped")

#: Reads ``Services.platform_state`` (platform -> state) at the moment of asking.
PlatformStates = Callable[[], Mapping[str, str]]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Health:
    """One look at the bot; ``backlog`` and ``outbox`` are None when the database did not answer."""

    database: bool
    backlog: int | None = None
    outbox: int | None = None
    platforms: dict[str, str] = field(default_factory=dict)
    checked_at: float = 0.0

    @property
    def status(self) -> Literal["ok", "degraded"]:
        """``ok``: the database answers and every platform is connected."""
        if self.database and all(state == CONNECTED for state in self.platforms.values()):
            return "ok"
        return "degraded"

    @property
    def http_status(self) -> int:
        """200 while the database answers (a platform reconnecting is degraded, not down), else 503."""
        return 200 if self.database else 503

    def to_json(self) -> dict[str, object]:
        """The ``/healthz`` body."""
        return {
            "status": self.status,
            "database": "ok" if self.database else "unavailable",
            "platforms": dict(self.platforms),
            "backlog": self.backlog,
            "outbox": self.outbox,
        }


class HealthProbe:
    """Asks the database two counts (pending messages, unsettled actions), with a time limit."""

    def __init__(
        self, messages: MessageLog, dispatcher: ActionDispatcher, platforms: PlatformStates, *, timeout_s: float = 2.0
    ):
        self.messages = messages
        self.dispatcher = dispatcher
        self.platforms = platforms
        self.timeout_s = timeout_s
        #: The latest result (the collector exports it); None before the first look.
        self.last: Health | None = None

    def platform_states(self) -> dict[str, str]:
        """The platforms' states now; a broken reader means no states rather than a failed scrape."""
        try:
            return {str(name): str(state) for name, state in self.platforms().items()}
        except Exception:
            log.exception("reading the platforms' states failed")
            return {}

    async def check(self) -> Health:
        """Look now; never raises (a failing database is the answer, not an error)."""
        platforms = self.platform_states()
        try:
            async with asyncio.timeout(self.timeout_s):
                backlog = await self.messages.count_messages(MessageStatus.PENDING)
                outbox = await self.dispatcher.unsettled()
            health = Health(True, backlog, outbox, platforms, time.time())
        except Exception as exc:
            # Only the kind of error: a driver's message may quote the database URL.
            if self.last is None or self.last.database:
                log.warning("health check: the database does not answer (%s)", type(exc).__name__)
            health = Health(False, platforms=platforms, checked_at=time.time())
        else:
            if self.last is not None and not self.last.database:
                log.info("health check: the database answers again")
        self.last = health
        return health
