"""Judge routing, pure: the real keyword stage, tiny function fakes of the prefilter and reasoner ports."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from modbot.domain import Decision, MessageEvent, ServerRef, Stage
from modbot.domain.policy import parse_policy
from modbot.moderation.judge import FALLBACK_ACT_ABOVE, FALLBACK_ALLOW_BELOW, Judge, Routing
from modbot.ports import Judgement, JudgeRequest, PrefilterScore, ReasonerUnavailable
from modbot.stages.keywords import MatcherCache
from tests.conftest import TEST_POLICY
from tests.support.scripted import violation

POLICY = parse_policy(TEST_POLICY)
MATCHER = MatcherCache().get(POLICY)


def message(text: str) -> MessageEvent:
    return MessageEvent(server=ServerRef("test", "g1"), channel_id="c1", message_id="m1", author_id="u1", text=text)


@dataclass(frozen=True)
class Calibrated:
    allow_below: float
    act_above: float


class FnPrefilter:
    """The Prefilter port from a function of the text; records which community it was asked for."""

    def __init__(self, score_of, thresholds: dict[str | None, Calibrated] | None = None, languages=("en",)):
        self.score_of = score_of
        self.thresholds = thresholds or {}
        self.communities: list[str | None] = []
        self.languages = frozenset(languages)

    async def score(self, policy, event, normalized_text, *, community=None):
        self.communities.append(community)
        return PrefilterScore(self.score_of(normalized_text), model="fn")

    def thresholds_for(self, community):
        return self.thresholds.get(community)

    async def add_feedback(self, server, text, violation):
        pass

    async def load_feedback(self, server, items):
        return 0

    async def aclose(self):
        pass


class FnReasoner:
    """The Reasoner port from a function of the request; counts calls."""

    model_name = "fn"

    def __init__(self, answer=lambda request: violation("CH1")):
        self.answer = answer
        self.calls: list[JudgeRequest] = []

    async def judge(self, request: JudgeRequest) -> Judgement:
        self.calls.append(request)
        return self.answer(request)

    async def aclose(self):
        pass


async def judge(text, *, score=None, reasoner=None, routing=Routing(), thresholds=None):
    prefilter = FnPrefilter(lambda _: score, thresholds) if score is not None else None
    return await Judge(prefilter=prefilter, reasoner=reasoner).judge(message(text), POLICY, MATCHER, routing)


async def test_an_act_now_keyword_acts_with_its_rules_severity_without_the_reasoner():
    reasoner = FnReasoner()
    verdict = await judge("claim at free-nitro.example", score=0.01, reasoner=reasoner)
    assert verdict.stage is Stage.KEYWORD and verdict.decision is Decision.REMOVE_AND_TIMEOUT
    assert verdict.rule_ids == ("SC1",) and verdict.categories == ("scams",)
    assert reasoner.calls == []


async def test_a_low_prefilter_score_allows_without_the_reasoner():
    reasoner = FnReasoner()
    verdict = await judge("gg well played", score=0.05, reasoner=reasoner)
    assert verdict.decision is Decision.ALLOW and verdict.stage is Stage.PREFILTER and verdict.score == 0.05
    assert reasoner.calls == []


async def test_a_confident_prefilter_acts_with_the_servers_decision():
    reasoner = FnReasoner()
    routing = Routing(prefilter_act_decision=Decision.REMOVE)
    verdict = await judge("you are all awful", score=0.995, reasoner=reasoner, routing=routing)
    assert verdict.decision is Decision.REMOVE and verdict.stage is Stage.PREFILTER
    assert reasoner.calls == []


async def test_an_uncertain_score_goes_to_the_reasoner_with_the_servers_effort():
    reasoner = FnReasoner()
    verdict = await judge("selling aimbot", score=0.5, reasoner=reasoner, routing=Routing(reasoning_effort="high"))
    assert verdict.stage is Stage.REASONER and verdict.decision is Decision.REMOVE and verdict.score == 0.5
    assert [r.reasoning_effort for r in reasoner.calls] == ["high"]


async def test_a_confident_low_reasoner_answer_is_only_flagged():
    reasoner = FnReasoner(lambda request: violation("CH1", confidence=0.3))
    verdict = await judge("selling aimbot", score=0.5, reasoner=reasoner, routing=Routing(min_confidence=0.5))
    assert verdict.decision is Decision.FLAG


async def test_a_busy_reasoner_is_not_swallowed_so_the_message_stays_pending():
    def busy(request):
        raise ReasonerUnavailable("queue full")

    with pytest.raises(ReasonerUnavailable):
        await judge("selling aimbot", score=0.5, reasoner=FnReasoner(busy))


async def test_without_a_reasoner_risky_messages_are_flagged_for_a_human():
    keyword = await judge("selling aimbot", score=0.5)
    assert keyword.decision is Decision.FLAG and keyword.stage is Stage.KEYWORD and keyword.rule_ids == ("CH1",)
    no_keyword = await judge("something odd", score=0.5)
    assert no_keyword.decision is Decision.FLAG and no_keyword.stage is Stage.PREFILTER
    nothing_at_all = await Judge().judge(message("hello there"), POLICY, MATCHER)
    assert nothing_at_all.decision is Decision.ALLOW and nothing_at_all.stage is Stage.KEYWORD


def test_thresholds_inherit_the_prefilters_calibration_unless_the_server_overrides():
    calibrated = {None: Calibrated(0.3, 0.9), "forum": Calibrated(0.4, 0.8)}
    judge_ = Judge(prefilter=FnPrefilter(lambda _: 0.0, calibrated))
    assert judge_.thresholds(Routing()) == (0.3, 0.9)
    assert judge_.thresholds(Routing(prefilter_community="forum")) == (0.4, 0.8)
    assert judge_.thresholds(Routing(prefilter_community="forum", allow_below=0.1)) == (0.1, 0.8)
    assert judge_.thresholds(Routing(act_above=0.99)) == (0.3, 0.99)
    uncalibrated = Judge(prefilter=FnPrefilter(lambda _: 0.0))
    assert uncalibrated.thresholds(Routing()) == (FALLBACK_ALLOW_BELOW, FALLBACK_ACT_ABOVE)


async def test_the_servers_community_reaches_the_prefilter_and_its_thresholds_route():
    prefilter = FnPrefilter(lambda _: 0.35, {None: Calibrated(0.3, 0.9), "forum": Calibrated(0.4, 0.8)})
    reasoner = FnReasoner()
    judge_ = Judge(prefilter=prefilter, reasoner=reasoner)
    shared = await judge_.judge(message("hmm"), POLICY, MATCHER, Routing())
    forum = await judge_.judge(message("hmm"), POLICY, MATCHER, Routing(prefilter_community="forum"))
    assert shared.stage is Stage.REASONER  # 0.35 is above the shared allow threshold
    assert forum.decision is Decision.ALLOW and forum.stage is Stage.PREFILTER  # below the forum's 0.4
    assert prefilter.communities == [None, "forum"]


# --- languages the prefilter was not trained on ----------------------------------------------------


async def test_a_low_score_in_an_unknown_language_goes_to_the_reasoner():
    reasoner = FnReasoner()
    verdict = await judge("vete a la mierda, nadie te quiere aquí", score=0.01, reasoner=reasoner)
    assert verdict.stage is Stage.REASONER and len(reasoner.calls) == 1
    english = await judge("nice shot, gg wp everyone", score=0.01, reasoner=reasoner)
    assert english.decision is Decision.ALLOW and english.stage is Stage.PREFILTER
    assert len(reasoner.calls) == 1


async def test_a_server_can_trust_the_prefilter_on_unknown_languages():
    reasoner = FnReasoner()
    routing = Routing(unknown_language="prefilter")
    verdict = await judge("vete a la mierda, nadie te quiere aquí", score=0.01, reasoner=reasoner, routing=routing)
    assert verdict.decision is Decision.ALLOW and not reasoner.calls


async def test_an_unknown_language_is_flagged_without_a_reasoner_and_allowed_by_a_model_that_knows_it():
    verdict = await judge("你这个废物，滚出去", score=0.01)
    assert verdict.decision is Decision.FLAG and "language" in verdict.rationale
    knows = Judge(prefilter=FnPrefilter(lambda _: 0.01, languages=("en", "zh")))
    assert (await knows.judge(message("你这个废物，滚出去"), POLICY, MATCHER)).decision is Decision.ALLOW
