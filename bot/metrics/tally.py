"""What the verdict hooks count: plain tallies plus the one histogram, read by the collector at scrape time.

Two hooks feed it (``modbot.moderation.judge.VerdictObservers``): the pipeline's ``on_judged`` sees each
message's first verdict once it is stored (messages by stage and decision, judging latency), the judge's
``observers`` see every verdict it produces, audits and follow-ups included (reasoner calls, tokens and
errors): tokens are what the reasoner spent, whatever the verdict was for.
"""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, Histogram

from modbot.domain import Stage, Verdict

__all__ = ["LATENCY_BUCKETS_S", "TOKEN_KINDS", "VerdictTally"]

#: From a keyword hit (well under a millisecond) to a slow reasoner on CPU (tens of seconds).
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: ``kind`` label of ``modbot_reasoner_tokens_total``: the prompt, the part of it the model computed
#: (the rest reused from its prefix cache), and what it generated.
TOKEN_KINDS = ("prompt", "evaluated", "generated")

#: Stages that judge messages (the ``stage`` label of the latency histogram is always one of these,
#: so a dashboard's series exist from the first scrape).
JUDGING_STAGES = (Stage.KEYWORD, Stage.PREFILTER, Stage.REASONER)


class VerdictTally:
    """Counts since this process started; ``on_message`` and ``on_verdict`` are the two hooks."""

    def __init__(self, registry: CollectorRegistry):
        #: (stage, decision) -> messages judged there.
        self.messages: Counter[tuple[str, str]] = Counter()
        #: model -> reasoner verdicts; (model, kind) -> tokens.
        self.reasoner_calls: Counter[str] = Counter()
        self.tokens: Counter[tuple[str, str]] = Counter()
        #: Reasoner verdicts that carry an error (an unparsable or cut-off answer: a human decides).
        self.reasoner_errors = 0
        self.latency = Histogram(
            "modbot_stage_latency_seconds",
            "Time to judge a message, by the stage that decided it.",
            ["stage"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        for stage in JUDGING_STAGES:
            self.latency.labels(stage=stage.value)

    @property
    def judged(self) -> int:
        """Messages judged (first verdicts) since start."""
        return sum(self.messages.values())

    @property
    def escalated(self) -> int:
        """Messages whose first verdict came from the reasoner: those the fast stages sent on."""
        return sum(n for (stage, _), n in self.messages.items() if stage == Stage.REASONER.value)

    def on_message(self, verdict: Verdict) -> None:
        """A message's first verdict, stored by the pipeline."""
        self.messages[(verdict.stage.value, verdict.decision.value)] += 1
        self.latency.labels(stage=verdict.stage.value).observe(max(0.0, verdict.latency_ms) / 1000.0)

    def on_verdict(self, verdict: Verdict) -> None:
        """Any verdict the judge produced; only the reasoner's are counted (calls, tokens, errors)."""
        if verdict.stage is not Stage.REASONER:
            return
        model = verdict.model or "unknown"
        self.reasoner_calls[model] += 1
        tokens = verdict.tokens
        for kind, count in zip(TOKEN_KINDS, (tokens.prompt, tokens.prompt_evaluated, tokens.completion), strict=True):
            self.tokens[(model, kind)] += count
        if verdict.error is not None:
            self.reasoner_errors += 1
