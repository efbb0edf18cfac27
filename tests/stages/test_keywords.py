"""Tests for modbot.stages.keywords: whole-word keywords, RE2 regexes, server extras and the matcher cache."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from modbot.stages.keywords import (
    EXTRA_CATEGORY,
    MAX_REGEX_CHARS,
    REGEX_SET_MAX_BYTES,
    ExtraTerms,
    KeywordError,
    KeywordHit,
    KeywordMatcher,
    KeywordRegexError,
    KeywordResult,
    MatcherCache,
    compile_user_regex,
    validate_keyword,
)
from modbot.domain.policy import Policy, parse_policy

POLICY = r"""
+++
id = "t"
title = "T"
[actions]
high = "remove"
low = "flag"

[[categories]]
id = "cheats"
title = "Cheats"
[[categories.rules]]
id = "CH1"
description = "selling cheats"
severity = "high"
keywords = ["aimbot", "wallhack", "dm me", "boost", "kill yourself"]
regexes = ['\bsell\w*\b.{0,40}\b(cheat|hack)s?\b']

[[categories]]
id = "insults"
title = "Insults"
[[categories.rules]]
id = "IN1"
description = "slurs, acted on at once"
severity = "high"
act_on_match = true
keywords = ["ass", "cunt", "fuck", "god", "idiot", "🍆", "傻逼"]
[[categories.rules]]
id = "IN2"
description = "mild insults"
severity = "low"
keywords = ["noob", "ass"]
regexes = ['\b1v1\b', 'UPPER']
+++
Cheats and insults are not allowed.
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(POLICY, source="<test>")


@pytest.fixture(scope="module")
def matcher(policy: Policy) -> KeywordMatcher:
    return KeywordMatcher.build(policy)


def terms(result: KeywordResult) -> set[str]:
    return {hit.term for hit in result.hits}


# --- whole words, evasions, innocent words -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["ass", "ASS", "you ass!", "a s s", "a.s.s", "a$$", "4ss", "@ss", "аss", "ＡＳＳ", "a\u200bss", "asssss",
     "𝐚𝐬𝐬", "\u202eass"],
)
def test_evasions_of_a_keyword_match(matcher, text):
    assert "ass" in terms(matcher.scan(text))


@pytest.mark.parametrize(
    "text",
    ["assistance", "I live in Scunthorpe", "classic", "class", "pass", "bass", "as", "grass", "assassin",
     "cassette", "harass", "passes", "glass"],
)
def test_innocent_words_do_not_match(matcher, text):
    result = matcher.scan(text)
    assert not result.matched, result.hits


def test_phrases_match_across_normalised_spacing(matcher):
    for text in ["DM me", "dm    me!!", "pls dm-me now", "Dm\nme", "dm meeee"]:
        assert "dm me" in terms(matcher.scan(text)), text
    for text in ["admin me", "dm mentor", "dme me"]:
        assert "dm me" not in terms(matcher.scan(text)), text


def test_elongated_words_match_but_shorter_runs_do_not(matcher):
    assert "fuck" in terms(matcher.scan("fuuuuuuck this"))
    assert "aimbot" in terms(matcher.scan("aimbooot for sale"))
    assert "boost" in terms(matcher.scan("b-o-o-s-t"))
    assert "boost" in terms(matcher.scan("booooost"))
    assert not matcher.scan("bost").matched  # a run of two must stay two
    assert not matcher.scan("good game").matched  # "good" is not an elongated "god"


def test_leet_one_reads_as_i_or_l(matcher):
    assert "kill yourself" in terms(matcher.scan("ki11 y0urse1f"))
    assert "idiot" in terms(matcher.scan("ur a 1diot"))


def test_spaced_out_and_look_alike_letters_match(matcher):
    assert "fuck" in terms(matcher.scan("f.u.c.k off"))
    assert "aimbot" in terms(matcher.scan("cheap а1мвот"))  # Cyrillic а м в о т, leet 1
    assert "wallhack" in terms(matcher.scan("W A L L H A C K"))


def test_emoji_and_unspaced_scripts_match_as_substrings(matcher):
    assert "🍆" in terms(matcher.scan("send 🍆🍆"))
    assert "傻逼" in terms(matcher.scan("你是傻逼吧"))
    assert not matcher.scan("🍑 and 你好").matched


# --- regexes -----------------------------------------------------------------------------------------


def test_policy_regex_matches_folded_text(matcher):
    for text in ["selling cheats cheap", "SELLING HACKS", "s3lling h4cks", "s e l l i n g cheats"]:
        result = matcher.scan(text)
        assert any(hit.kind == "regex" and hit.rule_id == "CH1" for hit in result.hits), text
    assert not matcher.scan("cell phone cheats").matched


def test_regex_also_sees_the_clean_text(matcher):
    # Folding turns "1v1" into "ivi"; the regex still matches the clean text.
    assert matcher.scan("1v1 me").normalized.folded == "ivi me"
    assert r"\b1v1\b" in terms(matcher.scan("1v1 me"))


def test_long_texts_find_the_same_regex_hits(matcher):
    # Long texts skip the RE2 set (see REGEX_SET_MAX_BYTES) for a joined prefilter plus one search per regex.
    short = "selling cheats, 1v1 me, UPPER"
    long = "gg " * 400 + short + " wp" * 400
    assert len(long.encode()) > REGEX_SET_MAX_BYTES
    expected = {h.term for h in matcher.scan(short).hits if h.kind == "regex"}
    assert len(expected) == 3
    assert {h.term for h in matcher.scan(long).hits if h.kind == "regex"} == expected
    assert not [h for h in matcher.scan("gg " * 400).hits if h.kind == "regex"]


def test_regexes_are_case_insensitive(matcher):
    assert "UPPER" in terms(matcher.scan("upper deck"))


def test_catastrophic_regex_runs_in_linear_time():
    compiled = compile_user_regex(r"(a+)+$")
    text = "a" * 50_000 + "!"
    start = time.perf_counter()
    assert compiled.search(text) is None
    assert time.perf_counter() - start < 1.0


def test_catastrophic_regex_in_a_policy_scans_quickly(policy):
    matcher = KeywordMatcher.build(policy, [ExtraTerms("X1", regexes=(r"(a+)+$", r"(x|x)*y", r"(\w+\s?)*$!"))])
    start = time.perf_counter()
    result = matcher.scan("a" * 49_999 + "!")  # 50,000 characters, all of them scanned
    assert time.perf_counter() - start < 1.0
    assert not result.normalized.truncated
    assert not any(hit.rule_id == "X1" for hit in result.hits)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(?<=buy)cheats", "look-behind"),
        (r"cheat(?=s)", "look-ahead"),
        (r"(a)\1", "backreference"),
        ("x" * (MAX_REGEX_CHARS + 1), "limit is 500"),
        ("", "empty"),
        ("   ", "empty"),
        (r"a*", "matches empty text"),
        (r"^", "matches empty text"),
        (r"(unclosed", r"missing \)"),
        (r"a{2000}", "repetition"),
        (r"((\w{1,100}){1,100})", "above 1000"),
        (r"(\pL{1,100}){1,10}", "too large"),
        ("a\x00b", "control characters"),
    ],
)
def test_bad_regexes_are_refused_with_a_clear_reason(pattern, reason):
    with pytest.raises(KeywordRegexError, match=reason) as info:
        compile_user_regex(pattern)
    assert isinstance(info.value, ValueError)


def test_a_good_regex_compiles_case_insensitively():
    compiled = compile_user_regex(r"free\s+nitro")
    assert compiled.search("FREE  Nitro now") is not None


def test_a_bad_regex_in_a_policy_names_the_rule():
    # The policy loader already refuses what RE2 cannot compile; the matcher also refuses a regex
    # that would match every message.
    bad = POLICY.replace(r"'\b1v1\b', 'UPPER'", r"'x*'")
    with pytest.raises(KeywordRegexError, match="rule IN2:") as info:
        KeywordMatcher.build(parse_policy(bad))
    assert info.value.rule_id == "IN2"
    assert "matches empty text" in str(info.value)


def test_a_keyword_that_is_empty_once_normalised_names_the_rule():
    bad = POLICY.replace('keywords = ["noob", "ass"]', 'keywords = ["noob", "\u200b\u200b"]')
    with pytest.raises(KeywordError, match="rule IN2: .*empty"):
        KeywordMatcher.build(parse_policy(bad))
    with pytest.raises(KeywordError, match="limit"):
        validate_keyword("x" * 500)
    assert validate_keyword("  D-M  Me ") == "d-m me"


# --- results, extras -----------------------------------------------------------------------------


def test_result_properties(matcher):
    result = matcher.scan("ass noob selling hacks")
    assert result.matched
    assert result.act_now  # IN1 acts on match
    assert result.rule_ids == ("CH1", "IN1", "IN2")  # policy order, no duplicates
    assert result.categories == ("cheats", "insults")
    assert KeywordHit("IN1", "insults", "ass", "keyword", True) in result.hits
    assert KeywordHit("IN2", "insults", "ass", "keyword", False) in result.hits  # same word, two rules
    assert result.normalized.clean == "ass noob selling hacks"

    quiet = matcher.scan("noob")
    assert quiet.matched and not quiet.act_now
    empty = matcher.scan("good game everyone")
    assert (empty.matched, empty.act_now, empty.rule_ids, empty.categories, empty.hits) == (False, False, (), (), ())


def test_results_and_hits_are_frozen(matcher):
    result = matcher.scan("ass")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.hits = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.hits[0].rule_id = "x"  # type: ignore[misc]


def test_server_extras_add_terms(policy):
    extras = [
        ExtraTerms("SRV1", keywords=("free nitro", "rival clan"), regexes=(r"discord\.gift/\w+",), act_on_match=True),
        ExtraTerms("CH1", keywords=("trigger bot",)),
    ]
    matcher = KeywordMatcher.build(policy, extras)
    result = matcher.scan("FREE NITRO at discord.gift/abc")
    assert {(h.rule_id, h.category, h.kind, h.act_on_match) for h in result.hits} == {
        ("SRV1", EXTRA_CATEGORY, "keyword", True),
        ("SRV1", EXTRA_CATEGORY, "regex", True),
    }
    assert result.act_now
    trigger = matcher.scan("selling a trigger bot")
    assert [(h.rule_id, h.category, h.term) for h in trigger.hits if h.kind == "keyword"] == [
        ("CH1", "cheats", "trigger bot")
    ]
    # The plain policy matcher knows none of it.
    plain = KeywordMatcher.build(policy)
    assert not plain.scan("free nitro rival clan trigger bot").matched


def test_extra_terms_are_checked_and_stored_as_tuples():
    extra = ExtraTerms("SRV1", keywords=["a", "b"], regexes=["x+"])  # type: ignore[arg-type]
    assert extra.keywords == ("a", "b") and extra.regexes == ("x+",)
    assert hash(extra) == hash(ExtraTerms("SRV1", keywords=("a", "b"), regexes=("x+",)))
    with pytest.raises(KeywordError, match="rule id"):
        ExtraTerms("  ")
    with pytest.raises(KeywordError, match="not one string"):
        ExtraTerms("SRV1", keywords="scam")  # type: ignore[arg-type]


def test_keywords_with_significant_symbols_match_as_whole_substrings(policy):
    matcher = KeywordMatcher.build(policy, [ExtraTerms("SRV1", keywords=("c++", "<3", "$$$"))])
    assert {"c++", "<3", "$$$"} <= terms(matcher.scan("i <3 c++ and $$$"))
    assert not matcher.scan("abc++ 3 <4 $$").matched


def test_bad_extra_regex_names_its_rule(policy):
    with pytest.raises(KeywordRegexError, match="rule SRV9:"):
        KeywordMatcher.build(policy, [ExtraTerms("SRV9", regexes=("(a)\\1",))])
    with pytest.raises(TypeError):
        KeywordMatcher.build(policy, [("SRV9", ("x",))])  # type: ignore[list-item]


def test_hit_terms_lists_everything_once(matcher):
    kinds = [(h.rule_id, h.term, h.kind) for h in matcher.hit_terms]
    assert len(kinds) == len(set(kinds))
    assert ("CH1", "aimbot", "keyword") in kinds
    assert ("IN2", "UPPER", "regex") in kinds


# --- robustness --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x" * 100_000,
        "ass " * 25_000,
        "\x00" * 1000 + "ass",
        "\ud800ass\udfff",
        "\u200b" * 5000,
        "\u202eass\u202c",
        "🔥" * 10_000,
        "fuuuuck1 kiii11 ΗΕLLΟ " * 5_000,
        "d m m e " * 10_000,
    ],
    ids=["empty", "100k", "many-hits", "nul", "surrogates", "zero-width", "rtl", "emoji", "slow-path", "spaced"],
)
def test_hostile_input_gives_a_sensible_result_quickly(matcher, text):
    start = time.perf_counter()
    result = matcher.scan(text)
    assert time.perf_counter() - start < 1.0
    assert isinstance(result, KeywordResult)
    if "ass" in text and "x" * 10 not in text:
        assert "ass" in terms(result)
    if text.strip("\u200b") == "":
        assert result.normalized.is_empty and not result.matched


def test_a_policy_without_terms_matches_nothing():
    minimal = parse_policy(
        '+++\nid = "m"\ntitle = "M"\n[actions]\nlow = "flag"\n[[categories]]\nid = "c"\ntitle = "C"\n'
        '[[categories.rules]]\nid = "R1"\ndescription = "d"\nseverity = "low"\n+++\nbody\n'
    )
    matcher = KeywordMatcher.build(minimal)
    assert not matcher.scan("anything at all, ass").matched


# --- cache -------------------------------------------------------------------------------------------


def test_cache_returns_the_same_matcher_for_the_same_policy_and_extras(policy):
    cache = MatcherCache(maxsize=4)
    first = cache.get(policy)
    assert cache.get(policy) is first
    extras = (ExtraTerms("SRV1", keywords=("rival",)),)
    with_extras = cache.get(policy, extras)
    assert with_extras is not first
    assert cache.get(policy, [ExtraTerms("SRV1", keywords=("rival",))]) is with_extras  # equal, not identical
    assert (cache.hits, cache.misses, len(cache)) == (2, 2, 2)
    assert with_extras.scan("rival").matched and not first.scan("rival").matched


def test_cache_evicts_the_least_recently_used(policy):
    cache = MatcherCache(maxsize=2)
    a = cache.get(policy, [ExtraTerms("A", keywords=("a1",))])
    b = cache.get(policy, [ExtraTerms("B", keywords=("b1",))])
    assert cache.get(policy, [ExtraTerms("A", keywords=("a1",))]) is a  # A is now the most recent
    cache.get(policy, [ExtraTerms("C", keywords=("c1",))])  # evicts B
    assert len(cache) == 2
    assert cache.get(policy, [ExtraTerms("A", keywords=("a1",))]) is a
    assert cache.get(policy, [ExtraTerms("B", keywords=("b1",))]) is not b
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError):
        MatcherCache(maxsize=0)


def test_a_new_policy_version_builds_a_new_matcher(policy):
    cache = MatcherCache()
    old = cache.get(policy)
    changed = parse_policy(POLICY.replace('"noob", "ass"', '"noob", "ass", "scrub"'))
    assert changed.version != policy.version
    new = cache.get(changed)
    assert new is not old
    assert new.scan("scrub").matched and not old.scan("scrub").matched


# --- the shipped policy ------------------------------------------------------------------------------

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "game-community.md"


@pytest.mark.skipif(not SHIPPED.exists(), reason="policies/game-community.md is not there")
def test_the_shipped_policy_builds_and_leaves_small_talk_alone():
    from modbot.policy_files import load_policy

    matcher = KeywordMatcher.build(load_policy(SHIPPED))
    assert matcher.hit_terms
    for text in ["good game everyone, see you tomorrow", "anyone up for ranked?", "nice shot!"]:
        assert not matcher.scan(text).matched, text
