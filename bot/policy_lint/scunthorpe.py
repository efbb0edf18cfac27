"""Scunthorpe checks: innocent words a policy's own keyword and regex matcher must not flag."""

from __future__ import annotations

from dataclasses import dataclass

from modbot.domain.policy import Policy
from modbot.stages.keywords import KeywordMatcher

__all__ = ["INNOCENT_WORDS", "InnocentHit", "innocent_hits"]

#: Words and phrases with an innocent reading that naive filters block (the "Scunthorpe problem").
INNOCENT_WORDS: tuple[str, ...] = (
    "Scunthorpe", "Penistone", "Cockburn", "Middlesex", "Essex", "Sussex", "Dickens", "Hancock", "Arsenal",
    "assassin", "assume", "passage", "pass", "compass", "bass",
    "classic", "class", "cocktail", "cockpit", "peacock", "therapist", "grape", "grapefruit",
    "butterscotch", "shitake", "shiitake", "analysis", "analyst", "document",
    "skill", "skilled", "skillet", "spice", "conspicuous", "raccoon", "cocoon", "snigger", "title",
    "cumulative", "circumstance", "kumquat", "homework", "shell", "hello", "scrap", "Matsushita",
    "massive", "assessment", "grass", "passion", "glass", "sextant",
    "free kick", "kill the process", "shoot the photo", "execute the plan", "cracking joke",
)


@dataclass(frozen=True, slots=True)
class InnocentHit:
    """An innocent word that one rule's keyword or regex matches."""

    word: str
    rule_id: str
    term: str
    act_on_match: bool


def innocent_hits(policy: Policy, words: tuple[str, ...] = INNOCENT_WORDS) -> list[InnocentHit]:
    """Run the policy's own matcher (as the keyword stage builds it) over each innocent word."""
    matcher = KeywordMatcher.build(policy)
    hits: list[InnocentHit] = []
    for word in words:
        for hit in matcher.scan(word).hits:
            hits.append(InnocentHit(word, hit.rule_id, hit.term, hit.act_on_match))
    return hits
