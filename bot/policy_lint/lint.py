"""``modbot policy lint``: check a policy against gpt-oss-safeguard's policy guide before it goes live.

Errors (the policy should not be used as it is): a missing Instruction, Definitions, Criteria, Examples
or Output format section; a rule id the body refers to that no rule defines; a keyword or regex of an
act-now rule that matches an innocent word. Warnings: a category block outside 400–600 o200k tokens;
the output format not stated at both the top and the bottom; vague words ("generally", "usually",
"inappropriate") that the Definitions do not define; a category without examples; a rule the body never
describes; a keyword or regex that matches an innocent word (Scunthorpe checks).
"""

from __future__ import annotations

import re

from modbot.domain.lint import LintReport
from modbot.domain.policy import Policy
from modbot.domain.verdicts import Decision
from modbot.policy_lint.scunthorpe import innocent_hits
from modbot.policy_lint.sections import REQUIRED, Section, find_kind, sections
from modbot.policy_lint.tokens import TokenCounter, o200k_counter

__all__ = ["BLOCK_TOKENS", "VAGUE_WORDS", "lint_policy"]

#: The guide's sweet spot for one category's block, in o200k tokens.
BLOCK_TOKENS = (400, 600)
#: Words the guide warns about: they leave the model to guess where the line is.
VAGUE_WORDS = (
    "generally", "usually", "typically", "normally", "often", "sometimes", "in most cases", "inappropriate",
    "offensive", "objectionable", "unacceptable",
)

_QUOTED = re.compile(r"“[^”\n]*”|\"[^\"\n]*\"|‘[^’\n]*’")
_CODE = re.compile(r"(?<![A-Za-z0-9-])([A-Z]{1,4})([0-9]{1,3})(?![A-Za-z0-9])")
#: What stating the answer format looks like (JSON keys, a 0/1 or VALID/INVALID label, "output format").
_FORMAT_WORDS = re.compile(
    r"\b(?:json|output format|answer format|label format|0 or 1|0/1|valid|invalid)\b|\"violation\"", re.IGNORECASE
)
_AT_RISK = re.compile(r"self.?harm|suicid", re.IGNORECASE)
_EXAMPLE_LINE = re.compile(r"^\W*examples?\b", re.IGNORECASE | re.MULTILINE)


def _line_of(body: str, index: int) -> int:
    return body.count("\n", 0, index) + 1


def _structure(policy: Policy, found: list[Section], errors: list[str], warnings: list[str]) -> None:
    body = policy.body
    for kind in REQUIRED:
        if find_kind(found, kind):
            continue
        if kind == "examples" and _EXAMPLE_LINE.search(body):
            continue
        what = "output format (say exactly how to answer)" if kind == "output format" else f"{kind} section"
        errors.append(
            f"missing {what}: the guide asks for Instruction, Definitions, Criteria, Examples and Output format"
        )
    outputs = find_kind(found, "output format")
    if not outputs:
        return
    instruction = find_kind(found, "instruction")
    top = instruction[0].own if instruction else body[: max(1, len(body) // 4)]
    if outputs[0].line > _line_of(body, len(top)) and not _FORMAT_WORDS.search(top):
        warnings.append("the output format is not stated at the top (say it in the Instruction too)")
    last = outputs[-1]
    later = [s for s in found if s.line > last.line and s.level <= last.level]
    if later:
        warnings.append(
            f"the output format is not stated at the bottom: line {later[-1].line} "
            f"({later[-1].heading!r}) comes after it"
        )


def _category_blocks(policy: Policy, found: list[Section]) -> dict[str, list[Section]]:
    """Each category's block(s) in the body: headed by its id or title, or (plain) by one of its rule codes."""
    blocks: dict[str, list[Section]] = {}
    for category in policy.meta.categories:
        names = [category.id.casefold(), category.title.casefold()]
        codes = [rule.id for rule in category.rules]
        mine = []
        required = {id(s) for kind in REQUIRED for s in find_kind(found, kind)}
        for section in found:
            if section.level < 2 or (id(section) in required and not policy.plain):
                continue  # the title and the guide's own sections are never one category's block
            heading = section.heading.casefold()
            named = any(re.match(rf"\W*{re.escape(n)}(?![a-z0-9-])", heading) for n in names if n)
            coded = policy.plain and any(
                re.search(rf"(?<![A-Za-z0-9]){re.escape(c)}(?![0-9])", section.heading) for c in codes
            )
            if named or coded:
                mine.append(section)
        deepest = max((s.level for s in mine), default=0)
        blocks[category.id] = [s for s in mine if s.level == deepest or policy.plain]
    return blocks


def _tokens(
    policy: Policy, found: list[Section], count: TokenCounter, warnings: list[str]
) -> dict[str, object]:
    per_section: dict[str, int] = {}
    for section in found:
        key, n = section.heading, 2
        while key in per_section:
            key, n = f"{section.heading} ({n})", n + 1
        per_section[key] = count(section.text)
    per_category: dict[str, int] = {}
    low, high = BLOCK_TOKENS
    for category_id, blocks in _category_blocks(policy, found).items():
        if not blocks:
            warnings.append(f"category {category_id!r} has no block of its own in the body (a heading naming it)")
            continue
        tokens = sum(count(block.text if not policy.plain else block.own) for block in blocks)
        per_category[category_id] = tokens
        if not low <= tokens <= high:
            warnings.append(
                f"category {category_id!r}: its block is {tokens} tokens; the guide's sweet spot is {low}–{high}"
            )
    total = count(policy.body)
    if not per_category and not low <= total <= high:
        warnings.append(f"the policy is {total} tokens; the guide's sweet spot is {low}–{high}")
    return {"total": total, "sections": per_section, "categories": per_category}


def _vague(policy: Policy, found: list[Section], warnings: list[str]) -> None:
    definitions = " ".join(s.text for s in find_kind(found, "definitions")).casefold()
    text = _QUOTED.sub(lambda m: " " * len(m.group(0)), policy.body)  # quoted examples may say anything
    for word in VAGUE_WORDS:
        matches = list(re.finditer(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text, re.IGNORECASE))
        if matches and word not in definitions:
            lines = ", ".join(str(_line_of(policy.body, m.start())) for m in matches[:5])
            warnings.append(f"vague word {word!r} (body line {lines}) is not defined: say exactly what it covers")


def _references(policy: Policy, errors: list[str], warnings: list[str]) -> None:
    defined = set(policy.rules)
    prefixes = {m.group(1) for rule_id in defined if (m := _CODE.fullmatch(rule_id))}
    reported: set[str] = set()
    for match in _CODE.finditer(policy.body):
        code = match.group(0)
        if match.group(1) in prefixes and code not in defined and code not in reported:
            reported.add(code)
            line = _line_of(policy.body, match.start())
            errors.append(f"body line {line}: rule id {code} is referenced but not defined")
    if policy.plain:
        return
    for rule_id in sorted(defined):
        if not re.search(rf"(?<![A-Za-z0-9]){re.escape(rule_id)}(?![A-Za-z0-9])", policy.body):
            warnings.append(f"rule {rule_id} is never described in the body: the reasoner cannot know it")


def _examples(policy: Policy, warnings: list[str]) -> None:
    labelled = {rid for example in policy.meta.examples for rid in example.rule_ids}
    quoted_lines = [line for line in policy.body.splitlines() if _QUOTED.search(line)]
    for category in policy.meta.categories:
        ids = {rule.id for rule in category.rules}
        in_body = any(
            re.search(rf"(?<![A-Za-z0-9-]){re.escape(name)}(?![A-Za-z0-9-])", line)
            for line in quoted_lines
            for name in (*ids, category.id)
        )
        if not (ids & labelled) and not in_body:
            warnings.append(f"category {category.id!r} has no examples (none in [[examples]], none in the body)")


def _scunthorpe(policy: Policy, errors: list[str], warnings: list[str]) -> None:
    for hit in innocent_hits(policy):
        message = f"rule {hit.rule_id}: {hit.term!r} matches the innocent {hit.word!r} (Scunthorpe check)"
        if hit.act_on_match:
            errors.append(message + "; the rule acts at once, so innocent messages would be removed")
        else:
            warnings.append(message)


def _support_never_punishes(policy: Policy, errors: list[str]) -> None:
    """A self-harm or suicide rule gets the member help: it may flag or escalate, never remove or time out."""
    for category in policy.meta.categories:
        if not _AT_RISK.search(f"{category.id} {category.title}"):
            continue
        for rule in category.rules:
            decision = policy.decision_for(rule.severity)
            if decision in (Decision.REMOVE, Decision.REMOVE_AND_TIMEOUT):
                errors.append(
                    f"rule {rule.id} ({category.id}) would {decision.value} the message of a person at risk: "
                    "give its severity the action escalate or flag (support, never punish)"
                )


def lint_policy(policy: Policy, *, count: TokenCounter | None = None) -> LintReport:
    """Lint a loaded policy (a plain one, a composed one or a front-matter one)."""
    count = count or o200k_counter()
    errors: list[str] = []
    warnings: list[str] = []
    found = sections(policy.body, plain=policy.plain)
    _structure(policy, found, errors, warnings)
    tokens = _tokens(policy, found, count, warnings)
    _vague(policy, found, warnings)
    _references(policy, errors, warnings)
    _examples(policy, warnings)
    _scunthorpe(policy, errors, warnings)
    _support_never_punishes(policy, errors)
    if policy.plain and not any(rule.keywords or rule.regexes for _, rule in policy.rules.values()):
        warnings.append(
            "no keywords or regexes (a plain policy): the fast stages pass every message on; "
            "add front matter to give them some"
        )
    return LintReport(policy.source, tuple(errors), tuple(warnings), tokens)
