"""The answer contract: the model's final-channel JSON, parsed by a strict pydantic model into a :class:`modbot.ports.Judgement`.

Expected answer (see :func:`modbot.stages.reasoner.harmony.output_format_block`)::

    {"violation": 1, "policy_category": "harassment", "rule_ids": ["H2"], "confidence": 0.9,
     "rationale": "Targets another member with an insult."}

Anything else — no final channel, text that is not one JSON object, a ``violation`` that is not
0/1/true/false, a confidence outside [0, 1] — yields ``Judgement(violation=None, error=...)`` with the raw
output kept, which the core escalates to a human. Nothing here raises on model output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StrictBool, StrictStr, TypeAdapter, ValidationError

from modbot.domain import TokenCounts
from modbot.domain.policy import Policy
from modbot.ports import FinishReason, Judgement
from modbot.stages.reasoner.harmony import ParsedCompletion

__all__ = ["AnswerError", "ParsedAnswer", "failed_judgement", "judgement_from_completion", "parse_answer"]

_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL | re.IGNORECASE)
MAX_RATIONALE_CHARS = 2000


class AnswerError(ValueError):
    """The final answer does not follow the output contract."""


def _none_as(default: Any) -> BeforeValidator:
    """A field the model wrote as ``null`` takes its default."""
    return BeforeValidator(lambda value: default if value is None else value)


def _one_as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# Strict types: True/False and 0/1 are a violation value, 1.0 or "1" are not; a confidence is a number,
# never a bool or a string.
_Violation = StrictBool | Annotated[int, Strict(), Field(ge=0, le=1)]
_Confidence = Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class _Answer(BaseModel):
    """The JSON object of the output contract; fields the model adds beyond it are ignored."""

    model_config = ConfigDict(extra="ignore")

    violation: _Violation
    policy_category: StrictStr | None = None
    rule_ids: Annotated[list[StrictStr], _none_as([]), BeforeValidator(_one_as_list)] = []
    confidence: _Confidence = 1.0  # a bare verdict without a confidence is a firm one
    rationale: Annotated[StrictStr, _none_as("")] = ""


#: A policy with its own "## Output format" may ask for a bare 0/1, as in OpenAI's guide.
_BARE_VERDICT: TypeAdapter[bool | int] = TypeAdapter(_Violation)

_FIELD_ERRORS = {
    "policy_category": '"policy_category" must be a string or null',
    "rule_ids": '"rule_ids" must be a list of strings',
    "confidence": '"confidence" must be a number',
    "rationale": '"rationale" must be a string',
}


def _answer_error(exc: ValidationError) -> AnswerError:
    """The first problem of the answer, in the words the verdict's error shows moderators."""
    first = exc.errors()[0]
    field = str(first["loc"][0])
    if first["type"] == "missing":
        return AnswerError(f'the final answer has no "{field}" field')
    if field == "violation":
        return AnswerError(f'"violation" must be 0, 1, true or false, not {first["input"]!r}')
    if field == "confidence" and first["type"] in ("less_than_equal", "greater_than_equal"):
        return AnswerError(f'"confidence" must be between 0 and 1, not {first["input"]}')
    return AnswerError(_FIELD_ERRORS.get(field, first["msg"]))


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
    if isinstance(data, (bool, int)):
        try:
            return ParsedAnswer(bool(_BARE_VERDICT.validate_python(data)), (), (), 1.0, "")
        except ValidationError:
            raise AnswerError(f'"violation" must be 0, 1, true or false, not {data!r}') from None
    if not isinstance(data, dict):
        raise AnswerError(f"the final answer must be a JSON object, not {type(data).__name__}")
    try:
        answer = _Answer.model_validate(data)
    except ValidationError as exc:
        raise _answer_error(exc) from None
    return _checked_against(answer, policy)


def _checked_against(answer: _Answer, policy: Policy) -> ParsedAnswer:
    """Keep the rule ids and category the policy knows (the others are noted); derive categories from rules."""
    known = policy.rules
    rule_ids: list[str] = []
    dropped: list[str] = []
    for rule_id in answer.rule_ids:
        rule_id = rule_id.strip()
        if rule_id in known:
            if rule_id not in rule_ids:
                rule_ids.append(rule_id)
        elif rule_id:
            dropped.append(rule_id)
    categories: list[str] = []
    category = answer.policy_category
    dropped_category = None
    if category:
        if category in {c.id for c in policy.meta.categories}:
            categories.append(category)
        else:
            dropped_category = category
    for rule_id in rule_ids:
        cat = policy.category_of(rule_id)
        if cat and cat not in categories:
            categories.append(cat)
    return ParsedAnswer(
        violation=bool(answer.violation),
        categories=tuple(categories),
        rule_ids=tuple(rule_ids),
        confidence=float(answer.confidence),
        rationale=answer.rationale.strip()[:MAX_RATIONALE_CHARS],
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
    finish_reason: FinishReason = FinishReason.STOP,
) -> Judgement:
    """Map a parsed completion onto a Judgement; malformed or missing answers become escalations.

    ``finish_reason`` says why generation ended (see :class:`modbot.ports.FinishReason`).
    """
    common = dict(model=model, tokens=tokens, latency_ms=latency_ms, truncated=truncated, reasoning=parsed.analysis)
    if parsed.final is None:
        if finish_reason == FinishReason.LENGTH:
            why = "the model ran out of tokens before giving a final answer"
        elif finish_reason == FinishReason.TIMEOUT:
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
        if finish_reason != FinishReason.STOP:
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
