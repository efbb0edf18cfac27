"""The answer contract: the model's final-channel JSON, parsed strictly into a :class:`bot.ports.Judgement`.

Expected answer (see :func:`bot.stages.reasoner.harmony.output_format_block`)::

    {"violation": 1, "policy_category": "harassment", "rule_ids": ["H2"], "confidence": 0.9,
     "rationale": "Targets another member with an insult."}

Anything else — no final channel, text that is not one JSON object, a ``violation`` that is not
0/1/true/false, a confidence outside [0, 1] — yields ``Judgement(violation=None, error=...)`` with the raw
output kept, which the core escalates to a human. Nothing here raises on model output.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from bot.domain import TokenCounts
from bot.domain.policy import Policy
from bot.ports import Judgement
from bot.stages.reasoner.harmony import ParsedCompletion

__all__ = [
    "failed_judgement","AnswerError", "ParsedAnswer", "judgement_from_completion", "parse_answer"]

_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL | re.IGNORECASE)
MAX_RATIONALE_CHARS = 2000


class AnswerError(ValueError):
    """The final answer does not follow the output contract."""


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    """A valid answer, with rule ids and categories checked against the policy."""

    violation: bool
    categories: tuple[str, ...]
    rule_ids: tuple[str, ...]
    confidence: float
    rationale: str
    dropped_rule_ids: tuple[str, ...] = ()
    dropped_category: str | None = None


def _violation(value: object) -> bool:
    # bool is a subclass of int: check it first so True/False are accepted and 1.0 / "1" are not.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise AnswerError(f'"violation" must be 0, 1, true or false, not {value!r}')


def parse_answer(text: str, policy: Policy) -> ParsedAnswer:
    """Parse the final-channel text; raises :class:`AnswerError` saying what is wrong."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:  # a Markdown code fence around the object is tolerated; any other surrounding text is not
        stripped = fenced.group(1).strip()
    if not stripped:
        raise AnswerError("the final answer is empty")
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise AnswerError(f"the final answer is not valid JSON ({exc.msg} at char {exc.pos})") from None
    if isinstance(data, (bool, int)) and not isinstance(data, float):
        # A policy with its own "## Output format" may ask for a bare 0/1, as in OpenAI's guide.
        return ParsedAnswer(_violation(data), (), (), 1.0, "")
    if not isinstance(data, dict):
        raise AnswerError(f"the final answer must be a JSON object, not {type(data).__name__}")
    if "violation" not in data:
        raise AnswerError('the final answer has no "violation" field')
    violation = _violation(data["violation"])

    category = data.get("policy_category")
    if category is not None and not isinstance(category, str):
        raise AnswerError('"policy_category" must be a string or null')
    raw_rules = data.get("rule_ids", [])
    if raw_rules is None:
        raw_rules = []
    if isinstance(raw_rules, str):
        raw_rules = [raw_rules]
    if not isinstance(raw_rules, list) or not all(isinstance(r, str) for r in raw_rules):
        raise AnswerError('"rule_ids" must be a list of strings')
    confidence = data.get("confidence", 1.0)  # a bare verdict without a confidence is a firm one
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not math.isfinite(confidence):
        raise AnswerError('"confidence" must be a number')
    if not 0.0 <= float(confidence) <= 1.0:
        raise AnswerError(f'"confidence" must be between 0 and 1, not {confidence}')
    rationale = data.get("rationale", "")
    if rationale is None:
        rationale = ""
    if not isinstance(rationale, str):
        raise AnswerError('"rationale" must be a string')

    known = policy.rules
    rule_ids: list[str] = []
    dropped: list[str] = []
    for rule_id in raw_rules:
        rule_id = rule_id.strip()
        if rule_id in known:
            if rule_id not in rule_ids:
                rule_ids.append(rule_id)
        elif rule_id:
            dropped.append(rule_id)
    categories: list[str] = []
    category_ids = {c.id for c in policy.meta.categories}
    dropped_category = None
    if category:
        if category in category_ids:
            categories.append(category)
        else:
            dropped_category = category
    for rule_id in rule_ids:
        cat = policy.category_of(rule_id)
        if cat and cat not in categories:
            categories.append(cat)
    return ParsedAnswer(
        violation=violation,
        categories=tuple(categories),
        rule_ids=tuple(rule_ids),
        confidence=float(confidence),
        rationale=rationale.strip()[:MAX_RATIONALE_CHARS],
        dropped_rule_ids=tuple(dropped),
        dropped_category=dropped_category,
    )


def _note(answer: ParsedAnswer) -> str:
    notes = []
    if answer.dropped_rule_ids:
        notes.append("unknown rule ids ignored: " + ", ".join(answer.dropped_rule_ids))
    if answer.dropped_category:
        notes.append(f"unknown category ignored: {answer.dropped_category}")
    return f" [modbot: {'; '.join(notes)}]" if notes else ""


def failed_judgement(prompt_tokens: int, *, model: str, latency_ms: float, truncated: bool, error: str) -> Judgement:
    """The reasoner produced no completion to parse (server down, worker crashed): escalate with the reason."""
    return Judgement(
        violation=None,
        model=model,
        tokens=TokenCounts(prompt=prompt_tokens),
        latency_ms=latency_ms,
        truncated=truncated,
        error=error,
    )


def judgement_from_completion(
    parsed: ParsedCompletion,
    policy: Policy,
    *,
    model: str,
    tokens: TokenCounts,
    latency_ms: float,
    truncated: bool,
    finish_reason: str = "stop",
) -> Judgement:
    """Map a parsed completion onto a Judgement; malformed or missing answers become escalations.

    ``finish_reason`` is ``"stop"`` when the model ended its turn, ``"length"`` when it hit
    ``max_tokens`` and ``"timeout"`` when the deadline cut it off.
    """
    common = dict(model=model, tokens=tokens, latency_ms=latency_ms, truncated=truncated, reasoning=parsed.analysis)
    if parsed.final is None:
        if finish_reason == "length":
            why = "the model ran out of tokens before giving a final answer"
        elif finish_reason == "timeout":
            why = "the reasoner timed out before a final answer"
        elif parsed.error:
            why = f"the completion is not valid harmony ({parsed.error})"
        else:
            why = "the model gave no final-channel answer"
        return Judgement(violation=None, error=why, raw_output=parsed.raw_text, **common)
    try:
        answer = parse_answer(parsed.final, policy)
    except AnswerError as exc:
        why = str(exc)
        if finish_reason in ("length", "timeout"):
            why += f" (the answer was cut off: {finish_reason})"
        return Judgement(violation=None, error=why, raw_output=parsed.raw_text, **common)
    return Judgement(
        violation=answer.violation,
        categories=answer.categories,
        rule_ids=answer.rule_ids,
        confidence=answer.confidence,
        rationale=answer.rationale + _note(answer),
        raw_output=parsed.final,
        **common,
    )
