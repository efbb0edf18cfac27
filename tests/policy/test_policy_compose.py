"""Composition: a server policy ``extends`` a shipped one; the effective policy is one stored version."""

from __future__ import annotations

from pathlib import Path

import pytest

from modbot.domain import ServerRef
from modbot.domain.commands import Invoker, PolicyUpload
from modbot.domain.policy import PolicyError, parse_policy
from modbot.domain.verdicts import Decision
from modbot.policy_files import load_policy, load_policy_dir
from tests.conftest import REPO, event
from tests.support.scripted import ScriptedReasoner, by_keyword

FIXTURES = Path(__file__).parent / "fixtures"
GAME = load_policy(REPO / "policies" / "game-community.md")
BASES = {GAME.id: GAME}
A = ServerRef("test", "g1")
MOD = Invoker(A, "mod", platform_moderator=True)


def child() -> str:
    return (FIXTURES / "server-extends.md").read_text(encoding="utf-8")


def test_overrides_replace_what_they_set_and_inherit_the_rest() -> None:
    policy = parse_policy(child(), source="pixel.md", bases=BASES)
    assert policy.id == "pixel-server" and policy.extends == "game-community"
    assert policy.meta.title == "Pixel server rules"
    assert policy.meta.description == GAME.meta.description  # unset: inherited
    # [actions] merged per severity.
    assert policy.meta.actions["medium"] is Decision.FLAG and policy.meta.actions["high"] is GAME.meta.actions["high"]
    # A rule's fields replaced one by one, the rest of it inherited.
    ch2, base_ch2 = policy.rule("CH2"), GAME.rule("CH2")
    assert ch2.severity == "low" and ch2.keywords == ("aimbot", "wallhack")
    assert ch2.regexes == base_ch2.regexes and ch2.description == base_ch2.description
    assert policy.rule("CH1") == GAME.rule("CH1")
    # A category removed, one added; examples added to the base's (the removed rules' examples dropped).
    ids = [c.id for c in policy.meta.categories]
    assert "boosting" not in ids and ids[-1] == "promo" and policy.category_of("PR1") == "promo"
    base_examples = [e for e in GAME.meta.examples if not {"BO1", "BO2"} & set(e.rule_ids)]
    assert list(policy.meta.examples) == [*base_examples, policy.meta.examples[-1]]
    assert policy.meta.examples[-1].rule_ids == ("PR1",)


def test_the_own_body_goes_before_the_base_output_format() -> None:
    policy = parse_policy(child(), source="pixel.md", bases=BASES)
    body = policy.body
    assert body.startswith(GAME.body[:200])
    assert body.index("### promo: Self-promotion") < body.rindex("## Output format")
    assert body.rstrip().endswith(GAME.body.rstrip()[-200:])


def test_the_effective_document_is_what_is_hashed_and_parses_alone() -> None:
    policy = parse_policy(child(), source="pixel.md", bases=BASES)
    assert policy.text.startswith("+++\n# Effective policy pixel-server: game-community (sha256:")
    again = parse_policy(policy.text, source="db")  # as the store reads it back: no bases needed
    assert again.version == policy.version and again.meta == policy.meta and again.body == policy.body
    # Same child, same base: same version. A change to the base is a new effective version.
    assert parse_policy(child(), source="other-name.md", bases=BASES).version == policy.version
    changed = parse_policy(GAME.text.replace("gaming community", "gaming  community", 1), source="g.md")
    assert parse_policy(child(), source="pixel.md", bases={GAME.id: changed}).version != policy.version


def test_extends_of_an_unknown_policy_names_the_line() -> None:
    with pytest.raises(PolicyError, match="'nope' is not a shipped policy") as caught:
        parse_policy(child().replace('extends = "game-community"', 'extends = "nope"'), source="p.md", bases=BASES)
    assert caught.value.line == 3


def test_a_merged_mistake_is_reported_on_the_child() -> None:
    broken = child().replace('severity = "low"\nkeywords', 'severity = "extreme"\nkeywords')
    with pytest.raises(PolicyError, match="extreme") as caught:
        parse_policy(broken, source="p.md", bases=BASES)
    assert caught.value.source == "p.md"
    with pytest.raises(PolicyError, match="actions must be a table"):
        parse_policy(child().replace("[actions]\nmedium", "actions = 1\n[x]\nmedium"), source="p.md", bases=BASES)


def test_a_folder_loads_a_policy_after_the_one_it_extends(tmp_path: Path) -> None:
    (tmp_path / "a-pixel.md").write_text(child(), encoding="utf-8")  # sorts before its base
    (tmp_path / "game-community.md").write_text(GAME.text, encoding="utf-8")
    loaded = {p.id: p for p in load_policy_dir(tmp_path)}
    assert loaded["pixel-server"].extends == "game-community" and "game-community" in loaded


async def test_an_upload_that_extends_is_stored_as_its_effective_version_and_verdicts_point_at_it(tmp_path) -> None:
    from modbot.app import build_services
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    (settings.policy_dir / "game-community.md").write_text(GAME.text, encoding="utf-8")
    services = await build_services(
        settings, reasoner=ScriptedReasoner(by_keyword({"join my server": "PR1"})), prefilter=None
    )
    await services.start()
    try:
        reply = await services.moderators.execute(MOD, PolicyUpload(child(), "pixel.md", activate=True))
        assert reply.ok, reply.text
        fields = dict(reply.fields)
        assert fields["Extends"] == "game-community"
        expected = parse_policy(child(), source="pixel.md", bases=BASES)
        assert fields["Version"] == expected.version
        stored = await services.storage.policies.find_policy(A, expected.version)
        assert stored is not None and stored.policy.text == expected.text  # one version: the effective text
        await services.pipeline.submit(event("join my server, we have cookies", server=A))
        await services.pipeline.drain(5)
        [case] = (await services.storage.cases.list_cases(A)).cases
        assert case.verdict.policy_version == expected.version and case.verdict.rule_ids == ("PR1",)
    finally:
        await services.close()


def test_a_file_that_extends_finds_the_shipped_policies_by_itself() -> None:
    policy = load_policy(FIXTURES / "server-extends.md")  # as `policy test`, `classify` and `eval` load it
    assert policy.extends == "game-community" and policy.rule("PR1") is not None


def test_a_policy_that_extends_needs_its_own_id() -> None:
    with pytest.raises(PolicyError, match="needs an id of its own"):
        parse_policy(child().replace('id = "pixel-server"\n', ""), source="p.md", bases=BASES)
