"""The ``Core`` facade: all an adapter may ask of the moderation core (``modbot.ports.Core``).

Adapters get this object from the composition root and nothing else of the core: no pipeline, no
store, no settings resolver. It only delegates; the rules live in the pipeline and the command service.
"""

from __future__ import annotations

from datetime import timedelta

from modbot.commands.service import ModeratorService
from modbot.domain import Action, ActionKind, ActionOutcome, Case, CaseStatus, MessageEvent, ServerRef, utcnow
from modbot.domain.commands import Invoker, ModCommand, Reply
from modbot.domain.figures import RecallEstimate
from modbot.domain.records import ActionRecord, CasePage, Intake, MessageVerdict, ServerStats
from modbot.moderation.dispatch import ActionDispatcher
from modbot.domain.settings import ServerSettings
from modbot.moderation.pipeline import Pipeline
from modbot.ports import ActionLog, CaseBook, EffectiveSettings, LiveFigures, MessageLog, ServerConfig, VerdictLog

__all__ = ["ModerationCore"]


class ModerationCore:
    """Implements ``modbot.ports.Core`` over the pipeline, the command service and the storage ports."""

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        moderators: ModeratorService,
        settings: EffectiveSettings,
        servers: ServerConfig,
        cases: CaseBook,
        actions: ActionLog,
        messages: MessageLog,
        verdicts: VerdictLog,
        figures: LiveFigures,
        dispatcher: ActionDispatcher | None = None,
    ):
        self._pipeline = pipeline
        self._moderators = moderators
        self._settings = settings
        self._servers = servers
        self._cases = cases
        self._actions = actions
        self._messages = messages
        self._verdicts = verdicts
        self._figures = figures
        self._dispatcher = dispatcher

    async def submit(self, event: MessageEvent) -> Intake:
        """Accept a message: recorded as pending before anything else, then judged."""
        return await self._pipeline.submit(event)

    async def execute(self, invoker: Invoker, command: ModCommand) -> Reply:
        """Run a moderator command (permission-checked and audited by the command service)."""
        return await self._moderators.execute(invoker, command)

    async def server_joined(self, server: ServerRef, name: str = "") -> None:
        """The bot was added to (or saw) a server: register it, keeping its name current."""
        await self._servers.ensure_server(server, name)

    async def server_settings(self, server: ServerRef) -> ServerSettings:
        """A server's effective settings (context size, exemptions, moderator roles)."""
        return await self._settings.get(server)

    async def is_moderator(self, invoker: Invoker) -> bool:
        """The core's own permission check, for adapters that gate buttons before deferring."""
        return await self._moderators.is_moderator(invoker)

    async def case(self, server: ServerRef, case_id: int) -> Case | None:
        """One of ``server``'s cases (None for another server's: no cross-server reads)."""
        return await self._cases.get_case(server, case_id)

    async def case_actions(self, server: ServerRef, case_id: int) -> list[ActionRecord]:
        """What was done on a case so far, oldest first."""
        return await self._actions.actions_for_case(server, case_id)

    async def message_verdict(self, server: ServerRef, message_id: str) -> MessageVerdict | None:
        """Where one of ``server``'s messages stands: its newest revision's status and newest verdict.

        An edit is a newer revision, so while it waits the answer is pending even if the old text was judged.
        """
        found = await self._messages.latest_revision(server, message_id)
        if found is None:
            return None
        stored, detail = found
        verdicts = await self._verdicts.verdicts_for(server, stored.row_id)
        # A keyword verdict acted on at once may be followed by the reasoner's: the newest one counts.
        return MessageVerdict(stored.row_id, stored.status, verdicts[-1] if verdicts else None, detail)

    async def recall_estimate(self, server: ServerRef, *, days: int = 7, community: bool = False) -> RecallEstimate:
        """The prefilter's live recall estimate over the last ``days``, for the server or its community."""
        return await self._figures.recall(server, utcnow() - timedelta(days=days), community=community)

    async def list_cases(
        self, server: ServerRef, *, status: CaseStatus | None = CaseStatus.OPEN, page: int = 1, per_page: int = 50
    ) -> CasePage:
        """One page of ``server``'s cases, newest first (scoped by server in the case book)."""
        return await self._cases.list_cases(server, status=status, page=page, per_page=per_page)

    async def server_stats(self, server: ServerRef, *, days: int = 7) -> ServerStats:
        """``server``'s verdict figures over the last ``days``."""
        return await self._verdicts.stats(server, utcnow() - timedelta(days=days), days)

    async def serves(self, server: ServerRef) -> bool:
        """Whether the bot serves ``server`` (registered on join or by its first message)."""
        return await self._servers.server_exists(server)

    async def refresh_case_post(self, server: ServerRef, case_id: int) -> ActionOutcome | None:
        """Redraw a posted case from its stored state, through the outbox like any action (retried, recorded)."""
        case = await self._cases.get_case(server, case_id)
        if case is None or not case.posted_ref or self._dispatcher is None:
            return None
        settings = await self._settings.get(server)
        event = case.event
        action = Action(
            ActionKind.UPDATE_CASE,
            server=server,
            channel_id=event.channel_id,
            thread_id=event.thread_id,
            message_id=event.message_id,
            user_id=event.author_id,
            mod_channel_id=settings.mod_channel_id,
            reason=f"case #{case.display_number} {case.status.value}",
            case=case,
        )
        return await self._dispatcher.execute(action)
