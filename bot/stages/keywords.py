"""The keyword/regex stage: cheap, exact checks every message goes through.

A :class:`KeywordMatcher` is built once per (policy version, server extras) and scans messages:

* **Keywords** match whole words or whole phrases of the *folded* text (see :mod:`bot.stages.normalize`), so
  "ass" matches "ASS", "a s s", "a$$", "4ss" and "аss" (Cyrillic а), but never "assistance", "class",
  "bass" or "classic"; "cunt" never matches "Scunthorpe". Keywords are folded by the same function
  as messages, and punctuation between words is ignored ("discord.gg" matches "discord gg"). A word
  typed with a run of three or more letters is "elongated" and matches the keyword with any length
  of that run ("fuuuuck" → fuck, "aimbooot" → aimbot); runs of one or two letters must match
  exactly, so "as" never matches "ass" and "good" never matches "god". Keywords holding emoji or
  other symbols, or text in scripts written without spaces (Chinese, Japanese, Thai...), match as
  substrings of the folded text instead.
* **Regexes** (from the policy, or added by a server's moderators) run on google-re2, whose
  matching time is linear in the input, so no regex can hang the bot. Every regex is
  case-insensitive and is tried on the folded text, its alternate readings, and the clean text
  (skipped when it equals the folded text but for case): a hit on any of them counts. Write regexes
  for the folded form to catch evasions ("sell" also catches "s3ll" and "s e l l"), and keep in
  mind that RE2's ``\\b`` and ``\\w`` are ASCII-only.

Matchers are immutable; :class:`MatcherCache` (owned by the composition root) keeps recently built
ones so a busy server does not rebuild its matcher for every message.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import re2

from bot.stages.normalize import NormalizedText, normalize
from bot.domain.policy import Policy

__all__ = [
    "EXTRA_CATEGORY",
    "MAX_KEYWORD_CHARS",
    "MAX_REGEX_CHARS",
    "REGEX_MAX_MEM",
    "REGEX_SET_MAX_BYTES",
    "ExtraTerms",
    "KeywordError",
    "KeywordHit",
    "KeywordMatcher",
    "KeywordRegexError",
    "KeywordResult",
    "MatcherCache",
    "compile_user_regex",
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


def _regex_options(max_mem: int) -> re2.Options:
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
        compiled = re2.compile(pattern, _regex_options(REGEX_MAX_MEM))
    except re2.error as exc:
        raise KeywordRegexError(
            f"the regex {shown!r} is not valid: {_explain_re2_error(exc)}", term=pattern, rule_id=rule_id
        ) from exc
    if compiled.search("") is not None:
        raise KeywordRegexError(
            f"the regex {shown!r} matches empty text, so it would match every message", term=pattern, rule_id=rule_id
        )
    return compiled


_WORD = re.compile(r"[^\W_]+")
# Scripts written without spaces between words: whole-word matching makes no sense there.
_UNSPACED_SCRIPT = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f]"
)
# Characters that make a keyword a substring match: anything but word characters, spaces and the
# punctuation that merely separates words (emoji, symbols, "+" in "c++", "<" in "<3").
_SYMBOL = re.compile(r"[^\w\s.,;:!?'\"/\-]")


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


# --- the matcher ---------------------------------------------------------------------------------

_TRIPLE = re.compile(r"([^\W\d_])\1\1")
_TRIPLE_HINT = re.compile(r"(.)\1\1")  # cheaper guard for _TRIPLE
_LETTER_RUNS = re.compile(r"([^\W\d_])\1+")


def _runs(word: str) -> list[tuple[str, int]]:
    return [(ch, len(list(group))) for ch, group in itertools.groupby(word)]


def _elongation_fits(text_word: str, keyword_word: str) -> bool:
    """An elongated run (3+ letters) in the message fits any run length of the keyword; others must be equal."""
    text_runs = _runs(text_word)
    keyword_runs = _runs(keyword_word)
    if len(text_runs) != len(keyword_runs):
        return False
    for (t_ch, t_len), (k_ch, k_len) in zip(text_runs, keyword_runs):
        if t_ch != k_ch or (t_len != k_len and not (t_len >= 3 and t_ch.isalpha())):
            return False
    return True


@dataclass(frozen=True, slots=True)
class _Phrase:
    words: tuple[str, ...]
    hits: tuple[KeywordHit, ...]


@dataclass(frozen=True, slots=True)
class _Substring:
    pattern: re.Pattern[str]
    hits: tuple[KeywordHit, ...]


@dataclass(frozen=True, slots=True, eq=False)
class KeywordMatcher:
    """Keyword and regex matcher for one policy version plus a server's extras. Build with :meth:`build`."""

    policy_id: str
    policy_version: str
    extras: tuple[ExtraTerms, ...]
    _single: dict[str, tuple[KeywordHit, ...]] = field(repr=False)
    _single_keys: frozenset[str] = field(repr=False)
    _phrases: dict[str, tuple[_Phrase, ...]] = field(repr=False)
    _phrase_starts: frozenset[str] = field(repr=False)
    _squeezed: dict[str, tuple[str, ...]] = field(repr=False)
    _substrings: tuple[_Substring, ...] = field(repr=False)
    _substring_any: re.Pattern[str] | None = field(repr=False)
    _regexes: tuple[tuple[re2._Regexp, tuple[KeywordHit, ...]], ...] = field(repr=False)
    _regex_set: re2.Set | None = field(repr=False)
    _regex_any: re2._Regexp | None = field(repr=False)
    _order: dict[KeywordHit, int] = field(repr=False)

    @classmethod
    def build(cls, policy: Policy, extra: Sequence[ExtraTerms] = ()) -> KeywordMatcher:
        """Compile every keyword and regex of ``policy`` and of the server's ``extra`` terms.

        Raises :class:`KeywordRegexError` / :class:`KeywordError` naming the rule whose term is bad.
        """
        builder = _Builder()
        for category in policy.meta.categories:
            for rule in category.rules:
                builder.add(rule.id, category.id, rule.keywords, rule.regexes, rule.act_on_match)
        extras = tuple(extra)
        for terms in extras:
            if not isinstance(terms, ExtraTerms):
                raise TypeError(f"extra terms must be ExtraTerms, not {type(terms).__name__}")
            category_id = policy.category_of(terms.rule_id) or EXTRA_CATEGORY
            builder.add(terms.rule_id, category_id, terms.keywords, terms.regexes, terms.act_on_match)
        return builder.finish(policy.id, policy.version, extras)

    @property
    def hit_terms(self) -> tuple[KeywordHit, ...]:
        """Every keyword and regex this matcher looks for, as the hit each one would give."""
        return tuple(self._order)

    def scan(self, text: str) -> KeywordResult:
        """Normalise ``text`` and report every keyword and regex that matches. Never raises on a str."""
        norm = normalize(text)
        found: set[KeywordHit] = set()
        if self._single_keys or self._phrase_starts:
            self._scan_words(norm, found)
        if self._substring_any is not None:
            self._scan_substrings(norm, found)
        if self._regexes:
            self._scan_regexes(norm, found)
        if not found:
            return KeywordResult(norm)
        order = self._order
        return KeywordResult(norm, tuple(sorted(found, key=order.__getitem__)))

    # The common case (no alternate readings, no elongated words) runs on set intersections; the
    # rare case builds, per word position, the set of words it may stand for.
    def _scan_words(self, norm: NormalizedText, found: set[KeywordHit]) -> None:
        words = _WORD.findall(norm.folded)
        if not words:
            return
        elongated = _TRIPLE_HINT.search(norm.folded) is not None and _TRIPLE.search(norm.folded) is not None
        if not norm.alternates and not elongated:
            for word in self._single_keys.intersection(words):
                found.update(self._single[word])
            if not self._phrase_starts.isdisjoint(words):
                count = len(words)
                for i, word in enumerate(words):
                    for phrase in self._phrases.get(word, ()):
                        end = i + len(phrase.words)
                        if end <= count and tuple(words[i:end]) == phrase.words:
                            found.update(phrase.hits)
            return
        positions = [{word} for word in words]
        for alternate in norm.alternates:
            other = _WORD.findall(alternate)
            if len(other) == len(words):  # same layout by construction; guard anyway
                for slot, word in zip(positions, other):
                    slot.add(word)
        if elongated or any(_TRIPLE.search(a) for a in norm.alternates):
            known: dict[str, list[str]] = {}  # hostile text repeats the same words
            for slot in positions:
                for word in [w for w in slot if _TRIPLE.search(w)]:
                    candidates = known.get(word)
                    if candidates is None:
                        candidates = known[word] = self._elongation_candidates(word)
                    slot.update(candidates)
        count = len(positions)
        for i, slot in enumerate(positions):
            for word in slot & self._single_keys:
                found.update(self._single[word])
            for word in slot & self._phrase_starts:
                for phrase in self._phrases[word]:
                    end = i + len(phrase.words)
                    if end <= count and all(phrase.words[j] in positions[i + j] for j in range(1, len(phrase.words))):
                        found.update(phrase.hits)

    def _elongation_candidates(self, word: str) -> list[str]:
        key = _LETTER_RUNS.sub(r"\1", word)
        return [kw for kw in self._squeezed.get(key, ()) if _elongation_fits(word, kw)]

    def _scan_substrings(self, norm: NormalizedText, found: set[KeywordHit]) -> None:
        texts = (norm.folded, *norm.alternates)
        any_substring = self._substring_any
        if any_substring is None or not any(any_substring.search(t) for t in texts):
            return
        for sub in self._substrings:
            if any(sub.pattern.search(t) for t in texts):
                found.update(sub.hits)

    # Short texts (nearly all chat) go through one RE2 set, which reports every matching regex in
    # one pass. On long texts a set's DFA thrashes (it must follow every regex to the end), so they
    # get one search of the regexes joined by "|" (it stops at the first match) and, only if that
    # matches, a search per regex.
    def _scan_regexes(self, norm: NormalizedText, found: set[KeywordHit]) -> None:
        texts = [norm.folded, *norm.alternates]
        if norm.clean.lower() != norm.folded:
            texts.append(norm.clean)
        regexes = self._regexes
        for text in texts:
            data = text.encode("utf-8")
            if self._regex_set is not None and len(data) <= REGEX_SET_MAX_BYTES:
                indexes = self._regex_set.Match(data)
                if indexes:
                    for index in indexes:
                        found.update(regexes[index][1])
                continue
            if self._regex_any is not None and self._regex_any.search(data) is None:
                continue
            for compiled, hits in regexes:
                if compiled.search(data) is not None:
                    found.update(hits)


class _Builder:
    """Collects terms rule by rule, then freezes them into a :class:`KeywordMatcher`."""

    def __init__(self) -> None:
        self.order: dict[KeywordHit, int] = {}
        self.single: dict[str, list[KeywordHit]] = {}
        self.phrases: dict[tuple[str, ...], list[KeywordHit]] = {}
        self.substrings: dict[str, list[KeywordHit]] = {}
        self.regexes: dict[str, tuple[re2._Regexp, list[KeywordHit]]] = {}

    def _hit(self, rule_id: str, category: str, term: str, kind: HitKind, act: bool) -> KeywordHit | None:
        hit = KeywordHit(rule_id=rule_id, category=category, term=term, kind=kind, act_on_match=act)
        if hit in self.order:
            return None
        self.order[hit] = len(self.order)
        return hit

    def add(
        self, rule_id: str, category: str, keywords: Iterable[str], regexes: Iterable[str], act: bool
    ) -> None:
        for term in keywords:
            folded = validate_keyword(term, rule_id=rule_id)
            hit = self._hit(rule_id, category, term, "keyword", act)
            if hit is None:
                continue
            words = tuple(_WORD.findall(folded))
            if not words or _UNSPACED_SCRIPT.search(folded) or _SYMBOL.search(folded):
                self.substrings.setdefault(folded, []).append(hit)
            elif len(words) == 1:
                self.single.setdefault(words[0], []).append(hit)
            else:
                self.phrases.setdefault(words, []).append(hit)
        for pattern in regexes:
            compiled = compile_user_regex(pattern, rule_id=rule_id)
            hit = self._hit(rule_id, category, pattern, "regex", act)
            if hit is None:
                continue
            self.regexes.setdefault(pattern, (compiled, []))[1].append(hit)

    def finish(self, policy_id: str, version: str, extras: tuple[ExtraTerms, ...]) -> KeywordMatcher:
        single = {word: tuple(hits) for word, hits in self.single.items()}
        by_start: dict[str, list[_Phrase]] = {}
        for words, hits in self.phrases.items():
            by_start.setdefault(words[0], []).append(_Phrase(words, tuple(hits)))
        squeezed: dict[str, set[str]] = {}
        for word in itertools.chain(single, *self.phrases):
            squeezed.setdefault(_LETTER_RUNS.sub(r"\1", word), set()).add(word)
        substrings = tuple(
            _Substring(re.compile(_substring_pattern(folded)), tuple(hits)) for folded, hits in self.substrings.items()
        )
        substring_any = (
            re.compile("|".join(s.pattern.pattern for s in substrings)) if substrings else None
        )
        regexes = tuple((compiled, tuple(hits)) for compiled, hits in self.regexes.values())
        return KeywordMatcher(
            policy_id=policy_id,
            policy_version=version,
            extras=extras,
            _single=single,
            _single_keys=frozenset(single),
            _phrases={start: tuple(p) for start, p in by_start.items()},
            _phrase_starts=frozenset(by_start),
            _squeezed={key: tuple(sorted(words)) for key, words in squeezed.items()},
            _substrings=substrings,
            _substring_any=substring_any,
            _regexes=regexes,
            _regex_set=_regex_set(self.regexes),
            _regex_any=_regex_any(self.regexes),
            _order=dict(self.order),
        )


def _substring_pattern(folded: str) -> str:
    """A substring keyword, with word boundaries on the ends that are letters of a spaced script."""
    body = re.escape(folded)
    head = r"(?<![^\W_])" if _WORD.match(folded[0]) and not _UNSPACED_SCRIPT.match(folded[0]) else ""
    tail = r"(?![^\W_])" if _WORD.match(folded[-1]) and not _UNSPACED_SCRIPT.match(folded[-1]) else ""
    return f"(?:{head}{body}{tail})"


def _regex_set(regexes: dict[str, tuple[re2._Regexp, list[KeywordHit]]]) -> re2.Set | None:
    """One RE2 set that reports every matching regex in a single pass; None if RE2 cannot build it."""
    if not regexes:
        return None
    regex_set = re2.Set.SearchSet(_regex_options(REGEX_SET_MAX_MEM))
    try:
        for index, pattern in enumerate(regexes):
            if regex_set.Add(pattern) != index:
                return None
        regex_set.Compile()
    except re2.error:
        return None  # too big as a set: scan the regexes one by one instead
    return regex_set


def _regex_any(regexes: dict[str, tuple[re2._Regexp, list[KeywordHit]]]) -> re2._Regexp | None:
    """All regexes joined by "|", to learn cheaply whether any matches; None if RE2 cannot build it."""
    if len(regexes) < 2:
        return None
    options = _regex_options(REGEX_SET_MAX_MEM)
    options.never_capture = True
    try:
        return re2.compile("|".join(f"(?:{pattern})" for pattern in regexes), options)
    except re2.error:
        return None


class MatcherCache:
    """A small LRU of built matchers keyed by (policy version, server extras); owned by the composition root.

    Thread-safe; building happens outside the lock, so two callers may build the same matcher once
    each on a cold cache, which is harmless.
    """

    def __init__(self, maxsize: int = 64) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[tuple[str, tuple[ExtraTerms, ...]], KeywordMatcher] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, policy: Policy, extra: Sequence[ExtraTerms] = ()) -> KeywordMatcher:
        """The matcher for ``policy`` plus ``extra``, built on first use."""
        key = (policy.version, tuple(extra))
        with self._lock:
            matcher = self._items.get(key)
            if matcher is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return matcher
            self.misses += 1
        matcher = KeywordMatcher.build(policy, key[1])
        with self._lock:
            self._items[key] = matcher
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return matcher

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
