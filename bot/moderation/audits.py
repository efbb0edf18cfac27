"""Audits: the reasoner's second look at a share of the messages the prefilter allowed.

The allow verdict is stored as always and nothing waits for the audit. A message is sampled with a
uniform draw from a hash of (server, message id, content hash), so a replay samples the same messages,
and goes to a small bounded queue of its own. Audit workers call the reasoner only while no normal
work waits (the intake queue empty and fewer than ``audit_idle_below`` messages being judged): audits
never run ahead of an escalation. A full audit queue or a busy reasoner (``ReasonerUnavailable``) drops
the audit and counts it. What an audit finds is stored as a second verdict on the message
(``found_by_audit``, with the share it was sampled at) and handled like any verdict: a violation opens
a case and, in enforce mode, its actions are planned in the outbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from modbot.domain import Decision, MessageEvent, ServerRef, Stage, Verdict
from modbot.domain.figures import AuditFigures
from modbot.domain.policy import Policy
from modbot.domain.records import SavedVerdict, VerdictToSave
from modbot.domain.settings import ServerSettings
from modbot.moderation.dispatch import ActionDispatcher
from modbot.moderation.enforcement import plan_actions
from modbot.moderation.judge import Judge, Routing
from modbot.ports import CaseBook, EffectiveSettings, ReasonerUnavailable
from modbot.stages.keywords import KeywordMatcher

__all__ = ["AuditConfig", "AuditCounters", "Auditor", "audit_draw", "is_sampled"]

log = logging.getLogger(__name__)

#: How often a waiting audit looks again whether the pipeline is idle (it is also woken by the workers).
IDLE_POLL_S = 0.5


def audit_draw(event: MessageEvent) -> float:
    """A number in [0, 1), uniform over messages, the same for the same message revision every time."""
    key = f"{event.server.key}\x1f{event.message_id}\x1f{event.content_hash}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64


def is_sampled(event: MessageEvent, share: float) -> bool:
    """Whether this revision is one of the ``share`` of allowed messages that are audited."""
    return share > 0 and audit_draw(event) < share


class AuditConfig(Protocol):
    """What the auditor reads of its settings (``modbot.config.PipelineSettings``)."""

    @property
    def audit_queue_size(self) -> int: ...

    @property
    def audit_workers(self) -> int: ...


class AuditCounters(Protocol):
    """Where audit totals go (``PipelineCounters``)."""

    audits_done: int
    audits_dropped: int


@dataclass(frozen=True, slots=True)
class _Audit:
    row_id: int
    event: MessageEvent
    policy: Policy
    share: float


class Auditor:
    """The audit queue and its workers; the pipeline offers it every allow verdict it stores."""

    def __init__(
        self,
        *,
        judge: Judge,
        save: Callable[[VerdictToSave], Awaitable[SavedVerdict]],
        cases: CaseBook,
        dispatcher: ActionDispatcher,
        settings: EffectiveSettings,
        matcher: Callable[[Policy, ServerSettings], KeywordMatcher],
        busy: Callable[[], bool],
        counters: AuditCounters,
        config: AuditConfig,
    ):
        self.judge = judge
        self._save = save
        self.cases = cases
        self.dispatcher = dispatcher
        self.settings = settings
        self._matcher = matcher
        self._busy = busy
        self.counters = counters
        self.config = config
        self._queue: asyncio.Queue[_Audit] = asyncio.Queue(maxsize=config.audit_queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._done: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._queued: Counter[str] = Counter()

    # -- what the pipeline calls -----------------------------------------------------------------

    def off_reason(self, settings: ServerSettings) -> str:
        """Why a server's allowed messages are not audited ("" when they are)."""
        if self.judge.reasoner is None:
            return "no reasoner configured"
        if self.judge.prefilter is None:
            return "no prefilter configured (audits sample the prefilter's allows)"
        if settings.audit_share <= 0:
            return "audit_share is 0"
        return ""

    def offer(self, row_id: int, event: MessageEvent, verdict: Verdict, policy: Policy, settings: ServerSettings) -> bool:
        """Queue an audit of a stored verdict when it is a sampled prefilter allow; True when queued."""
        if verdict.decision is not Decision.ALLOW or verdict.stage is not Stage.PREFILTER or verdict.found_by_audit:
            return False
        if self.off_reason(settings) or not is_sampled(event, settings.audit_share):
            return False
        try:
            self._queue.put_nowait(_Audit(row_id, event, policy, settings.audit_share))
        except asyncio.QueueFull:
            self._drop(event.server, "the audit queue is full")
            return False
        self._queued[event.server.key] += 1
        return True

    def wake(self) -> None:
        """The pipeline finished a message: a waiting audit looks again whether it may run."""
        self._wake.set()

    def figures(self, server: ServerRef, settings: ServerSettings) -> AuditFigures:
        reason = self.off_reason(settings)
        key = server.key
        return AuditFigures(
            enabled=not reason,
            reason=reason,
            share=settings.audit_share,
            done=self._done[key],
            dropped=self._dropped[key],
            queued=self._queued[key],
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        for index in range(self.config.audit_workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"modbot-auditor-{index}"))

    async def stop(self) -> None:
        """Stop the workers; queued audits are let go (best effort: the allow verdicts stand)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
        self._queued.clear()

    async def drain(self) -> None:
        """Wait until every queued audit is done (nothing to wait for when the workers are not running)."""
        if self._tasks:
            await self._queue.join()

    # -- the workers -----------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._until_idle()
                await self._audit(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the audit of message row %s failed", item.row_id)
                self._drop(item.event.server, "it failed")
            finally:
                self._queued[item.event.server.key] -= 1
                self._queue.task_done()

    async def _until_idle(self) -> None:
        while self._busy():
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)
            except TimeoutError:
                pass

    def _drop(self, server: ServerRef, why: str) -> None:
        self.counters.audits_dropped += 1
        self._dropped[server.key] += 1
        log.debug("an audit in %s was dropped: %s", server, why)

    async def _audit(self, item: _Audit) -> None:
        event, policy = item.event, item.policy
        settings = await self.settings.get(event.server)
        try:
            verdict = await self.judge.judge(
                event, policy, self._matcher(policy, settings), Routing.from_settings(settings), force_reasoner=True
            )
        except ReasonerUnavailable:
            self._drop(event.server, "the reasoner is busy")
            return
        if verdict.stage is not Stage.REASONER:
            self._drop(event.server, f"nothing to audit ({verdict.rationale})")
            return
        verdict = replace(verdict, found_by_audit=True)
        violation = verdict.decision is not Decision.ALLOW and verdict.error is None
        shadow = settings.mode == "shadow"
        actions = tuple(plan_actions(event, verdict, policy, settings, opens_case=True)) if violation and not shadow else ()
        saved = await self._save(
            VerdictToSave(item.row_id, event.server, verdict, shadow, open_case=violation, actions=actions, audit_share=item.share)
        )
        self.counters.audits_done += 1
        self._done[event.server.key] += 1
        if violation:
            log.info("an audit found a %s in %s (message row %s)", verdict.decision.value, event.server, item.row_id)
        if saved.planned:
            case = await self.cases.get_case(event.server, saved.case_id) if saved.case_id is not None else None
            await self.dispatcher.run_planned(saved.planned, case)
