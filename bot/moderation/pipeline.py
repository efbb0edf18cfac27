"""The moderation pipeline: intake → record → (queue) → judge → store → act.

A message accepted by ``submit`` is written as ``pending`` before anything else happens, so a crash,
a full queue or a busy reasoner never loses it: the sweeper (and start-up) picks pending rows up again.
"""

from __future__ import annotations

import asyncio
import logging
import time

from modbot.domain import Decision, MessageEvent, MessageStatus, Stage, Verdict
from modbot.domain.policy import Policy
from modbot.domain.records import Intake, IntakeStatus, RecordedMessage, SavedVerdict, VerdictToSave
from modbot.domain.settings import ServerSettings, exemption_reason
from modbot.moderation.audits import Auditor
from modbot.moderation.batching import BatchWriter
from modbot.moderation.dispatch import ActionDispatcher
from modbot.moderation.enforcement import plan_actions
from modbot.moderation.fairness import FairQueue, QueueFull
from modbot.moderation.intake import MAX_ATTEMPTS, check_ids, sanitize_event, sanitize_text
from modbot.moderation.judge import Judge, Routing, VerdictObservers
from modbot.moderation.pipeline_config import PipelineConfig, PipelineCounters
from modbot.moderation.resolvers import PolicyResolver, SettingsResolver
from modbot.moderation.shadow import ShadowRunner
from modbot.moderation.storage_faults import StorageFaults, first_line, is_storage_fault
from modbot.ports import CaseBook, MessageLog, ReasonerUnavailable, ServerConfig, VerdictLog
from modbot.stages.keywords import ExtraTerms, KeywordMatcher, MatcherCache

__all__ = ["Pipeline", "PipelineConfig", "PipelineCounters", "sanitize_text"]

log = logging.getLogger(__name__)


class Pipeline:
    """Owns the intake queue and its workers. Built by the composition root (``modbot.app``)."""

    def __init__(
        self,
        *,
        messages: MessageLog,
        verdicts: VerdictLog,
        cases: CaseBook,
        servers: ServerConfig,
        judge: Judge,
        policies: PolicyResolver,
        settings: SettingsResolver,
        matchers: MatcherCache,
        dispatcher: ActionDispatcher,
        config: PipelineConfig,
    ):
        self.messages = messages
        self.verdicts = verdicts
        self.cases = cases
        self.servers = servers
        self.judge = judge
        self.policies = policies
        self.settings = settings
        self.matchers = matchers
        self.dispatcher = dispatcher
        self.config = config
        self.counters = PipelineCounters()
        self.on_judged = VerdictObservers()  # told of each message's (first) verdict once stored: metrics
        # One lane per server, served round-robin; a lane keeps a quarter of the workers free for
        # the others (see modbot.moderation.fairness).
        self._queue: FairQueue[int] = FairQueue(
            config.queue_size, lane_limit=max(1, config.workers - config.workers // 4)
        )
        self._in_flight: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._sweeper_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._known_servers: set[str] = set()
        self._last_overflow_warning = float("-inf")
        # Events recorded by this process and not yet judged: no need to read them back.
        self._fresh: dict[int, MessageEvent] = {}
        self._intake: BatchWriter[MessageEvent, RecordedMessage] = BatchWriter(messages.record_messages)
        self._verdicts: BatchWriter[VerdictToSave, SavedVerdict] = BatchWriter(verdicts.save_verdicts)
        self.audits = Auditor(
            judge=judge,
            save=self._verdicts.submit,
            cases=cases,
            dispatcher=dispatcher,
            settings=settings,
            matcher=self.matcher,
            busy=self._busy,
            counters=self.counters,
            config=config,
        )
        # A server's shadow policy judges beside the live one (``/mod policy shadow``); never acted on.
        self.shadow = ShadowRunner(judge=judge, library=policies.library, verdicts=verdicts, matcher=self.matcher)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start workers and the sweeper; messages left pending by an earlier run are resumed."""
        if self._tasks:
            return
        for index in range(self.config.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"modbot-worker-{index}"))
        self._stopping.clear()
        self.audits.start()
        try:
            resumed = await self.resume_pending()
            actions = await self.dispatcher.resume_due(at_start=True)
        except Exception as exc:
            if not is_storage_fault(exc):
                raise
            # Locked or full right now: the sweeper tries again; new messages are taken meanwhile.
            log.warning("could not resume earlier work yet (%s); the sweeper will retry", first_line(exc))
            return
        finally:
            # Only after the start-up resume: a first sweep racing it (a slow database, a busy machine)
            # would take the earlier run's actions itself, and the start-up line would not count them.
            self._sweeper_task = asyncio.create_task(self._sweeper(), name="modbot-sweeper")
            self._tasks.append(self._sweeper_task)
        if resumed:
            log.info("resumed %d pending messages from an earlier run", resumed)
        if actions:
            log.info("resumed %d actions an earlier run had planned and not finished", actions)

    async def stop(self) -> None:
        """Stop the workers; what is still queued stays ``pending`` in the store for the next start."""
        await self.audits.stop()
        # The sweeper is asked to stop between sweeps: cancelled inside a database call, the pooled
        # connection's rollback would be cancelled too (SQLAlchemy logs that with a traceback).
        self._stopping.set()
        if self._sweeper_task is not None:
            await asyncio.wait({self._sweeper_task}, timeout=5.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._fresh.clear()

    async def drain(self, timeout: float | None = None, *, audits: bool = True) -> None:
        """Wait until the queue is empty and no message is being judged, then (``audits``) until the
        queued audits are done (tests, benchmarks, shutdown)."""

        async def _wait() -> None:
            while True:
                await self._queue.join()
                if not self._in_flight and self._queue.empty():
                    if not audits:
                        return
                    await self.audits.drain()
                    if not self._in_flight and self._queue.empty():
                        return
                await asyncio.sleep(0)

        await asyncio.wait_for(_wait(), timeout)

    async def resume_pending(self, min_age_s: float = 0.0) -> int:
        """Queue pending messages while there is room; the rest wait for the sweeper.

        ``min_age_s`` leaves alone messages recorded in the last seconds: ``submit`` is about to
        queue those itself, and queueing them twice would judge them twice.
        """
        room = self._queue.maxsize - self._queue.qsize()
        if room <= 0:
            return 0
        # Claimed, not just read: another bot process sweeping the same database never gets these rows.
        rows = await self.messages.claim_pending(room, exclude=self._in_flight, min_age_s=min_age_s)
        queued = 0
        for row_id, server_key in rows:
            if self._enqueue(row_id, server_key):
                queued += 1
        return queued

    # -- intake --------------------------------------------------------------------------------

    async def submit(self, event: MessageEvent) -> Intake:
        """Accept a message: record it as pending, then queue it. Never drops silently."""
        try:
            event = sanitize_event(event, self.config.max_text_chars)
            check_ids(event)
        except (TypeError, ValueError) as exc:
            self.counters.rejected += 1
            log.warning("rejected an event from %s: %s", getattr(event, "server", "?"), exc)
            return Intake(IntakeStatus.REJECTED, detail=str(exc))

        recorded = await self._intake.submit(event)
        if not recorded.created:
            if recorded.status is not MessageStatus.PENDING or recorded.row_id in self._in_flight:
                self.counters.duplicates += 1
                return Intake(IntakeStatus.DUPLICATE, recorded.row_id, f"already {recorded.status.value}")
        else:
            self.counters.accepted += 1

        if event.server.key not in self._known_servers and not await self._check_server(event):
            if not self.config.auto_register_servers:
                detail = f"unknown server {event.server}: not registered with this bot"
                await self.messages.set_message_status(recorded.row_id, MessageStatus.FAILED, detail)
                self.counters.failed += 1
                return Intake(IntakeStatus.REJECTED, recorded.row_id, detail)
            await self.servers.ensure_server(event.server)
            self._known_servers.add(event.server.key)

        if recorded.created:
            # Set before queueing: the sweeper may already have queued this committed row.
            self._fresh[recorded.row_id] = event
        if self._enqueue(recorded.row_id, event.server.key):
            return Intake(IntakeStatus.QUEUED, recorded.row_id)
        self._fresh.pop(recorded.row_id, None)
        self.counters.overflowed += 1
        self._warn_overflow(event)
        return Intake(IntakeStatus.OVERFLOW, recorded.row_id, "queue full; recorded as pending")

    def _warn_overflow(self, event: MessageEvent) -> None:
        # Once a second at most: a flood must not turn into a flood of log lines as well.
        now = time.monotonic()
        if now - self._last_overflow_warning >= 1.0:
            self._last_overflow_warning = now
            log.warning(
                "intake queue full (%d): message %s of %s stays pending and will be judged later "
                "(%d overflowed so far)",
                self._queue.maxsize,
                event.message_id,
                event.server,
                self.counters.overflowed,
            )

    def batching(self) -> dict[str, tuple[int, int]]:
        """Group-commit totals: name -> (transactions, rows)."""
        return {
            "intake": (self._intake.batches, self._intake.items),
            "verdicts": (self._verdicts.batches, self._verdicts.items),
        }

    @property
    def backlog(self) -> int:
        """Messages queued or being judged right now."""
        return len(self._in_flight)

    def _busy(self) -> bool:
        """Normal work waits or runs: audits hold back (see ``modbot.moderation.audits``)."""
        return not self._queue.empty() or len(self._in_flight) >= self.config.audit_idle_below

    async def _check_server(self, event: MessageEvent) -> bool:
        if await self.servers.server_exists(event.server):
            self._known_servers.add(event.server.key)
            return True
        return False

    def _enqueue(self, row_id: int, server_key: str) -> bool:
        if row_id in self._in_flight:
            return True
        try:
            evicted = self._queue.put_nowait(server_key, row_id)
        except QueueFull:
            return False
        self._in_flight.add(row_id)
        if evicted is not None:
            # Room made for a quieter server: the evicted row stays pending and is swept back later.
            self._in_flight.discard(evicted)
            self._fresh.pop(evicted, None)
            self.counters.evicted += 1
        return True

    # -- judging -------------------------------------------------------------------------------

    async def _worker(self) -> None:
        faults = StorageFaults(log)  # a locked or full database: told now and then, not per message
        while True:
            row_id = await self._queue.get()
            try:
                await self.process(row_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop survives anything one message does
                await self._failed_attempt(row_id, exc, faults)
            finally:
                self._in_flight.discard(row_id)
                self._queue.task_done(row_id)
                self.audits.wake()

    async def _failed_attempt(self, row_id: int, exc: Exception, faults: StorageFaults) -> None:
        """Count a failure of a row; after ``MAX_ATTEMPTS`` it is failed for good and never swept again."""
        self._fresh.pop(row_id, None)
        if faults.held_back(exc):  # the database's fault, not the row's: not counted, it stays pending
            return
        log.exception("unexpected error while processing message row %s", row_id)
        try:
            if await self.messages.count_failed_attempt(row_id, f"{type(exc).__name__}: {exc}"[:500], MAX_ATTEMPTS):
                self.counters.failed += 1
        except Exception:
            log.exception("could not record the failure of message row %s", row_id)

    async def _sweeper(self) -> None:
        faults = StorageFaults(log)  # a locked or full database: one warning now and then, no traceback
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), self.config.sweep_interval_s)
                return  # stopping
            except TimeoutError:
                pass
            try:
                await self.messages.renew_claims(frozenset(self._in_flight))  # queued rows stay ours
                await self.resume_pending(min_age_s=self.config.sweep_interval_s)
            except Exception as exc:
                if not faults.held_back(exc):
                    log.exception("sweeping pending messages failed")
            try:
                await self.dispatcher.resume_due()
            except Exception as exc:
                if not faults.held_back(exc):
                    log.exception("retrying planned actions failed")

    async def process(self, row_id: int) -> Verdict | None:
        """Judge one recorded message and act on the verdict; failures are recorded, never raised."""
        event = self._fresh.pop(row_id, None)
        fresh = event is not None
        if event is None:
            loaded = await self.messages.load_message(row_id)
            if loaded is None or loaded.status is not MessageStatus.PENDING:
                return None
            event = loaded.event
        try:
            settings = await self.settings.get(event.server)
            exempt = exemption_reason(event, settings)
            if exempt:
                await self.messages.set_message_status(row_id, MessageStatus.SKIPPED, exempt)
                return None
            policy = await self.policies.get(event.server)
            if not fresh and await self.verdicts.has_verdict(row_id, policy.version):
                await self.messages.set_message_status(row_id, MessageStatus.JUDGED)
                return None
            verdict = await self.judge.judge(event, policy, self.matcher(policy, settings), Routing.from_settings(settings))
        except ReasonerUnavailable as exc:
            self.counters.deferred += 1
            log.info("reasoner busy (%s): message row %s stays pending", exc, row_id)
            return None
        except Exception as exc:
            self.counters.failed += 1
            log.exception("judging message row %s failed", row_id)
            await self.messages.set_message_status(row_id, MessageStatus.FAILED, f"{type(exc).__name__}: {exc}")
            return None
        await self._record_and_act(row_id, event, verdict, policy, settings)
        return verdict

    async def _record_and_act(
        self, row_id: int, event: MessageEvent, verdict: Verdict, policy: Policy, settings: ServerSettings
    ) -> None:
        shadow = settings.mode == "shadow"
        open_case = verdict.decision is not Decision.ALLOW
        # Planned now and stored with the verdict: a crash before they run leaves them in the outbox.
        actions = () if shadow else tuple(plan_actions(event, verdict, policy, settings, opens_case=open_case))
        saved = await self._verdicts.submit(VerdictToSave(row_id, event.server, verdict, shadow, open_case, actions))
        self.counters.judged += 1
        self.on_judged(verdict)
        self.audits.offer(row_id, event, verdict, policy, settings)  # a sampled prefilter allow: audited later
        if (
            settings.reason_after_act
            and verdict.stage is Stage.KEYWORD
            and verdict.decision is not Decision.ALLOW
            and self.judge.reasoner is not None
        ):
            # Acted on at once; the reasoner's rationale follows as a second verdict on the same message.
            try:
                follow_up = await self.judge.judge(
                    event, policy, self.matcher(policy, settings), Routing.from_settings(settings), force_reasoner=True
                )
                await self._verdicts.submit(VerdictToSave(row_id, event.server, follow_up, shadow, open_case=False))
            except Exception:
                log.exception("the follow-up reasoning for message row %s failed", row_id)
        if saved.planned:
            case = await self.cases.get_case(event.server, saved.case_id) if saved.case_id is not None else None
            await self.dispatcher.run_planned(saved.planned, case)
        await self.shadow.judge_beside(row_id, event, policy, settings)  # after acting: never delays the live path

    # -- one-off judging (CLI, /mod policy test) -----------------------------------------------

    async def classify(self, event: MessageEvent, policy: Policy, *, settings: ServerSettings | None = None) -> Verdict:
        """Judge without recording or acting (``modbot classify``, ``/mod policy test``)."""
        settings = settings or self.settings.defaults
        event = sanitize_event(event, self.config.max_text_chars)
        return await self.judge.judge(event, policy, self.matcher(policy, settings), Routing.from_settings(settings))

    def matcher(self, policy: Policy, settings: ServerSettings) -> KeywordMatcher:
        """The keyword matcher for a policy plus the server's own terms (cached by the matcher cache)."""
        extras = tuple(
            ExtraTerms(t.rule_id, t.keywords, t.regexes, t.act_on_match) for t in settings.extra_terms
        )
        return self.matchers.get(policy, extras)
