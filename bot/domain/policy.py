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

import re2
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from bot.domain.verdicts import Decision

__all__ = [
    "Policy",
    "PolicyCategory",
    "PolicyError",
    "PolicyExample",
    "PolicyMeta",
    "PolicyRule",
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


def _lines(text: str) -> list[str]:
    """Split after each ``\\n`` only, keeping the ends: TOML counts lines that way (``str.splitlines`` also
    splits on form feeds and Unicode separators, which would shift every line number after them)."""
    return [line for line in re.split(r"(?<=\n)", text) if line]


@dataclass(frozen=True, slots=True)
class _Parts:
    front: str
    body: str
    #: 1-based line numbers in the document: the first front-matter line and the closing fence.
    front_line: int
    closing_line: int


def _split_front_matter(text: str, source: str) -> _Parts:
    """Cut the document into front matter and body, remembering where each starts."""
    lines = _lines(text)
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
            body = "".join(lines[end + 1 :]).strip("\r\n")
            return _Parts(front=front, body=body, front_line=first + 2, closing_line=end + 1)
    raise PolicyError(
        f"the front matter opened here is never closed with '{FRONT_MATTER_FENCE}'", source=source, line=first + 1
    )


_TOML_LINE = re.compile(r"at line (\d+)")
_TABLE_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _line_of_key(front: str, loc: tuple[object, ...]) -> int | None:
    """Best effort: the 1-based line in the front matter where the field at ``loc`` is written.

    Walks the location through table headers (``[actions]``, ``[[categories.rules]]``, the n-th one for an
    index) and ``key =`` lines, looking for a key only inside the table it belongs to. A field that is
    missing points at the header of the table that should hold it; ``None`` means the top level.
    """
    lines = [line.rstrip("\r\n") for line in _lines(front)]
    headers: dict[int, str] = {}  # line index -> table name, for every [table] and [[array.of.tables]]
    for i, line in enumerate(lines):
        match = _TABLE_HEADER.match(line)
        if match:
            headers[i] = re.sub(r"\s+", "", match.group(1)).replace('"', "")

    path: list[str] = []
    table, end = -1, len(lines)  # the current table: its header's index (-1: top level) and where it stops
    hits: list[int] = []  # headers of the array of tables just entered, for a following index
    outer_end = end  # where the table holding that array stops
    for part in loc:
        if isinstance(part, int):
            if part < len(hits):
                table = hits[part]
                end = _table_end(headers, table, ".".join(path), outer_end)
            continue
        own_end = next((i for i in range(table + 1, end) if i in headers), end)
        key = re.compile(rf"""^\s*["']?{re.escape(part)}["']?\s*=""")
        for i in range(table + 1, own_end):
            if key.match(lines[i]):
                return i + 1  # the value is written inline; deeper parts are inside it
        name = ".".join([*path, part])
        hits = [i for i in range(table + 1, end) if headers.get(i) == name]
        if not hits:
            break
        path.append(part)
        outer_end = end
        table = hits[0]
        end = _table_end(headers, table, name, outer_end)
    return table + 1 if table >= 0 else None


def _table_end(headers: dict[int, str], table: int, name: str, limit: int) -> int:
    """Index of the first header after ``table`` that is not one of its sub-tables."""
    return next(
        (i for i in sorted(headers) if table < i < limit and not headers[i].startswith(name + ".")), limit
    )


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """Validate a policy document and return it; raises :class:`PolicyError` naming the line at fault.

    A leading byte order mark is dropped (editors on Windows add one); the version is the hash of the rest.
    """
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise PolicyError("the policy contains NUL bytes (is it a binary file?)", source=source, line=line)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise PolicyError(f"the policy is larger than {MAX_POLICY_BYTES // 1024} KB", source=source)
    parts = _split_front_matter(text, source)
    try:
        data = tomllib.loads(parts.front)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        line = parts.front_line + int(match.group(1)) - 1 if match else parts.front_line
        raise PolicyError(f"front matter is not valid TOML: {exc}", source=source, line=line) from exc
    try:
        meta = PolicyMeta.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _FieldError):
            loc = cause.loc
        message = str(cause) if isinstance(cause, ValueError) else err["msg"]
        rel = _line_of_key(parts.front, loc)
        line = parts.front_line + rel - 1 if rel else parts.front_line
        field = ".".join(str(p) for p in loc) or "front matter"
        raise PolicyError(f"{field}: {message}", source=source, line=line) from exc
    if not parts.body.strip():
        raise PolicyError(
            "the policy has no body: the reasoner needs the plain-language policy text",
            source=source,
            line=parts.closing_line,
        )
    return Policy(meta=meta, body=parts.body, version=policy_version(text), source=source, text=text)
