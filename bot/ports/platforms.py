"""Ports between the core and the platforms: action sinks, context sources, running adapters, and
the ``Core`` facade that adapters talk to (all they may ask of the core)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from modbot.domain import Action, ActionOutcome, Case, CaseStatus, MessageEvent, ServerRef
from modbot.domain.commands import Invoker, ModCommand, Reply
from modbot.domain.figures import RecallEstimate
from modbot.domain.records import ActionRecord, CasePage, Intake, MessageVerdict, ServerStats
from modbot.domain.settings import ServerSettings

__all__ = [
    "ActionSink",
    "ConnectionWatcher",
    "ContextSource",
    "Core",
    "PlatformAdapter",
    "PlatformAuthError",
    "PlatformUnavailable",
]


# -- platforms ----------------------------------------------------------------------------------


@runtime_checkable
class ActionSink(Protocol):
    """A platform's action executor: carries out one action and reports what happened.

    The ``Action`` carries everything needed (channel, case card, member notice, duration): a sink
    never calls back into the core. It never raises; failures are outcomes.
    """

    async def execute(self, action: Action) -> ActionOutcome: ...


class PlatformAuthError(RuntimeError):
    """The platform refused this bot's credentials (HTTP 401, an invalid token, ``invalid_auth``) or its
    app settings: retrying cannot help, so the supervisor stops this platform (the others go on).

    The message says what to fix in one line and never contains the secret; ``setting`` names it
    (``"DISCORD_TOKEN"``, ``"SLACK_BOT_TOKEN"``...).
    """

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


class PlatformUnavailable(RuntimeError):
    """The platform cannot be reached now (DNS, a refused connection, a timeout, a 5xx): the supervisor
    tries again with backoff. The message is one line, e.g. ``cannot reach discord.com (DNS lookup failed)``."""


class ConnectionWatcher(Protocol):
    """Told by a running adapter when its connection is up or lost (the supervisor's state and backoff)."""

    def connected(self) -> None: ...

    def disconnected(self, reason: str) -> None:
        """The connection dropped and the platform's SDK is reconnecting by itself (``reason``: one line)."""
        ...


class PlatformAdapter(Protocol):
    """A running connection to one platform, made by its module's ``create(core, settings)``."""

    platform: str

    @property
    def sink(self) -> ActionSink:
        """Where the core's actions for this platform go (registered with the dispatcher)."""
        ...

    async def run(self) -> None:
        """Connect and serve until cancelled or closed.

        Raises ``PlatformAuthError`` when the credentials are refused (retrying cannot help) and
        ``PlatformUnavailable`` when the platform cannot be reached now; ``run()`` may be called again
        after either.
        """
        ...

    def watch(self, watcher: ConnectionWatcher) -> None:
        """Report connection changes to ``watcher`` from now on."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class ContextSource(Protocol):
    """Where an adapter reads the messages that preceded one (for the reasoner's context)."""

    async def recent(self, event: MessageEvent, limit: int) -> tuple[MessageEvent, ...]: ...


# -- the facade adapters talk to ----------------------------------------------------------------


class Core(Protocol):
    """All an adapter may ask of the core: submit messages, run moderator commands, report servers."""

    async def submit(self, event: MessageEvent) -> Intake:
        """Accept a message: recorded as pending before anything else, then judged."""
        ...

    async def execute(self, invoker: Invoker, command: ModCommand) -> Reply:
        """Run a moderator command (permission-checked and audited in the core)."""
        ...

    async def server_joined(self, server: ServerRef, name: str = "") -> None:
        """The bot was added to (or saw) a server."""
        ...

    async def server_settings(self, server: ServerRef) -> ServerSettings:
        """A server's effective settings (context size, exemptions, moderator roles)."""
        ...

    async def is_moderator(self, invoker: Invoker) -> bool:
        """The core's own permission check, for adapters that gate buttons before deferring."""
        ...

    async def case(self, server: ServerRef, case_id: int) -> Case | None: ...

    async def case_actions(self, server: ServerRef, case_id: int) -> list[ActionRecord]: ...

    async def message_verdict(self, server: ServerRef, message_id: str) -> MessageVerdict | None:
        """Where one of ``server``'s messages stands (its newest revision); None if never received."""
        ...

    async def recall_estimate(self, server: ServerRef, *, days: int = 7, community: bool = False) -> RecallEstimate:
        """The prefilter's live recall estimate over the last ``days`` (metrics, the console)."""
        ...

    async def list_cases(
        self, server: ServerRef, *, status: CaseStatus | None = CaseStatus.OPEN, page: int = 1, per_page: int = 50
    ) -> CasePage:
        """One page of ``server``'s cases, newest first (the web console's queue; check ``is_moderator`` first)."""
        ...

    async def server_stats(self, server: ServerRef, *, days: int = 7) -> ServerStats:
        """``server``'s verdict figures over the last ``days`` (the web console's charts)."""
        ...

    async def refresh_case_post(self, server: ServerRef, case_id: int) -> ActionOutcome | None:
        """Redraw a case's chat post after a review made elsewhere (None: it was never posted)."""
        ...

    async def serves(self, server: ServerRef) -> bool:
        """Whether the bot serves ``server`` (it joined it or saw its messages): the console lists no other."""
        ...
