"""A scripted reasoner: a fake at the model edge (the reasoner port), for core and adapter tests.

It stands in for gpt-oss-safeguard only; everything else in those tests is the real core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from modbot.domain import TokenCounts
from modbot.ports import Judgement, JudgeRequest, ReasonerUnavailable

Script = Callable[[JudgeRequest], Judgement]


def violation(*rule_ids: str, confidence: float = 0.95, rationale: str = "Scripted violation.") -> Judgement:
    return Judgement(
        violation=True,
        rule_ids=rule_ids,
        confidence=confidence,
        rationale=rationale,
        reasoning="scripted analysis",
        model="scripted",
        tokens=TokenCounts(100, 10, 20),
    )


def safe(rationale: str = "Scripted: fine.") -> Judgement:
    return Judgement(violation=False, confidence=0.9, rationale=rationale, model="scripted", tokens=TokenCounts(100, 10, 20))


def garbage() -> Judgement:
    return Judgement(violation=None, error="no final channel in the model output", raw_output="<garbage>", model="scripted")


def by_keyword(rules: dict[str, str]) -> Script:
    """Violation of rule ``rules[word]`` when the message contains ``word``; safe otherwise."""

    def script(request: JudgeRequest) -> Judgement:
        text = request.event.text.lower()
        for word, rule_id in rules.items():
            if word in text:
                return violation(rule_id)
        return safe()

    return script


class ScriptedReasoner:
    """Implements ``modbot.ports.Reasoner`` with a script; counts calls; can be made busy or broken."""

    def __init__(self, script: Script | None = None, *, delay_s: float = 0.0):
        self.script = script or (lambda request: safe())
        self.delay_s = delay_s
        self.calls: list[JudgeRequest] = []
        self.busy = False
        self.fail_with: Exception | None = None
        self.closed = False

    @property
    def model_name(self) -> str:
        return "scripted"

    async def judge(self, request: JudgeRequest) -> Judgement:
        if self.busy:
            raise ReasonerUnavailable("scripted reasoner is busy")
        self.calls.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_with is not None:
            raise self.fail_with
        return self.script(request)

    async def aclose(self) -> None:
        self.closed = True
