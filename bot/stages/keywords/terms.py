"""What the keyword stage works with: terms, their validation, hits and results.

Keywords and regexes come from a policy's rules or from a server's moderators (:class:`ExtraTerms`);
both are checked here before a matcher is built, so a bad one is refused with a clear reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import re2

from modbot.stages.normalize import NormalizedText, normalize

__all__ = [
    "EXTRA_CATEGORY",
    "MAX_KEYWORD_CHARS",
    "MAX_REGEX_CHARS",
    "REGEX_MAX_MEM",
    "REGEX_SET_MAX_BYTES",
    "REGEX_SET_MAX_MEM",
    "SYMBOL",
    "UNSPACED_SCRIPT",
    "WORD",
    "ExtraTerms",
    "HitKind",
    "KeywordError",
    "KeywordHit",
    "KeywordRegexError",
    "KeywordResult",
    "compile_user_regex",
    "regex_options",
    "validate_keyword",
]

#: Longest regex a policy or a moderator may add.
MAX_REGEX_CHARS = 500
#: Longest keyword or phrase.
MAX_KEYWORD_CHARS = 200
#: Memory RE2 may use for one regex; a pattern needing more is refused as too large.
REGEX_MAX_MEM = 2 * 1024 * 1024
#: Memory for the combined regex set of one matcher.
REGEX_SET_MAX_MEM = 64 * 1024 * 1024
#: Texts up to this many UTF-8 bytes are matched against all regexes at once with an RE2 set.
REGEX_SET_MAX_BYTES = 512
#: Category reported for server extras whose rule id is not a rule of the policy.
EXTRA_CATEGORY = "server"

HitKind = Literal["keyword", "regex"]


class KeywordError(ValueError):
    """A keyword or regex that cannot be used; the message says what is wrong and where."""

    def __init__(self, reason: str, *, term: str = "", rule_id: str | None = None):
        self.reason = reason
        self.term = term
        self.rule_id = rule_id
        where = f"rule {rule_id}: " if rule_id else ""
        super().__init__(f"{where}{reason}")


class KeywordRegexError(KeywordError):
    """A regex that RE2 refuses or that would be unsafe to run (too long, too big, matches nothing)."""


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """One keyword or regex of one rule that matched."""

    rule_id: str
    category: str
    #: The keyword or regex as written in the policy (or by the moderator).
    term: str
    kind: HitKind
    #: Act at once without asking the reasoner (see ``PolicyRule.act_on_match``).
    act_on_match: bool


@dataclass(frozen=True, slots=True)
class KeywordResult:
    """What the keyword stage found in one message, with the normalised text it looked at."""

    normalized: NormalizedText
    hits: tuple[KeywordHit, ...] = ()

    @property
    def matched(self) -> bool:
        return bool(self.hits)

    @property
    def act_now(self) -> bool:
        """True when a hit belongs to a rule that is acted on without the reasoner."""
        return any(hit.act_on_match for hit in self.hits)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(hit.rule_id for hit in self.hits))

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(hit.category for hit in self.hits))


@dataclass(frozen=True, slots=True)
class ExtraTerms:
    """A server's own keywords/regexes on top of its policy.

    When ``rule_id`` names a rule of the policy, hits report that rule's category; otherwise they
    report :data:`EXTRA_CATEGORY`. ``act_on_match`` applies to these terms only, whatever the
    policy's rule says. Lists are accepted for the terms and stored as tuples.
    """

    rule_id: str
    keywords: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()
    act_on_match: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.rule_id, str) or not self.rule_id.strip():
            raise KeywordError("extra terms need a rule id")
        for name in ("keywords", "regexes"):
            value = getattr(self, name)
            if isinstance(value, str):  # one term passed bare, not as a sequence
                raise KeywordError(f"{name} must be a sequence of terms, not one string", rule_id=self.rule_id)
            # Lists are accepted and stored as tuples, so the terms stay hashable (cache keys).
            object.__setattr__(self, name, tuple(value))


# --- validation ----------------------------------------------------------------------------------

_REGEX_HINTS = (
    ("invalid perl operator: (?<", "look-behind assertions like (?<=...) are not supported (RE2 syntax)"),
    ("invalid perl operator: (?=", "look-ahead assertions like (?=...) are not supported (RE2 syntax)"),
    ("invalid perl operator: (?!", "negative look-ahead (?!...) is not supported (RE2 syntax)"),
    ("invalid escape sequence: \\Z", "use \\z for the end of the text (RE2 syntax)"),
    ("pattern too large", f"the regex is too large for its {REGEX_MAX_MEM // 1024} KiB memory limit; use smaller repetition counts or narrower classes"),
    ("invalid repetition size", "a repetition count like {n,m} is above 1000, in total across nested repetitions (RE2 limit)"),
    ("bad repetition operator", "a repetition operator is misplaced (e.g. '**' or '+?+')"),
)
_BACKREFERENCE = re.compile(r"invalid escape sequence: \\[1-9]")


def regex_options(max_mem: int) -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = max_mem
    return options


def _explain_re2_error(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else str(exc)
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if _BACKREFERENCE.search(message):
        return f"backreferences like \\1 are not supported (RE2 syntax): {message}"
    for needle, hint in _REGEX_HINTS:
        if needle in message:
            return f"{hint}: {message}"
    return message


def compile_user_regex(pattern: str, *, rule_id: str | None = None) -> re2._Regexp:
    """Validate and compile a regex written by a policy author or a moderator.

    The syntax is RE2's (no look-around, no backreferences); the regex is case-insensitive, at most
    :data:`MAX_REGEX_CHARS` characters, must fit in :data:`REGEX_MAX_MEM` bytes, and must not match
    empty text (it would match every message). Raises :class:`KeywordRegexError` saying what is wrong.
    """
    if not isinstance(pattern, str):
        raise KeywordRegexError(f"a regex must be text, not {type(pattern).__name__}", rule_id=rule_id)
    shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
    if not pattern.strip():
        raise KeywordRegexError("the regex is empty", term=pattern, rule_id=rule_id)
    if len(pattern) > MAX_REGEX_CHARS:
        raise KeywordRegexError(
            f"the regex {shown!r} is {len(pattern)} characters long; the limit is {MAX_REGEX_CHARS}",
            term=pattern,
            rule_id=rule_id,
        )
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in pattern) or re.search("[\ud800-\udfff]", pattern):
        raise KeywordRegexError(
            f"the regex {shown!r} contains control characters or invalid text", term=pattern, rule_id=rule_id
        )
    try:
        compiled = re2.compile(pattern, regex_options(REGEX_MAX_MEM))
    except re2.error as exc:
        raise KeywordRegexError(
            f"the regex {shown!r} is not valid: {_explain_re2_error(exc)}", term=pattern, rule_id=rule_id
        ) from exc
    if compiled.search("") is not None:
        raise KeywordRegexError(
            f"the regex {shown!r} matches empty text, so it would match every message", term=pattern, rule_id=rule_id
        )
    return compiled


WORD = re.compile(r"[^\W_]+")
# Scripts written without spaces between words: whole-word matching makes no sense there.
UNSPACED_SCRIPT = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f]"
)
# Characters that make a keyword a substring match: anything but word characters, spaces and the
# punctuation that merely separates words (emoji, symbols, "+" in "c++", "<" in "<3").
SYMBOL = re.compile(r"[^\w\s.,;:!?'\"/\-]")


def validate_keyword(term: str, *, rule_id: str | None = None) -> str:
    """Check a keyword or phrase and return its folded form; raises :class:`KeywordError`."""
    if not isinstance(term, str):
        raise KeywordError(f"a keyword must be text, not {type(term).__name__}", rule_id=rule_id)
    if len(term) > MAX_KEYWORD_CHARS:
        raise KeywordError(
            f"the keyword {term[:40]!r}... is {len(term)} characters long; the limit is {MAX_KEYWORD_CHARS}",
            term=term,
            rule_id=rule_id,
        )
    folded = normalize(term).folded
    if not folded:
        raise KeywordError(f"the keyword {term!r} is empty once normalised", term=term, rule_id=rule_id)
    return folded
