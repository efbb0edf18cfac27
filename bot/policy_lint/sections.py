"""A policy body cut into sections by its headings, and the sections the safeguard guide asks for.

Headings are Markdown headings (``## Criteria``) and, for plain policies, the heading-like lines such
documents use: a line in capitals (``DEFINITIONS``, ``LABEL FORMAT``), a capital word before a colon
(``GOAL: ...``), or a short line opening with a symbol (``✅ Allowed Content (SP0 – ...)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["REQUIRED", "Section", "find_kind", "sections"]

_MARKDOWN = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_CAPS_LINE = re.compile(r"^\s*([A-Z][A-Z0-9 &/,()'-]{2,60}?)\s*:?\s*$")
_CAPS_LABEL = re.compile(r"^\s*([A-Z]{3,}(?: [A-Z]{2,}){0,3}):\s+\S")
_SYMBOL_LINE = re.compile(r"^\s*[^\w\s\"“'|>*#(\[-]{1,3}\s*([A-Za-z].{2,110})$")

#: kind -> what a heading of that kind may be called (casefolded, matched as words at its start or inside).
REQUIRED: dict[str, tuple[str, ...]] = {
    "instruction": ("instruction", "instructions", "goal", "task", "purpose", "objective", "overview"),
    "definitions": ("definition", "definitions", "key terms", "glossary", "terms"),
    "criteria": (
        "criteria", "violates", "violations", "violating", "allowed", "not allowed", "safe", "prohibited",
        "rules", "what counts",
    ),
    "examples": ("example", "examples"),
    "output format": ("output format", "output", "label format", "response format", "answer format"),
}


@dataclass(frozen=True, slots=True)
class Section:
    """One heading and the text under it, up to the next heading of the same or a higher level."""

    heading: str
    level: int
    line: int  # 1-based line of the heading in the body
    text: str  # the heading line and everything under it (sub-sections included)
    own: str  # the heading line and the text before its first sub-heading


def _heading(line: str, plain: bool) -> tuple[int, str] | None:
    match = _MARKDOWN.match(line)
    if match:
        return len(match.group(1)), match.group(2).strip()
    if not plain:
        return None
    for pattern, level in ((_CAPS_LINE, 2), (_CAPS_LABEL, 2), (_SYMBOL_LINE, 3)):
        found = pattern.match(line)
        if found and any(c.isalpha() for c in found.group(1)):
            return level, found.group(1).strip()
    return None


def sections(body: str, *, plain: bool = False) -> list[Section]:
    """The body's sections, in order (a preamble before the first heading is not one)."""
    lines = body.splitlines()
    heads = [(i, *h) for i, line in enumerate(lines) if (h := _heading(line, plain))]
    out: list[Section] = []
    for n, (i, level, heading) in enumerate(heads):
        end = next((j for j, lvl, _ in heads[n + 1 :] if lvl <= level), len(lines))
        own_end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        out.append(
            Section(
                heading=heading,
                level=level,
                line=i + 1,
                text="\n".join(lines[i:end]),
                own="\n".join(lines[i:own_end]),
            )
        )
    return out


def find_kind(found: list[Section], kind: str) -> list[Section]:
    """The sections whose heading names ``kind`` (see :data:`REQUIRED`)."""
    names = REQUIRED[kind]
    hits = []
    for section in found:
        heading = section.heading.casefold()
        if any(re.search(rf"(?<![a-z]){re.escape(name)}(?![a-z])", heading) for name in names):
            hits.append(section)
    return hits
