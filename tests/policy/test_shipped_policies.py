"""The five shipped policies: they load, render as reasoner prompts, and their fast stages behave."""

from __future__ import annotations

import pytest

from modbot.domain.verdicts import Decision
from modbot.policy_files import load_policy, load_policy_dir
from modbot.stages.keywords import KeywordMatcher
from modbot.stages.reasoner.harmony import HarmonyCodec, PromptBuilder
from tests.conftest import REPO, event

SHIPPED = ("game-community", "spam-and-scams", "harassment-and-hate", "self-harm-support", "workplace")
BUILDER = PromptBuilder(HarmonyCodec.load())


def test_the_policies_folder_holds_all_five() -> None:
    assert {p.id for p in load_policy_dir(REPO / "policies")} == set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_renders_as_a_prompt_with_its_own_output_format(name: str) -> None:
    policy = load_policy(REPO / "policies" / f"{name}.md")
    assert BUILDER.developer_text(policy) == policy.body.strip()  # its own format: nothing appended
    request = event("hello there", context=())
    prompt = BUILDER.build(policy, request, policy.meta.reasoning_effort)
    assert list(prompt.tokens) == BUILDER.render_full(policy, request, policy.meta.reasoning_effort)
    body = policy.body
    assert body.index("JSON") < body.index("## Definitions")  # the format at the top, and at the bottom:
    assert body.rindex("## Output format") > body.rindex("## Examples")


@pytest.mark.parametrize("name", SHIPPED)
def test_act_now_rules_never_fire_on_the_benign_examples(name: str) -> None:
    policy = load_policy(REPO / "policies" / f"{name}.md")
    matcher = KeywordMatcher.build(policy)
    for example in policy.meta.examples:
        found = matcher.scan(example.text)
        if not example.violation:
            assert not found.act_now, (example.text, found.rule_ids)
        elif found.act_now:
            assert set(found.rule_ids) & set(example.rule_ids), example.text


def test_workplace_credentials_are_caught_by_the_regex_stage_and_removed() -> None:
    policy = load_policy(REPO / "policies" / "workplace.md")
    matcher = KeywordMatcher.build(policy)
    leaks = [
        "key AKIAIOSFODNN7EXAMPLE",
        "ghp_" + "a1B2c3D4e5" * 4,
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
        "-----BEGIN RSA PRIVATE KEY-----",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ]
    for text in leaks:
        found = matcher.scan(text)
        assert found.act_now and found.rule_ids == ("SE1",), text
    assert policy.decision_for(policy.rule("SE1").severity) is Decision.REMOVE
    assert not matcher.scan("rotate the AKIA key and the ghp token today").matched


def test_self_harm_support_never_deletes_times_out_or_bans() -> None:
    policy = load_policy(REPO / "policies" / "self-harm-support.md")
    decisions = {policy.decision_for(rule.severity) for _, rule in policy.rules.values()}
    assert decisions <= {Decision.ESCALATE, Decision.FLAG} and Decision.ESCALATE in decisions
