"""The keyword matcher: scans a message's folded text for a policy's (and a server's) keywords and regexes."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import re2

from modbot.domain.policy import Policy
from modbot.stages.keywords.terms import (
    EXTRA_CATEGORY,
    REGEX_SET_MAX_BYTES,
    REGEX_SET_MAX_MEM,
    SYMBOL,
    UNSPACED_SCRIPT,
    WORD,
    ExtraTerms,
    HitKind,
    KeywordHit,
    KeywordResult,
    compile_user_regex,
    regex_options,
    validate_keyword,
)
from modbot.stages.normalize import NormalizedText, normalize

__all__ = ["KeywordMatcher"]


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
        # ``readings`` (spoiler bars, RTL overrides undone) are whole other texts, scanned alike.
        for reading in (norm, *norm.readings) if norm.readings else (norm,):
            if self._single_keys or self._phrase_starts:
                self._scan_words(reading, found)
            if self._substring_any is not None:
                self._scan_substrings(reading, found)
            if self._regexes:
                self._scan_regexes(reading, found)
        if not found:
            return KeywordResult(norm)
        order = self._order
        return KeywordResult(norm, tuple(sorted(found, key=order.__getitem__)))

    # The common case (no alternate readings, no elongated words) runs on set intersections; the
    # rare case builds, per word position, the set of words it may stand for.
    def _scan_words(self, norm: NormalizedText, found: set[KeywordHit]) -> None:
        words = WORD.findall(norm.folded)
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
            other = WORD.findall(alternate)
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
            words = tuple(WORD.findall(folded))
            if not words or UNSPACED_SCRIPT.search(folded) or SYMBOL.search(folded):
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
    head = r"(?<![^\W_])" if WORD.match(folded[0]) and not UNSPACED_SCRIPT.match(folded[0]) else ""
    tail = r"(?![^\W_])" if WORD.match(folded[-1]) and not UNSPACED_SCRIPT.match(folded[-1]) else ""
    return f"(?:{head}{body}{tail})"


def _regex_set(regexes: dict[str, tuple[re2._Regexp, list[KeywordHit]]]) -> re2.Set | None:
    """One RE2 set that reports every matching regex in a single pass; None if RE2 cannot build it."""
    if not regexes:
        return None
    regex_set = re2.Set.SearchSet(regex_options(REGEX_SET_MAX_MEM))
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
    options = regex_options(REGEX_SET_MAX_MEM)
    options.never_capture = True
    try:
        return re2.compile("|".join(f"(?:{pattern})" for pattern in regexes), options)
    except re2.error:
        return None
