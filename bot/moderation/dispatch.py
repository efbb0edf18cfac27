"""Carrying actions out through each platform's ``ActionSink``, from the outbox, at least once.

Every action is in the outbox before it runs (a verdict's are written with the verdict). The
dispatcher runs it; a final outcome is settled (recorded in the action log and taken out of the
outbox in one transaction), a transient failure (``ActionOutcome.retry_after_s``) is retried with
exponential backoff, and what a crash interrupted is resumed at start-up with the same
idempotency key. The dispatcher also remembers where a case was posted and tells moderators once
about a missing permission.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from modbot.domain import Action, ActionKind, ActionOutcome, ActionTaken, Case, ServerRef, utcnow
from modbot.domain.records import PlannedAction
from modbot.moderation.enforcement import plan_moderator_action
from modbot.ports import ActionLog, ActionOutbox, ActionSink, AuditLog, CaseBook, EffectiveSettings

__all__ = ["ActionDispatcher", "ModeratorActions", "RetryPolicy", "RetryTiming", "retry_delay_s"]

log = logging.getLogger(__name__)


class RetryTiming(Protocol):
    """What the dispatcher reads of its settings (``modbot.config.PipelineSettings``)."""

    @property
    def action_retry_base_s(self) -> float: ...

    @property
    def action_retry_max_s(self) -> float: ...

    @property
    def action_give_up_after_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff for transient failures, and when to give up on an action."""

    action_retry_base_s: float = 2.0
    action_retry_max_s: float = 600.0
    action_give_up_after_s: float = 86_400.0


def retry_delay_s(timing: RetryTiming, attempts: int, asked_s: float) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones; never less than the platform asked."""
    backoff = min(timing.action_retry_base_s * 2 ** min(attempts, 30), timing.action_retry_max_s)
    return max(backoff, asked_s)


class ActionDispatcher:
    """Runs outbox actions on the platforms' sinks and settles their outcomes."""

    def __init__(
        self,
        actions: ActionLog,
        outbox: ActionOutbox,
        cases: CaseBook,
        notices: AuditLog,
        sinks: Mapping[str, ActionSink] | None = None,
        *,
        retry: RetryTiming | None = None,
    ):
        self.actions = actions
        self.outbox = outbox
        self.cases = cases
        self.notices = notices
        self.sinks: dict[str, ActionSink] = dict(sinks or {})
        self.retry = retry or RetryPolicy()
        # Actions being attempted by this process: a sweep never starts a second attempt of one.
        self._running: set[int] = set()

    def register(self, platform: str, sink: ActionSink) -> None:
        """Route ``platform``'s actions to ``sink`` (the composition root does this per adapter)."""
        self.sinks[platform] = sink

    # -- entry points ----------------------------------------------------------------------------

    async def execute(self, action: Action, *, requested_by: str | None = None) -> ActionOutcome:
        """Plan one action in the outbox and carry it out now (a moderator's timeout or ban)."""
        (planned,) = await self.outbox.plan_actions([action], requested_by=requested_by)
        return await self._run(planned, action.case, action.taken)

    async def run_planned(self, planned: Sequence[PlannedAction], case: Case | None) -> list[ActionOutcome]:
        """Carry out a plan already in the outbox, in order; each action carries what the earlier ones did."""
        self._running.update(p.id for p in planned)  # before any await: the sweeper must not take them
        outcomes: list[ActionOutcome] = []
        taken: list[ActionTaken] = []
        for item in planned:
            outcome = await self._run(item, case, tuple(taken))
            outcomes.append(outcome)
            taken.append(ActionTaken(item.action.kind, outcome.ok, outcome.detail))
        return outcomes

    async def resume_due(self, *, limit: int = 200, at_start: bool = False) -> int:
        """Attempt the outbox actions that are due; returns how many were attempted.

        Due: a lease ran out, or its holder is a dead incarnation on this machine (a crashed earlier
        run, taken at once at start-up). Another live process's lease is never broken (several bot
        processes may share the database): ``at_start`` (start-up) is handled like any sweep.
        """
        found = await self.outbox.due_actions(limit, exclude=self._running)
        # Marked before any await: a sweep running meanwhile must not take the same actions.
        due = [item for item in found if item.id not in self._running]
        waiting = {item.id for item in due}
        self._running |= waiting
        attempted = 0
        cases: dict[tuple[ServerRef, int], Case | None] = {}
        try:
            for item in due:
                if not await self.outbox.claim(item):
                    continue  # another runner has it (or it was settled meanwhile)
                case = None
                if item.case_id is not None:
                    key = (item.action.server, item.case_id)
                    if key not in cases:
                        cases[key] = await self.cases.get_case(*key)
                    case = cases[key]
                taken = await self._taken_on(item)
                waiting.discard(item.id)  # from here ``_run`` owns the mark
                await self._run(item, case, taken)
                attempted += 1
        finally:
            self._running -= waiting
        return attempted

    async def unsettled(self, server: ServerRef | None = None) -> int:
        """Actions planned and not yet settled (waiting for a retry, or interrupted)."""
        return await self.outbox.count_unsettled(server)

    # -- one attempt ---------------------------------------------------------------------------

    async def _run(self, planned: PlannedAction, case: Case | None, taken: tuple[ActionTaken, ...]) -> ActionOutcome:
        self._running.add(planned.id)
        try:
            action = replace(planned.action, case=case, taken=taken)
            sink = self.sinks.get(action.server.platform)
            outcome = await self._attempt(sink, action)
            if outcome.retry_after_s is not None:
                if utcnow() - planned.created_at < timedelta(seconds=self.retry.action_give_up_after_s):
                    delay = retry_delay_s(self.retry, planned.attempts, outcome.retry_after_s)
                    await self.outbox.retry_later(planned, utcnow() + timedelta(seconds=delay), outcome.detail)
                    log.info(
                        "%s on %s failed for now (%s): attempt %d again in %.1f s",
                        action.kind.value, action.server, outcome.detail, planned.attempts + 2, delay,
                    )
                    return outcome
                outcome = replace(
                    outcome, detail=f"gave up after {planned.attempts + 1} attempts: {outcome.detail}", retry_after_s=None
                )
            # Where a case went is stored before the action leaves the outbox: a crash in between runs the
            # post again with the same key (the platform dedupes), instead of losing the reference for good.
            await self._remember_post(action, outcome)
            await self.outbox.settle(planned, action, outcome)
            if outcome.permission_problem and sink is not None:
                await self._report_permission_problem(action, outcome, sink)
            return outcome
        finally:
            self._running.discard(planned.id)

    async def _attempt(self, sink: ActionSink | None, action: Action) -> ActionOutcome:
        if sink is None:
            return ActionOutcome(False, f"no action executor for platform {action.server.platform!r}")
        try:
            return await sink.execute(action)
        except Exception as exc:  # an adapter bug or a dropped connection: tried again, never lost
            log.exception("action %s failed in the %s adapter", action.kind, action.server.platform)
            return ActionOutcome(False, f"adapter error: {type(exc).__name__}", retry_after_s=0.0)

    async def _remember_post(self, action: Action, outcome: ActionOutcome) -> None:
        if outcome.ok and action.kind is ActionKind.POST_CASE and action.case is not None and outcome.platform_ref:
            if outcome.platform_ref != action.case.posted_ref:
                await self.cases.set_case_posted_ref(action.server, action.case.id, outcome.platform_ref)

    async def _taken_on(self, planned: PlannedAction) -> tuple[ActionTaken, ...]:
        """What was already settled on the action's case (a resumed plan knows what its first part did)."""
        if planned.case_id is None:
            return ()
        records = await self.actions.actions_for_case(planned.action.server, planned.case_id)
        return tuple(ActionTaken(r.kind, r.ok, r.detail) for r in records if r.kind is not ActionKind.NOTIFY_MODS)

    async def _report_permission_problem(self, action: Action, outcome: ActionOutcome, sink: ActionSink) -> None:
        # Once per server and action kind: a missing permission repeats on every message otherwise.
        # The notice is not an outbox action: it says something about the bot, nothing is owed for it.
        if not await self.notices.note_once(action.server, f"permission:{action.kind.value}", outcome.detail):
            return
        notice = Action(
            ActionKind.NOTIFY_MODS,
            server=action.server,
            mod_channel_id=action.mod_channel_id,
            reason=f"I could not {action.kind.value} ({outcome.detail}). "
            "Please check my permissions and role position; I will not repeat this notice.",
        )
        result = await self._attempt(sink, notice)
        await self.actions.record_action(notice, replace(result, retry_after_s=None))


class ModeratorActions:
    """The ``Enforcer`` port: a moderator's timeout or ban, planned and dispatched like the bot's own."""

    def __init__(self, dispatcher: ActionDispatcher, settings: EffectiveSettings):
        self.dispatcher = dispatcher
        self.settings = settings

    async def moderator_action(
        self, case: Case, kind: ActionKind, *, moderator_id: str, duration_s: int | None = None
    ) -> ActionOutcome:
        """Carry out the action; it is recorded as requested by the moderator and changes no case status."""
        settings = await self.settings.get(case.event.server)
        action = plan_moderator_action(case, kind, settings, moderator_id=moderator_id, duration_s=duration_s)
        return await self.dispatcher.execute(action, requested_by=moderator_id)
