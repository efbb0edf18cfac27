"""``policy lint``: each rule triggered by a small change to a clean policy, and not triggered on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from modbot.domain.policy import Policy, parse_policy
from modbot.policy_files import load_policy
from modbot.policy_lint import INNOCENT_WORDS, lint_policy
from modbot.policy_lint.tokens import o200k_counter
from tests.conftest import REPO

FIXTURES = Path(__file__).parent / "fixtures"
#: The shipped harassment-and-hate policy lints with no error and no warning: the "not triggered" case.
CLEAN = (REPO / "policies" / "harassment-and-hate.md").read_text(encoding="utf-8")
SHIPPED = ("game-community", "spam-and-scams", "harassment-and-hate", "self-harm-support", "workplace")


def lint(text: str, source: str = "p.md") -> tuple[list[str], list[str], Policy]:
    policy = parse_policy(text, source=source)
    report = lint_policy(policy)
    return list(report.errors), list(report.warnings), policy


def changed(old: str, new: str, text: str = CLEAN) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_the_clean_policy_has_nothing_to_say_and_counts_tokens_in_o200k() -> None:
    errors, warnings, policy = lint(CLEAN)
    assert errors == [] and warnings == []
    report = lint_policy(policy)
    count = o200k_counter()
    assert report.tokens["total"] == count(policy.body)
    sections = report.tokens["sections"]
    assert {"Instruction", "Definitions", "Criteria", "Examples", "Output format"} <= set(sections)
    assert sections["Instruction"] < sections["Criteria"]
    categories = report.tokens["categories"]
    assert set(categories) == {"harassment", "hate"} and all(400 <= n <= 600 for n in categories.values())


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("## Definitions", "## Background", "missing definitions section"),
        ("## Instruction", "## Welcome", "missing instruction section"),
        ("## Criteria", "## What we judge", "missing criteria section"),
        ("## Examples", "## Some messages", "missing examples section"),
    ],
)
def test_a_missing_section_is_an_error(old: str, new: str, expected: str) -> None:
    text = changed(old, new)
    if old == "## Examples":  # the category blocks' own example lists are also examples: rename those too
        text = text.replace("Borderline examples:", "Borderline cases:")
    errors, _, _ = lint(text)
    assert any(expected in e for e in errors), errors


def test_a_missing_output_format_is_an_error_and_it_belongs_at_top_and_bottom() -> None:
    errors, _, _ = lint(changed("## Output format", "## Closing words"))
    assert any("missing output format" in e for e in errors), errors
    top = 'Answer with ONE JSON object, as the Output format section at the end says: {"violation": 0 or 1, "policy_category", "rule_ids", "confidence", "rationale"}. '
    errors, warnings, _ = lint(changed(top, ""))
    assert errors == [] and any("not stated at the top" in w for w in warnings), warnings
    errors, warnings, _ = lint(CLEAN.rstrip() + "\n\n## Notes\nThanks for moderating.\n")
    assert errors == [] and any("not stated at the bottom" in w for w in warnings), warnings


def test_a_category_block_outside_400_to_600_tokens_is_a_warning() -> None:
    start, end = CLEAN.index("Safe (does not violate):\n- Quoting"), CLEAN.index("Signals: slurs")
    errors, warnings, _ = lint(CLEAN[:start] + CLEAN[end:])
    assert errors == [] and any("category 'hate': its block is" in w and "400–600" in w for w in warnings), warnings
    errors, warnings, _ = lint(changed("### hate: Hate against protected groups", "### hate: Hate\n" + "More words. " * 200))
    assert any("category 'hate': its block is" in w for w in warnings)


def test_vague_words_are_warnings_unless_the_definitions_define_them() -> None:
    vague = changed("Violates:\n- **HA1**", "Messages that are generally inappropriate violate.\n\nViolates:\n- **HA1**")
    _, warnings, _ = lint(vague)
    assert any("'generally'" in w for w in warnings) and any("'inappropriate'" in w for w in warnings), warnings
    defined = changed("- **Banter**:", "- **Inappropriate**: an insult aimed at a person.\n- **Banter**:", vague)
    _, warnings, _ = lint(defined)
    assert any("'generally'" in w for w in warnings) and not any("'inappropriate'" in w for w in warnings)
    # Words inside quoted example messages are the members' words, not the policy's.
    _, warnings, _ = lint(changed('- "lmao you\'re so bad', '- "usually you\'re so bad'))
    assert not any("'usually'" in w for w in warnings)


def test_rule_ids_referenced_but_undefined_are_errors_and_undescribed_rules_warnings() -> None:
    errors, _, _ = lint(changed("rallying others to pile on.", "rallying others to pile on (see also HA9)."))
    assert any("rule id HA9 is referenced but not defined" in e for e in errors), errors
    extra_rule = '[[categories.rules]]\nid = "HT4"\ndescription = "Hate symbols in names"\nseverity = "high"\n\n'
    _, warnings, _ = lint(changed("[[examples]]", extra_rule + "[[examples]]"))
    assert any("rule HT4 is never described in the body" in w for w in warnings)


def test_a_category_without_examples_is_a_warning() -> None:
    category = (
        '[[categories]]\nid = "doxxing"\ntitle = "Doxxing"\n[[categories.rules]]\nid = "DX1"\n'
        'description = "Posting private information"\nseverity = "high"\n\n'
    )
    block = "### doxxing: Doxxing\n- **DX1** (high): posting someone's address.\n\n## Examples"
    _, warnings, _ = lint(changed("## Examples", block, changed("[[examples]]", category + "[[examples]]")))
    assert any("category 'doxxing' has no examples" in w for w in warnings), warnings
    assert not any("category 'hate' has no examples" in w for w in warnings)


def test_keywords_hitting_innocent_words_warn_and_are_errors_on_act_now_rules() -> None:
    assert {"Scunthorpe", "assassin", "classic", "cocktail", "therapist", "grape", "Essex", "Sussex"} <= set(INNOCENT_WORDS)
    regex = "regexes = ['cock', 'rape', 'rapist']\n"
    text = changed('keywords = ["send nudes"', regex + 'keywords = ["send nudes"')
    errors, warnings, _ = lint(text)
    assert errors == []
    hits = " ".join(w for w in warnings if "Scunthorpe" in w)
    assert "'cocktail'" in hits and "'grape'" in hits and "'therapist'" in hits and "HA2" in hits
    errors, _, _ = lint(text.replace(regex, regex + "act_on_match = true\n"))
    assert any("'cocktail'" in e and "acts at once" in e for e in errors), errors


def test_self_harm_rules_must_never_punish() -> None:
    text = (REPO / "policies" / "self-harm-support.md").read_text(encoding="utf-8")
    errors, _, _ = lint(text)
    assert errors == []
    errors, _, _ = lint(changed('support = "escalate"', 'support = "remove_and_timeout"', text))
    assert any("SH1" in e and "person at risk" in e for e in errors), errors


def test_a_plain_policy_lints_too() -> None:
    policy = load_policy(FIXTURES / "scam-policy.txt")
    report = lint_policy(policy)
    assert report.errors == ()
    assert any("no keywords or regexes" in w for w in report.warnings)
    assert "scam" in report.tokens["categories"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_policy_passes_lint_with_no_errors(name: str) -> None:
    report = lint_policy(load_policy(REPO / "policies" / f"{name}.md"))
    assert report.errors == (), report.errors
    assert report.warnings == (), report.warnings  # written to the guide: 400–600 tokens per category block
