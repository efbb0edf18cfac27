"""A Prometheus collector that reads the running bot at scrape time: nothing is copied in between.

It reads the pipeline's own totals (``PipelineCounters``), its queue, the verdict tallies, the latest
health check (database, backlog, outbox) and the platforms' states.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.registry import Collector

from modbot.metrics.health import CONNECTED, KNOWN_STATES, HealthProbe
from modbot.metrics.tally import TOKEN_KINDS, VerdictTally
from modbot.moderation.pipeline import Pipeline

__all__ = ["ERROR_KINDS", "ServiceCollector"]

#: ``kind`` label of ``modbot_errors_total`` -> the ``PipelineCounters`` field it reads. A field
#: another version of the pipeline lacks reads as 0.
ERROR_KINDS = {
    "rejected": "rejected",  # events refused at intake (bad ids, unknown server)
    "queue_full": "overflowed",  # left pending because the intake queue was full
    "reasoner_busy": "deferred",  # left pending because the reasoner said it was busy
    "failed": "failed",  # judging raised (after retries, for good)
    "audit_dropped": "audits_dropped",  # audits dropped (audit queue full, reasoner busy)
}


class ServiceCollector(Collector):
    """Yields every ``modbot_*`` metric except the latency histogram (an instrument of its own)."""

    def __init__(self, pipeline: Pipeline, tally: VerdictTally, health: HealthProbe):
        self.pipeline = pipeline
        self.tally = tally
        self.health = health

    def collect(self) -> Iterator[Metric]:
        yield from self._messages()
        yield from self._pipeline()
        yield from self._reasoner()
        yield from self._health()
        yield from self._platforms()

    def _messages(self) -> Iterator[Metric]:
        judged = CounterMetricFamily(
            "modbot_messages_judged",
            "Messages judged, by the stage that decided and the decision.",
            labels=["stage", "decision"],
        )
        for (stage, decision), count in sorted(self.tally.messages.items()):
            judged.add_metric([stage, decision], count)
        yield judged
        total = self.tally.judged
        yield GaugeMetricFamily(
            "modbot_escalation_share",
            "Share of the messages judged since start that the fast stages sent to the reasoner.",
            value=self.tally.escalated / total if total else 0.0,
        )

    def _pipeline(self) -> Iterator[Metric]:
        counters = self.pipeline.counters
        events = CounterMetricFamily(
            "modbot_pipeline_events", "The pipeline's running totals (PipelineCounters), by name.", labels=["event"]
        )
        for item in fields(counters):
            events.add_metric([item.name], getattr(counters, item.name))
        yield events
        errors = CounterMetricFamily("modbot_errors", "Errors and refusals, by kind.", labels=["kind"])
        for kind, name in ERROR_KINDS.items():
            errors.add_metric([kind], getattr(counters, name, 0))
        errors.add_metric(["reasoner_error"], self.tally.reasoner_errors)
        yield errors
        yield GaugeMetricFamily(
            "modbot_queue_depth", "Messages in the intake queue or being judged now.", value=self.pipeline.backlog
        )
        doc = "Size of the intake queue ([pipeline] queue_size)."
        yield GaugeMetricFamily("modbot_queue_capacity", doc, value=self.pipeline.config.queue_size)

    def _reasoner(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "modbot_reasoner_calls", "Reasoner verdicts (messages, audits, follow-ups), by model.", labels=["model"]
        )
        for model, count in sorted(self.tally.reasoner_calls.items()):
            calls.add_metric([model], count)
        yield calls
        tokens = CounterMetricFamily(
            "modbot_reasoner_tokens",
            "Reasoner tokens by kind: prompt, evaluated (the part of the prompt computed), generated.",
            labels=["model", "kind"],
        )
        for model in sorted(self.tally.reasoner_calls):
            for kind in TOKEN_KINDS:
                tokens.add_metric([model, kind], self.tally.tokens[(model, kind)])
        yield tokens

    def _health(self) -> Iterator[Metric]:
        last = self.health.last
        if last is None:
            return
        doc = "1 when the database answered this scrape's check."
        yield GaugeMetricFamily("modbot_database_up", doc, value=int(last.database))
        if last.backlog is not None:
            doc = "Messages recorded as pending (queued, overflowed, deferred)."
            yield GaugeMetricFamily("modbot_backlog_messages", doc, value=last.backlog)
        if last.outbox is not None:
            doc = "Planned actions not settled yet (waiting for a retry, or interrupted)."
            yield GaugeMetricFamily("modbot_outbox_backlog", doc, value=last.outbox)

    def _platforms(self) -> Iterator[Metric]:
        states = self.health.platform_states()
        up = GaugeMetricFamily("modbot_platform_up", "1 while the platform is connected.", labels=["platform"])
        state_set = StateSetMetricFamily("modbot_platform_state", "A platform's connection state.", labels=["platform"])
        for platform, state in sorted(states.items()):
            up.add_metric([platform], int(state == CONNECTED))
            known = dict.fromkeys(KNOWN_STATES, False)
            known[state] = True
            state_set.add_metric([platform], known)
        yield up
        yield state_set
