"""Layout evasions are caught by the shipped policy's keyword stage; look-alike benign chat is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from modbot.config import PipelineSettings
from modbot.domain import Decision, MessageEvent, ServerRef
from modbot.domain.policy import Policy, parse_policy
from modbot.moderation.intake import TRUNCATION_MARK, sanitize_text
from modbot.moderation.judge import Judge
from modbot.ports import PrefilterScore
from modbot.stages.keywords import KeywordMatcher
from modbot.stages.normalize import normalize
from tests.support.scripted import violation

POLICY_PATH = Path(__file__).resolve().parents[2] / "policies" / "game-community.md"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(POLICY_PATH.read_text(encoding="utf-8"), source=str(POLICY_PATH))


@pytest.fixture(scope="module")
def matcher(policy: Policy) -> KeywordMatcher:
    return KeywordMatcher.build(policy)


def rules(matcher: KeywordMatcher, text: str) -> set[str]:
    return {hit.rule_id for hit in matcher.scan(text).hits}


def act_now(matcher: KeywordMatcher, text: str) -> list:
    return [hit for hit in matcher.scan(text).hits if hit.act_on_match]


# Each evasion must hit the same rule as its plain spelling.
EVASIONS = [
    # 1. emoji between single letters
    ("nigger", "n😂i😂g😂g😂e😂r"),
    ("kys", "k💀y💀s"),
    ("nigger", "n 👍🏽 i 👍🏽 g 👍🏽 g 👍🏽 e 👍🏽 r"),
    ("nigger", "n\u2764\ufe0fi\u2764\ufe0fg\u2764\ufe0fg\u2764\ufe0fe\u2764\ufe0fr"),
    ("kys", "k👨\u200d👩\u200d👧y👨\u200d👩\u200d👧s"),
    # 2. Discord spoiler splitting
    ("nigger", "||n||||i||||g||||g||||e||||r||"),
    ("nigger", "||nig||||ger||"),
    ("free nitro", "||free||||nitro||"),
    ("kys", "||k|| ||y|| ||s||"),
    # 3. U+FFFD (invalid byte / lone surrogate) inside a word
    ("nigger", "nig\ufffdger"),
    ("aimbot", "ai\ufffdmbot"),
    ("nigger", "nig\ud800ger"),
    # 4. spaced letters with wider gaps between words
    ("selling aimbot cheap", "s e l l i n g  a i m b o t  cheap"),
    ("kill yourself", "k i l l   y o u r s e l f"),
    # 5. text stored backwards behind RLO (or in an RLI isolate)
    ("selling aimbot", "\u202etobmia gnilles"),
    ("free-nitro.com", "\u202emoc.ortin-eerf"),
    ("get it at free-nitro.com now", "get it at \u202emoc.ortin-eerf\u202c now"),
    ("aimbot", "\u2067tobmia\u2069"),
]


@pytest.mark.parametrize(("plain", "evasion"), EVASIONS)
def test_evasion_hits_the_same_rule_as_the_plain_spelling(matcher, plain, evasion):
    expected = rules(matcher, plain)
    assert expected, f"the plain spelling {plain!r} should hit a rule"
    assert expected <= rules(matcher, evasion)


@pytest.mark.parametrize(
    "evasion", ["n😂i😂g😂g😂e😂r", "||n||||i||||g||||g||||e||||r||", "nig\ufffdger", "\u202ereggin"]
)
def test_slur_evasions_are_acted_on_now(matcher, evasion):
    assert any(hit.rule_id == "HT1" for hit in act_now(matcher, evasion))


def test_scam_link_behind_rlo_is_acted_on_now(matcher):
    assert any(hit.rule_id == "SC1" for hit in act_now(matcher, "claim: \u202emoc.ortin-eerf"))


BENIGN = [
    "lol 😂 that was great 😂 gg",
    "gg 👍 nice game 👍 see you",
    "I 💀 am 💀 dead 💀 lol",
    "a 🎉 party tonight, who's in? 🎉",
    "||the boss dies at the end||",
    "||spoiler|| the ending ||is sad||",
    "||snape|| ||kills|| ||dumbledore||",
    "مرحبا بالجميع، كيف حالكم اليوم",
    "שלום לכולם, משחק טוב",
    "\u2067مرحبا\u2069 everyone",
    "I  am  a  big  fan of this game",
    "a b c  d e f  we learnt the alphabet",
    "gg " * 15_000,
    ("this is a long but harmless message about the patch notes. " * 800),
    "caf\ufffd is open, see you there",
    "\u202eolleh",
]


@pytest.mark.parametrize("text", BENIGN, ids=lambda t: t[:30])
def test_look_alike_benign_chat_gets_no_act_now_hit(matcher, text):
    assert act_now(matcher, text) == []


def test_most_chat_has_no_rewritten_reading():
    assert normalize("gg wp, see you tomorrow").readings == ()
    assert normalize("привет 😂 всем").readings == ()


def test_readings_undo_spoilers_and_overrides():
    assert {r.folded for r in normalize("||free||||nitro||").readings} >= {"free nitro", "freenitro"}
    assert [r.folded for r in normalize("\u202etobmia gnilles").readings] == ["selling aimbot"]


def test_evenly_spaced_runs_still_join_whole():
    assert normalize("s  e  l  l").folded == "sell"
    assert normalize("f.u.c.k  y.o.u").folded == "fuck you"


# --- 6. padding: a message cut at intake is never allowed by the fast stages alone -------------------

PADDED = "gg " * 15_000 + "you are a nigger"  # 45,000+ characters, the slur after the default cut


def _cut(text: str) -> MessageEvent:
    limit = PipelineSettings().max_text_chars
    return MessageEvent(ServerRef("test", "g1"), "c1", "m1", "u1", sanitize_text(text, limit))


class _LowScore:
    languages = frozenset({"en"})

    async def score(self, policy, event, normalized_text, *, community=None):
        return PrefilterScore(0.0, model="low")

    def thresholds_for(self, community):
        return None


class _Reasoner:
    model_name = "fn"

    def __init__(self):
        self.calls = []

    async def judge(self, request):
        self.calls.append(request)
        return violation("HT1")


def test_default_text_limit_covers_slack_messages():
    assert PipelineSettings().max_text_chars == 40_000
    assert len(PADDED) > 45_000


@pytest.mark.parametrize("prefilter", [None, _LowScore()], ids=["keywords-only", "low-prefilter-score"])
async def test_a_padded_message_cut_at_intake_is_not_allowed(policy, matcher, prefilter):
    event = _cut(PADDED)
    assert TRUNCATION_MARK in event.text
    verdict = await Judge(prefilter=prefilter).judge(event, policy, matcher)
    assert verdict.decision is not Decision.ALLOW


async def test_a_padded_message_cut_at_intake_goes_to_the_reasoner(policy, matcher):
    reasoner = _Reasoner()
    verdict = await Judge(prefilter=_LowScore(), reasoner=reasoner).judge(_cut(PADDED), policy, matcher)
    assert len(reasoner.calls) == 1
    assert verdict.decision is not Decision.ALLOW


async def test_a_long_message_within_the_limit_is_still_allowed(policy, matcher):
    event = _cut("gg " * 13_000)
    assert TRUNCATION_MARK not in event.text
    assert (await Judge().judge(event, policy, matcher)).decision is Decision.ALLOW
