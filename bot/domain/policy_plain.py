"""Plain policies: a Markdown or text policy without front matter, used as is (bring your own policy).

gpt-oss-safeguard's own example policies are plain documents (``Spam Policy (#SP)``, ``SP0``–``SP4``
headings, ``SP2.a`` items). Such a document is accepted unchanged: the whole text is the body the reasoner
reads, and the structure the rest of the bot needs is inferred from it:

* the **id** from the file name's stem (or the caller's ``default_id``; stored versions keep theirs), the
  **title** from the first heading (or first line);
* **rule ids** from codes in defining positions: a code (``SP0``, ``HA1``: one to four capitals and digits)
  that starts a line (``SP0.a Useful ...``, ``- **HA1** ...``), that a Markdown heading holds, or that a
  short heading-like line holds in parentheses (``Likely Spam (SP2 – Medium Confidence)``). Sub-codes
  (``SP0.a``) belong to their code. Codes merely mentioned in a sentence define nothing;
* **categories** by code prefix (``SP``), named by the line that declares the prefix (``Spam Policy (#SP)``
  -> ``spam``), else by the nearest Markdown heading above the first code, else the prefix itself; a
  document without codes gets one category named after the policy and one rule, ``violation``;
* **no keywords or regexes**: the fast stages pass every message on until the policy adds front matter;
* every rule gets the severity ``review``, whose action is ``flag``: a moderator decides until the policy
  says otherwise (front matter with ``[actions]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath

from modbot.domain.policy_model import Policy, PolicyError, PolicyMeta, policy_version
from modbot.domain.verdicts import Decision

__all__ = ["PLAIN_SEVERITY", "parse_plain_policy", "slug"]

#: The one severity of an inferred rule; its action is ``flag`` (a human decides).
PLAIN_SEVERITY = "review"
#: The rule of a plain policy that has no codes.
FALLBACK_RULE = "violation"

_CODE = r"[A-Z]{1,4}[0-9]{1,3}"
_LEAD_CODE = re.compile(rf"^[^A-Za-z0-9]*?({_CODE})(?:\.[A-Za-z0-9]{{1,4}})?(?![A-Za-z0-9])")
_PAREN_CODE = re.compile(rf"\(\s*#?({_CODE})(?![A-Za-z0-9])")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HEADING_CODE = re.compile(rf"(?<![A-Za-z0-9-])({_CODE})(?![A-Za-z0-9])")
_PREFIX_DECLARATION = re.compile(r"[(\[]\s*#?([A-Z]{1,4})\s*[)\]]")
_LETTERS = re.compile(r"^[A-Z]+")
_SYMBOLS = re.compile(r"^[^\w(\"“']+|[^\w)\"”'.!?]+$")
_HEADING_LIKE_CHARS = 120


def slug(text: str, limit: int = 64) -> str:
    """``"Spam Policy"`` -> ``"spam-policy"``: lowercase letters, digits and '-', as policy and category ids are."""
    value = re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")
    return value[:limit].strip("-")


def _clean(line: str) -> str:
    """A line as a title: no Markdown markers, emoji or bullets at either end, single spaces."""
    match = _HEADING.match(line)
    text = match.group(2) if match else line
    text = text.replace("**", "").replace("__", "").replace("`", "")
    return re.sub(r"\s+", " ", _SYMBOLS.sub("", text.strip())).strip()


@dataclass
class _Group:
    """The codes of one prefix and what names their category."""

    prefix: str
    first_line: int
    rules: dict[str, str] = field(default_factory=dict)  # code -> description, in order of appearance
    declared: str = ""  # the line declaring the prefix ("Spam Policy (#SP)")
    heading: str = ""  # the nearest Markdown heading above the first code


def _description(line: str, code: str) -> str:
    """``"Likely Spam (SP2 – Medium Confidence)"`` -> ``"Likely Spam – Medium Confidence"``."""
    text = re.sub(rf"{code}(?:\.[A-Za-z0-9]{{1,4}})?", " ", line, count=1).replace("(", " ").replace(")", " ")
    text = re.sub(r"\s+[–-]\s+(?:[–-]\s+)?", " – ", _clean(text))
    text = re.sub(r"\s+", " ", text).strip(" -–:")
    return text or f"Rule {code}"


def _defined_codes(line: str) -> list[str]:
    """The codes this line defines (see the module docstring), first one first."""
    codes: list[str] = []
    lead = _LEAD_CODE.match(line)
    if lead:
        codes.append(lead.group(1))
    if _HEADING.match(line):
        codes += _HEADING_CODE.findall(line)
    elif len(line.strip()) <= _HEADING_LIKE_CHARS:
        codes += _PAREN_CODE.findall(line)
    return list(dict.fromkeys(codes))


def _category_name(group: _Group) -> tuple[str, str]:
    """(id, title) of a group's category."""
    for text, is_heading in ((group.declared, False), (group.heading, True)):
        if not text:
            continue
        title = _clean(_PREFIX_DECLARATION.sub("", text)) if not is_heading else _clean(text)
        if is_heading and ":" in title:  # "### cheats: Cheats and exploits"
            head, _, rest = title.partition(":")
            if slug(head) and rest.strip():
                return slug(head), rest.strip()
        name = re.sub(r"\b(?:polic(?:y|ies)|rules?)\b", "", title, flags=re.IGNORECASE).strip(" -–:")
        if slug(name):
            return slug(name), name
    return group.prefix.lower(), group.prefix


def _title(lines: list[str]) -> str:
    for line in lines:
        if _HEADING.match(line):
            return _clean(line)[:200]
    first = next((line for line in lines if _clean(line)), "")
    return _clean(first)[:200] or "Untitled policy"


def _groups(lines: list[str]) -> list[_Group]:
    groups: dict[str, _Group] = {}
    declarations: dict[str, str] = {}
    last_heading = ""
    for number, line in enumerate(lines):
        heading = _HEADING.match(line)
        codes = _defined_codes(line)
        if len(line.strip()) <= _HEADING_LIKE_CHARS:
            for prefix in _PREFIX_DECLARATION.findall(line):
                declarations.setdefault(prefix, line)
        for code in codes:
            prefix = _LETTERS.match(code).group(0)  # type: ignore[union-attr]
            group = groups.setdefault(code_prefix := prefix, _Group(code_prefix, number, heading=last_heading))
            description = _description(line, code)
            group.rules.setdefault(code, description[:300])
        if heading and not codes:
            last_heading = line
    for prefix, group in groups.items():
        group.declared = declarations.get(prefix, "")
    return sorted(groups.values(), key=lambda g: g.first_line)


def parse_plain_policy(text: str, *, source: str = "<policy>", default_id: str | None = None) -> Policy:
    """Accept a policy without front matter as is, inferring its id, title, categories and rule ids."""
    lines = text.splitlines()
    title = _title(lines)
    stem = PurePath(source).stem if source and not source.startswith("<") else ""
    policy_id = default_id or slug(stem) or slug(title) or "policy"
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", policy_id):
        policy_id = slug(policy_id) or "policy"
    categories: list[dict[str, object]] = []
    used: set[str] = set()
    for group in _groups(lines):
        category_id, category_title = _category_name(group)
        while category_id in used:
            category_id = f"{category_id}-{group.prefix.lower()}"
        used.add(category_id)
        rules = [{"id": code, "description": desc, "severity": PLAIN_SEVERITY} for code, desc in group.rules.items()]
        categories.append({"id": category_id, "title": category_title, "rules": rules})
    if not categories:
        name = re.sub(r"\b(?:polic(?:y|ies)|rules?)\b", "", title, flags=re.IGNORECASE).strip(" -–:")
        categories.append(
            {
                "id": slug(name) or policy_id,
                "title": name or title,
                "rules": [{"id": FALLBACK_RULE, "description": f"Breaks {title}", "severity": PLAIN_SEVERITY}],
            }
        )
    meta = PolicyMeta.model_validate(
        {"id": policy_id, "title": title, "actions": {PLAIN_SEVERITY: Decision.FLAG.value}, "categories": categories}
    )
    if not text.strip():
        raise PolicyError("the policy document is empty", source=source, line=1)
    body = text.strip("\r\n")
    return Policy(meta=meta, body=body, version=policy_version(text), source=source, text=text, plain=True)
