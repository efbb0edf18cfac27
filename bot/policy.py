"""Policy documents: TOML front matter (structure for the fast stages) + a Markdown body (for the reasoner).

A document looks like::

    +++
    id = "game-community"
    title = "..."
    [actions]
    high = "remove_and_timeout"
    [[categories]]
    id = "cheats"
    ...
    +++
    # Instruction
    ...

The version of a policy is the hash of the whole document, so every verdict can be traced to the exact
text the model read.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .domain import Decision

__all__ = [
    "Policy",
    "PolicyCategory",
    "PolicyError",
    "PolicyExample",
    "PolicyMeta",
    "PolicyRule",
    "load_policy",
    "parse_policy",
]

FRONT_MATTER_FENCE = "+++"
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
    timeouts: dict[str, str | int] = Field(default_factory=dict)
    categories: tuple[PolicyCategory, ...] = Field(min_length=1)
    examples: tuple[PolicyExample, ...] = ()

    @model_validator(mode="after")
    def _cross_references(self) -> PolicyMeta:
        seen: set[str] = set()
        for category in self.categories:
            for rule in category.rules:
                if rule.id in seen:
                    raise ValueError(f"rule id {rule.id!r} is used twice")
                seen.add(rule.id)
                if rule.severity not in self.actions:
                    raise ValueError(
                        f"rule {rule.id!r} has severity {rule.severity!r}, which [actions] does not define "
                        f"(defined: {', '.join(sorted(self.actions))})"
                    )
        for severity, duration in self.timeouts.items():
            if severity not in self.actions:
                raise ValueError(f"[timeouts] names unknown severity {severity!r}")
            parse_duration(duration)
        for example in self.examples:
            unknown = [rid for rid in example.rule_ids if rid not in seen]
            if unknown:
                raise ValueError(f"example {example.text[:40]!r} names unknown rule ids {unknown}")
        return self


@dataclass(frozen=True, slots=True)
class Policy:
    """A loaded, validated policy document, identified by the hash of its text."""

    meta: PolicyMeta
    body: str
    version: str
    source: str
    text: str

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


def _split_front_matter(text: str, source: str) -> tuple[str, str, int]:
    """Return (front matter, body, line number where the front matter starts)."""
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise PolicyError("the policy document is empty", source=source, line=1)
    if lines[first].strip() != FRONT_MATTER_FENCE:
        raise PolicyError(
            f"a policy must start with TOML front matter between '{FRONT_MATTER_FENCE}' lines",
            source=source,
            line=first + 1,
        )
    for end in range(first + 1, len(lines)):
        if lines[end].strip() == FRONT_MATTER_FENCE:
            front = "".join(lines[first + 1 : end])
            body = "".join(lines[end + 1 :]).strip("\n")
            return front, body, first + 2
    raise PolicyError(
        f"the front matter opened here is never closed with '{FRONT_MATTER_FENCE}'", source=source, line=first + 1
    )


_TOML_LINE = re.compile(r"at line (\d+)")


def _line_of_key(front: str, loc: tuple[object, ...]) -> int | None:
    """Best-effort: the line in the front matter where the failing field is written."""
    # Walk the location path; keys become 'key =' or '[key]' / '[[key]]' lines, indexes select
    # the n-th occurrence of an array-of-tables header.
    lines = front.splitlines()
    start = 0
    table_path: list[str] = []
    for part in loc:
        if isinstance(part, str):
            table_path.append(part)
            header = ".".join(table_path)
            key_re = re.compile(rf"^\s*(\[\[?\s*{re.escape(header)}\s*\]\]?|{re.escape(part)}\s*=)")
            for i in range(start, len(lines)):
                if key_re.match(lines[i]):
                    start = i
                    break
            else:
                return start + 1 if start else None
        elif isinstance(part, int):
            header = ".".join(table_path)
            aot = re.compile(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]")
            hits = [i for i in range(start, len(lines)) if aot.match(lines[i])]
            if part < len(hits):
                start = hits[part]
    return start + 1


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """Validate a policy document and return it; raises :class:`PolicyError` naming the line at fault."""
    if "\x00" in text:
        raise PolicyError("the policy contains NUL bytes (is it a binary file?)", source=source)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise PolicyError(f"the policy is larger than {MAX_POLICY_BYTES // 1024} KB", source=source)
    front, body, offset = _split_front_matter(text, source)
    try:
        data = tomllib.loads(front)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        line = offset + int(match.group(1)) - 1 if match else offset
        raise PolicyError(f"front matter is not valid TOML: {exc}", source=source, line=line) from exc
    try:
        meta = PolicyMeta.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        rel = _line_of_key(front, loc)
        line = offset + rel - 1 if rel else offset
        field = ".".join(str(p) for p in loc) or "front matter"
        raise PolicyError(f"{field}: {err['msg']}", source=source, line=line) from exc
    if not body.strip():
        raise PolicyError("the policy has no body: the reasoner needs the plain-language policy text", source=source)
    return Policy(meta=meta, body=body, version=policy_version(text), source=source, text=text)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read the policy: {exc.strerror or exc}", source=str(path)) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"the policy is not UTF-8 text (byte {exc.start})", source=str(path)) from exc
    return parse_policy(text, source=str(path))
