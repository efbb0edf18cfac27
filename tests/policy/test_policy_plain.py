"""Plain policies (no front matter), as gpt-oss-safeguard's example policies are written: used as is."""

from __future__ import annotations

from pathlib import Path

import pytest

from modbot.domain import ServerRef
from modbot.domain.commands import Invoker, PolicyUpload, PolicyUse
from modbot.domain.policy import PolicyError, parse_policy
from modbot.domain.verdicts import Decision
from modbot.policy_files import load_policy, load_policy_dir
from modbot.stages.keywords import KeywordMatcher
from modbot.stages.reasoner.harmony import HarmonyCodec, PromptBuilder
from tests.conftest import SHARED_DATA, event

FIXTURES = Path(__file__).parent / "fixtures"
SPAM_POLICY = SHARED_DATA / "oss-safeguard-spam-policy.txt"
A = ServerRef("test", "g1")
MOD = Invoker(A, "mod", platform_moderator=True)


def test_a_plain_policy_is_read_unchanged_and_its_structure_inferred() -> None:
    path = FIXTURES / "scam-policy.txt"
    policy = load_policy(path)
    text = path.read_text(encoding="utf-8")
    assert policy.plain and policy.text == text and policy.body == text.strip("\r\n")
    assert policy.id == "scam-policy"  # the file name's stem
    assert policy.meta.title == "Scam Policy (#SC)"
    [category] = policy.meta.categories
    assert category.id == "scam" and category.title == "Scam"  # named by the line declaring "#SC"
    # Codes in defining positions only: sub-codes (SC0.a) fold into SC0, "D-S2" in the table and "SC3 or
    # higher" in a sentence define nothing.
    assert [rule.id for rule in category.rules] == ["SC0", "SC2", "SC3"]
    assert category.rules[1].description == "Likely Scam – Medium Confidence"
    assert all(not rule.keywords and not rule.regexes for rule in category.rules)
    assert policy.decision_for(category.rules[0].severity) is Decision.FLAG


def test_the_fast_stages_get_no_keywords_and_the_reasoner_reads_the_body() -> None:
    policy = load_policy(FIXTURES / "scam-policy.txt")
    assert KeywordMatcher.build(policy).scan("Send 1 BTC, get 2 back. Log in at dlscord-gift.com").hits == ()
    builder = PromptBuilder(HarmonyCodec.load())
    developer = builder.developer_text(policy)
    assert developer.startswith(policy.body)  # unchanged, with the answer format appended after it
    assert '"SC2"' in developer and "## Output format" in developer
    assert len(builder.build(policy, event("You won! DM me to claim.")).tokens) > 200


def test_markdown_headings_and_codes_make_categories() -> None:
    text = (
        "# House rules\n\n## Instruction\nJudge the message.\n\n## Criteria\n"
        "### cheats: Cheats and exploits\n- **CH1** (high): selling cheats.\n- **CH2**: sharing cheats.\n"
        "### Scams\n- **SC1**: phishing links. See CH1 for cheats.\n"
    )
    policy = parse_policy(text, source="servers/house.md")
    assert policy.id == "house" and policy.meta.title == "House rules"
    assert [(c.id, c.title, [r.id for r in c.rules]) for c in policy.meta.categories] == [
        ("cheats", "Cheats and exploits", ["CH1", "CH2"]),
        ("scams", "Scams", ["SC1"]),
    ]


def test_a_plain_policy_without_codes_gets_one_rule_and_a_given_id_wins() -> None:
    policy = parse_policy("Be kind policy\n\nDo not insult people.\n", source="<upload>", default_id="be-kind")
    assert policy.id == "be-kind"
    assert [(c.id, [r.id for r in c.rules]) for c in policy.meta.categories] == [("be-kind", ["violation"])]
    with pytest.raises(PolicyError, match="empty"):
        parse_policy("  \n\n", source="x.txt")


def test_a_folder_may_hold_plain_policies_next_to_front_matter_ones(tmp_path: Path) -> None:
    (tmp_path / "scams.txt").write_text((FIXTURES / "scam-policy.txt").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "README.md").write_text("# not a policy\n", encoding="utf-8")
    assert [(p.id, p.plain) for p in load_policy_dir(tmp_path)] == [("scams", True)]


@pytest.mark.data
@pytest.mark.skipif(not SPAM_POLICY.is_file(), reason="../shared/data/oss-safeguard-spam-policy.txt is not here")
def test_the_real_oss_safeguard_spam_policy_is_accepted() -> None:
    policy = load_policy(SPAM_POLICY)
    assert policy.plain and policy.id == "oss-safeguard-spam-policy" and policy.text == SPAM_POLICY.read_text("utf-8")
    assert [c.id for c in policy.meta.categories] == ["spam"]
    assert list(policy.rules) == ["SP0", "SP2", "SP3", "SP4"]  # the document has no SP1


async def test_an_uploaded_plain_policy_is_stored_and_read_back_with_its_id(tmp_path: Path) -> None:
    from modbot.app import build_services
    from tests.conftest import make_settings

    services = await build_services(make_settings(tmp_path), reasoner=None, prefilter=None)
    try:
        text = (FIXTURES / "scam-policy.txt").read_text(encoding="utf-8")
        reply = await services.moderators.execute(MOD, PolicyUpload(text, "scam-rules.txt", activate=False))
        assert reply.ok, reply.text
        assert (await services.policies.get(A)).id == "test-policy"  # stored, not in use
        assert (await services.moderators.execute(MOD, PolicyUse("scam-rules"))).ok
        active = await services.policies.get(A)
        # Read back from the database: the plain text carries no id, the stored one is kept.
        stored = await services.storage.policies.active_policy(A)
        assert stored is not None and stored.id == active.id == "scam-rules" and stored.plain
        assert stored.version == active.version and stored.text == text
    finally:
        await services.close()
