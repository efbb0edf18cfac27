"""The output contract: strict parsing of the final answer into a Judgement."""

from __future__ import annotations

import pytest

from modbot.domain import TokenCounts
from modbot.domain.policy import Policy
from modbot.stages.reasoner import AnswerError, HarmonyCodec, judgement_from_completion, parse_answer
from modbot.stages.reasoner.harmony import ParsedCompletion


@pytest.mark.parametrize(
    ("text", "violation"),
    [
        ('{"violation": 1, "policy_category": "cheats", "rule_ids": ["C1"], "confidence": 0.8, "rationale": "sells"}', True),
        ('{"violation": 0, "policy_category": null, "rule_ids": [], "confidence": 0.95, "rationale": "fine"}', False),
        ('{"violation": true, "rule_ids": ["H1"]}', True),
        ('{"violation": false}', False),
        ('```json\n{"violation": 1, "rule_ids": ["S1"]}\n```', True),
        ("1", True),
        ("0", False),
        ('{"violation": 0, "rule_ids": null, "rationale": null, "notes": "fields beyond the contract"}', False),
    ],
)
def test_valid_answers(policy: Policy, text: str, violation: bool) -> None:
    assert parse_answer(text, policy).violation is violation


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("yes", "not valid JSON"),
        ('{"violation": 1} and some words', "not valid JSON"),
        ('{"violation": 1', "not valid JSON"),
        ('["violation", 1]', "JSON object"),
        ('{"rule_ids": ["C1"]}', 'no "violation"'),
        ('{"violation": "yes"}', "0, 1, true or false"),
        ('{"violation": 2}', "0, 1, true or false"),
        ('{"violation": 1.0}', "0, 1, true or false"),
        ('{"violation": 1, "confidence": 1.5}', "between 0 and 1"),
        ('{"violation": 1, "confidence": "high"}', "must be a number"),
        ('{"violation": 1, "confidence": NaN}', "must be a number"),
        ('{"violation": 1, "confidence": true}', "must be a number"),
        ('{"violation": 1, "rule_ids": "C1, H1"}', None),  # a single string is accepted as one id...
        ('{"violation": 1, "rule_ids": [1, 2]}', "list of strings"),
        ('{"violation": 1, "policy_category": 3}', "string or null"),
        ('{"violation": 1, "rationale": ["a"]}', "must be a string"),
        ("2", "0, 1, true or false"),
    ],
)
def test_malformed_answers_are_rejected(policy: Policy, text: str, message: str | None) -> None:
    if message is None:
        answer = parse_answer(text, policy)
        assert answer.rule_ids == () and answer.dropped_rule_ids == ("C1, H1",)  # ...but must be a real id
        return
    with pytest.raises(AnswerError, match=message):
        parse_answer(text, policy)


def test_unknown_rule_ids_are_dropped_and_noted(policy: Policy) -> None:
    answer = parse_answer(
        '{"violation": 1, "policy_category": "made_up", "rule_ids": ["C1", "X9", "C1", "S1"], "confidence": 0.7}', policy
    )
    assert answer.rule_ids == ("C1", "S1")
    assert answer.dropped_rule_ids == ("X9",)
    assert answer.dropped_category == "made_up"
    assert answer.categories == ("cheats", "scams")  # derived from the valid rule ids


def _parsed(final: str | None, analysis: str = "why", error: str | None = None) -> ParsedCompletion:
    return ParsedCompletion(analysis=analysis, final=final, raw_text=f"RAW:{final}", error=error)


def test_judgement_from_a_valid_answer(policy: Policy) -> None:
    j = judgement_from_completion(
        _parsed('{"violation": 1, "rule_ids": ["H1", "ZZ"], "confidence": 0.6, "rationale": "insult"}'),
        policy,
        model="m",
        tokens=TokenCounts(900, 20, 40),
        latency_ms=12.5,
        truncated=True,
    )
    assert j.violation is True and j.rule_ids == ("H1",) and j.categories == ("harassment",)
    assert j.confidence == 0.6
    assert j.rationale.startswith("insult") and "unknown rule ids ignored: ZZ" in j.rationale
    assert j.reasoning == "why" and j.error is None
    assert j.tokens == TokenCounts(900, 20, 40) and j.truncated and j.model == "m"


@pytest.mark.parametrize(
    ("parsed", "finish", "error"),
    [
        (_parsed(None), "stop", "no final-channel answer"),
        (_parsed(None), "length", "ran out of tokens"),
        (_parsed(None), "timeout", "timed out"),
        (_parsed(None, error="Unexpected token"), "stop", "not valid harmony"),
        (_parsed('{"violation": 1, "rule'), "length", "cut off: length"),
        (_parsed("I think it is fine"), "stop", "not valid JSON"),
    ],
)
def test_bad_completions_become_escalations(policy: Policy, parsed: ParsedCompletion, finish: str, error: str) -> None:
    j = judgement_from_completion(
        parsed, policy, model="m", tokens=TokenCounts(), latency_ms=1.0, truncated=False, finish_reason=finish
    )
    assert j.violation is None
    assert error in (j.error or "")
    assert j.raw_output == parsed.raw_text  # what the model wrote is kept for a human


def test_garbage_tokens_end_as_an_escalation(codec: HarmonyCodec, policy: Policy) -> None:
    parsed = codec.parse_completion([71, 200005, 200008, 1000, 200006, 200006, 5])
    j = judgement_from_completion(parsed, policy, model="m", tokens=TokenCounts(), latency_ms=0, truncated=False)
    assert j.violation is None and j.error and j.raw_output
