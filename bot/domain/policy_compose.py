"""Composition: a server policy that ``extends`` a shipped one, rendered as one effective document.

A child's front matter says ``extends = "<shipped id>"`` and only what it changes; what it leaves unset is
inherited:

* ``title``, ``description``, ``reasoning_effort``: set = replaced;
* ``[actions]``, ``[timeouts]``: merged per severity (the child's entries win);
* ``[[categories]]``: matched by ``id``. A known one takes the child's ``title`` if given, and its
  ``[[categories.rules]]`` are matched by ``id`` too: each field the child sets (``description``,
  ``severity``, ``keywords``, ``regexes``, ``act_on_match``) replaces the base's, a whole list at a time.
  Unknown categories and rules are added. ``remove = true`` on a category or rule drops it;
* ``[[examples]]``: added to the base's (the base's examples of removed rules are dropped);
* the body: the base's, with the child's own body (if any) inserted before the base's last
  ``## Output format`` section, so the answer format stays at the bottom.

The effective policy is rendered as a complete front-matter document (:func:`render_document`); its hash
is the version stored and named by every verdict, so a verdict always points at the text the model read.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from modbot.domain.policy_model import Policy

__all__ = ["compose_body", "compose_front_matter", "render_document", "render_toml"]

_RULE_FIELDS = ("description", "severity", "keywords", "regexes", "act_on_match")
_OUTPUT_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*output\s+format\b", re.IGNORECASE | re.MULTILINE)


class CompositionError(ValueError):
    """The child's front matter cannot be merged (a field of the wrong shape); ``key`` names the field."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


def _table(value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CompositionError(f"{key} must be a table", key)
    return value


def _array(value: object, key: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise CompositionError(f"{key} must be an array of tables ([[{key}]])", key)
    return value


def _merge_rules(base: list[dict[str, Any]], child: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    rules = {rule["id"]: rule for rule in base}
    for rule in child:
        rule = dict(rule)
        rule_id = rule.get("id")
        if not isinstance(rule_id, str):
            raise CompositionError(f"every rule in {where} needs an id", where)
        if rule.pop("remove", False):
            rules.pop(rule_id, None)
        elif rule_id in rules:
            rules[rule_id] = {**rules[rule_id], **rule}
        else:
            rules[rule_id] = rule
    return list(rules.values())


def compose_front_matter(base: Policy, child: Mapping[str, Any]) -> dict[str, Any]:
    """The effective front matter: the base's validated front matter with the child's changes applied."""
    out = base.meta.model_dump(mode="json")
    child = copy.deepcopy(dict(child))
    child.pop("extends", None)
    for key in ("actions", "timeouts"):
        if key in child:
            out[key] = {**out.get(key, {}), **_table(child.pop(key), key)}
    categories = {category["id"]: category for category in out["categories"]}
    for category in _array(child.pop("categories", []), "categories"):
        category = dict(category)
        category_id = category.get("id")
        if not isinstance(category_id, str):
            raise CompositionError("every category needs an id", "categories")
        if category.pop("remove", False):
            categories.pop(category_id, None)
            continue
        known = categories.get(category_id)
        if known is None:
            categories[category_id] = category
            continue
        merged = {**known, **{k: v for k, v in category.items() if k != "rules"}}
        merged["rules"] = _merge_rules(
            known["rules"], _array(category.get("rules", []), "categories.rules"), f"category {category_id!r}"
        )
        categories[category_id] = merged
    out["categories"] = [c for c in categories.values() if c.get("rules") != []]
    remaining = {rule["id"] for c in out["categories"] for rule in c.get("rules", ()) if isinstance(rule, dict)}
    examples = [e for e in out.get("examples", []) if set(e.get("rule_ids", ())) <= remaining]
    out["examples"] = examples + _array(child.pop("examples", []), "examples")
    out.update(child)  # scalars (id, title, ...) and unknown keys, which validation then names
    return out


def compose_body(base: Policy, own: str) -> str:
    """The base's body with the child's own text inserted before its last output-format section."""
    own = own.strip("\r\n")
    if not own.strip():
        return base.body
    headings = list(_OUTPUT_HEADING.finditer(base.body))
    if not headings:
        return f"{base.body}\n\n{own}"
    cut = headings[-1].start()
    return f"{base.body[:cut].rstrip()}\n\n{own}\n\n{base.body[cut:]}"


# -- rendering ---------------------------------------------------------------------------------------


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string (same escapes; non-ASCII kept as is).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} as TOML")


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def render_toml(data: Mapping[str, Any]) -> str:
    """Front matter as TOML: scalars first, then ``[actions]``/``[timeouts]``, categories, examples."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict | list) or _plain_list(v)]
    for name in ("actions", "timeouts"):
        table = data.get(name) or {}
        if table or name == "actions":
            lines += ["", f"[{name}]", *(f"{_key(k)} = {_value(v)}" for k, v in table.items())]
    for category in data.get("categories", ()):
        lines += ["", "[[categories]]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in category.items() if k != "rules"]
        for rule in category.get("rules", ()):
            lines += ["", "[[categories.rules]]", *(f"{_key(k)} = {_value(v)}" for k, v in rule.items())]
    for example in data.get("examples", ()):
        lines += ["", "[[examples]]", *(f"{_key(k)} = {_value(v)}" for k, v in example.items())]
    return "\n".join(lines) + "\n"


def _plain_list(value: object) -> bool:
    return isinstance(value, list) and not any(isinstance(item, dict) for item in value)


def render_document(data: Mapping[str, Any], body: str, comment: str = "") -> str:
    """A complete policy document (``+++`` front matter ``+++`` body) for ``data`` and ``body``."""
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return f"+++\n{head}{render_toml(data)}+++\n{body.strip(chr(10))}\n"
