"""The keyword/regex stage: cheap, exact checks every message goes through.

A :class:`KeywordMatcher` is built once per (policy version, server extras) and scans messages:

* **Keywords** match whole words or whole phrases of the *folded* text (see :mod:`modbot.stages.normalize`), so
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

from modbot.stages.keywords.cache import MatcherCache
from modbot.stages.keywords.matcher import KeywordMatcher
from modbot.stages.keywords.terms import (
    EXTRA_CATEGORY,
    MAX_KEYWORD_CHARS,
    MAX_REGEX_CHARS,
    REGEX_MAX_MEM,
    REGEX_SET_MAX_BYTES,
    ExtraTerms,
    KeywordError,
    KeywordHit,
    KeywordRegexError,
    KeywordResult,
    compile_user_regex,
    validate_keyword,
)

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
