"""The policy document model: rules, categories, examples, the validated front matter and the loaded policy.

Parsing lives in :mod:`modbot.domain.policy` (front matter), :mod:`modbot.domain.policy_plain` (plain Markdown or
text without front matter) and :mod:`modbot.domain.policy_compose` (``extends``); all build these values.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import re2
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from modbot.domain.verdicts import Decision

__all__ = [
    "MAX_POLICY_BYTES",
    "Policy",
    "PolicyCategory",
    "PolicyError",
    "PolicyExample",
    "PolicyMeta",
    "PolicyRule",
    "parse_duration",
    "policy_version",
]

MAX_POLICY_BYTES = 256 * 1024

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RULE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")


class PolicyError(ValueError):
    """A policy document that cannot be used; ``line`` points at the mistake when known."""

    def __init__(self, message: str, *, source: str = "<policy>", line: int | None = None):
        self.source = source
        self.line = line
        self.reason = message
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")


def parse_duration(value: str | int) -> int:
    """``"10m"`` -> 600 seconds. Integers are seconds."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. '30s', '10m', '24h', '7d')")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


class _FieldError(ValueError):
    """A mistake found across fields, with the location of the field at fault.

    Pydantic reports a model validator's errors at the root; carrying ``loc`` lets the error name the line.
    """

    def __init__(self, message: str, loc: tuple[str | int, ...]):
        super().__init__(message)
        self.loc = loc


def _re2_problem(pattern: str) -> str | None:
    """Why RE2 cannot compile ``pattern`` (case-insensitively, as the keyword stage does), or None."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the reason comes back in the exception; don't also print it
    try:
        re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyRule(_Strict):
    """One rule: what the fast stages look for and how bad a violation is."""

    id: str
    description: str
    severity: str
    keywords: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()
    #: Keyword/regex hits on this rule are acted on at once (slurs, known scam links); otherwise a
    #: hit only routes the message to the reasoner.
    act_on_match: bool = False

    @field_validator("id")
    @classmethod
    def _rule_id_shape(cls, value: str) -> str:
        if not _RULE_ID.match(value):
            raise ValueError(f"rule id {value!r} must start with a letter and use letters, digits, '_', '-', '.'")
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords_not_blank(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # A blank keyword would match every message (or none, depending on the matcher).
        for number, keyword in enumerate(value, 1):
            if not keyword.strip():
                raise ValueError(f"keyword {number} is blank")
        return value

    @field_validator("regexes")
    @classmethod
    def _regexes_run_on_re2(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Checked here so a bad pattern is reported with its line at load time, not by the matcher later.
        for pattern in value:
            problem = _re2_problem(pattern)
            if problem:
                raise ValueError(
                    f"regex {pattern!r} cannot be compiled by RE2 ({problem}); "
                    "RE2 has no lookarounds and no backreferences"
                )
        return value


class PolicyCategory(_Strict):
    """A group of rules the reasoner may name as ``policy_category``."""

    id: str
    title: str
    rules: tuple[PolicyRule, ...] = Field(min_length=1)


class PolicyExample(_Strict):
    """A labelled example; used in tests, for the prefilter's similarity scoring and for ``policy test``."""

    text: str = Field(min_length=1)
    violation: bool
    rule_ids: tuple[str, ...] = ()


class PolicyMeta(_Strict):
    """The validated front matter of a policy document."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str
    description: str = ""
    reasoning_effort: str = Field(default="low", pattern=r"^(low|medium|high)$")
    #: severity name -> decision taken when a rule of that severity is violated.
    actions: dict[str, Decision]
    #: severity name -> timeout length for ``remove_and_timeout``.
    timeouts: dict[str, str | StrictInt] = Field(default_factory=dict)
    categories: tuple[PolicyCategory, ...] = Field(min_length=1)
    examples: tuple[PolicyExample, ...] = ()

    @model_validator(mode="after")
    def _cross_references(self) -> PolicyMeta:
        seen: set[str] = set()
        for c, category in enumerate(self.categories):
            for r, rule in enumerate(category.rules):
                where = ("categories", c, "rules", r)
                if rule.id in seen:
                    raise _FieldError(f"rule id {rule.id!r} is used twice", (*where, "id"))
                seen.add(rule.id)
                if rule.severity not in self.actions:
                    raise _FieldError(
                        f"rule {rule.id!r} has severity {rule.severity!r}, which [actions] does not define "
                        f"(defined: {', '.join(sorted(self.actions))})",
                        (*where, "severity"),
                    )
        for severity, duration in self.timeouts.items():
            if severity not in self.actions:
                raise _FieldError(f"[timeouts] names unknown severity {severity!r}", ("timeouts", severity))
            try:
                parse_duration(duration)
            except ValueError as exc:
                raise _FieldError(str(exc), ("timeouts", severity)) from exc
        for e, example in enumerate(self.examples):
            unknown = [rid for rid in example.rule_ids if rid not in seen]
            if unknown:
                raise _FieldError(
                    f"example {example.text[:40]!r} names unknown rule ids {unknown}", ("examples", e, "rule_ids")
                )
        return self


@dataclass(frozen=True, slots=True)
class Policy:
    """A loaded, validated policy document, identified by the hash of its text."""

    meta: PolicyMeta
    body: str
    version: str
    source: str
    text: str
    #: True for a plain Markdown/text policy without front matter: its structure was inferred from the body.
    plain: bool = False
    #: The shipped policy this one extends (its text is then the rendered effective policy).
    extends: str | None = None

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def rules(self) -> dict[str, tuple[PolicyCategory, PolicyRule]]:
        return {rule.id: (cat, rule) for cat in self.meta.categories for rule in cat.rules}

    def rule(self, rule_id: str) -> PolicyRule | None:
        found = self.rules.get(rule_id)
        return found[1] if found else None

    def category_of(self, rule_id: str) -> str | None:
        found = self.rules.get(rule_id)
        return found[0].id if found else None

    def decision_for(self, severity: str) -> Decision:
        return self.meta.actions.get(severity, Decision.FLAG)

    def timeout_seconds(self, severity: str) -> int | None:
        value = self.meta.timeouts.get(severity)
        return parse_duration(value) if value is not None else None


def policy_version(text: str) -> str:
    """The content hash that names one version of a policy document."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

