"""Policy documents: TOML front matter (structure for the fast stages) + a Markdown body (for the reasoner).

A document looks like::

    +++
    id = "game-community"
    title = "..."
    [actions]
    high = "remove_and_timeout"
    [[categories]]
    id = "cheats"
    ...
    +++
    # Instruction
    ...

The version of a policy is the hash of the whole document, so every verdict can be traced to the exact
text the model read. A document without front matter is a plain policy (:mod:`modbot.domain.policy_plain`);
one whose front matter ``extends`` a shipped policy is composed into one effective document
(:mod:`modbot.domain.policy_compose`). The model itself is in :mod:`modbot.domain.policy_model`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pydantic import ValidationError

from modbot.domain.policy_compose import CompositionError, compose_body, compose_front_matter, render_document
from modbot.domain.policy_model import (
    MAX_POLICY_BYTES,
    Policy,
    PolicyCategory,
    PolicyError,
    PolicyExample,
    PolicyMeta,
    PolicyRule,
    _FieldError,
    parse_duration,
    policy_version,
)
from modbot.domain.policy_plain import parse_plain_policy

__all__ = [
    "FRONT_MATTER_FENCE",
    "MAX_POLICY_BYTES",
    "Policy",
    "PolicyCategory",
    "PolicyError",
    "PolicyExample",
    "PolicyMeta",
    "PolicyRule",
    "parse_duration",
    "parse_policy",
    "policy_version",
]

FRONT_MATTER_FENCE = "+++"

def _lines(text: str) -> list[str]:
    """Split after each ``\\n`` only, keeping the ends: TOML counts lines that way (``str.splitlines`` also
    splits on form feeds and Unicode separators, which would shift every line number after them)."""
    return [line for line in re.split(r"(?<=\n)", text) if line]


@dataclass(frozen=True, slots=True)
class _Parts:
    front: str
    body: str
    #: 1-based line numbers in the document: the first front-matter line and the closing fence.
    front_line: int
    closing_line: int


def _split_front_matter(text: str, source: str) -> _Parts | None:
    """Cut the document into front matter and body, remembering where each starts (None: no front matter)."""
    lines = _lines(text)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise PolicyError("the policy document is empty", source=source, line=1)
    if lines[first].strip() != FRONT_MATTER_FENCE:
        return None  # a plain policy: no front matter at all
    for end in range(first + 1, len(lines)):
        if lines[end].strip() == FRONT_MATTER_FENCE:
            front = "".join(lines[first + 1 : end])
            body = "".join(lines[end + 1 :]).strip("\r\n")
            return _Parts(front=front, body=body, front_line=first + 2, closing_line=end + 1)
    raise PolicyError(
        f"the front matter opened here is never closed with '{FRONT_MATTER_FENCE}'", source=source, line=first + 1
    )


_TOML_LINE = re.compile(r"at line (\d+)")
_TABLE_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _line_of_key(front: str, loc: tuple[object, ...]) -> int | None:
    """Best effort: the 1-based line in the front matter where the field at ``loc`` is written.

    Walks the location through table headers (``[actions]``, ``[[categories.rules]]``, the n-th one for an
    index) and ``key =`` lines, looking for a key only inside the table it belongs to. A field that is
    missing points at the header of the table that should hold it; ``None`` means the top level.
    """
    lines = [line.rstrip("\r\n") for line in _lines(front)]
    headers: dict[int, str] = {}  # line index -> table name, for every [table] and [[array.of.tables]]
    for i, line in enumerate(lines):
        match = _TABLE_HEADER.match(line)
        if match:
            headers[i] = re.sub(r"\s+", "", match.group(1)).replace('"', "")

    path: list[str] = []
    table, end = -1, len(lines)  # the current table: its header's index (-1: top level) and where it stops
    hits: list[int] = []  # headers of the array of tables just entered, for a following index
    outer_end = end  # where the table holding that array stops
    for part in loc:
        if isinstance(part, int):
            if part < len(hits):
                table = hits[part]
                end = _table_end(headers, table, ".".join(path), outer_end)
            continue
        own_end = next((i for i in range(table + 1, end) if i in headers), end)
        key = re.compile(rf"""^\s*["']?{re.escape(part)}["']?\s*=""")
        for i in range(table + 1, own_end):
            if key.match(lines[i]):
                return i + 1  # the value is written inline; deeper parts are inside it
        name = ".".join([*path, part])
        hits = [i for i in range(table + 1, end) if headers.get(i) == name]
        if not hits:
            break
        path.append(part)
        outer_end = end
        table = hits[0]
        end = _table_end(headers, table, name, outer_end)
    return table + 1 if table >= 0 else None


def _table_end(headers: dict[int, str], table: int, name: str, limit: int) -> int:
    """Index of the first header after ``table`` that is not one of its sub-tables."""
    return next(
        (i for i in sorted(headers) if table < i < limit and not headers[i].startswith(name + ".")), limit
    )


def parse_policy(
    text: str,
    *,
    source: str = "<policy>",
    bases: Mapping[str, Policy] | None = None,
    default_id: str | None = None,
) -> Policy:
    """Validate a policy document and return it; raises :class:`PolicyError` naming the line at fault.

    A document without front matter is a plain policy, used as is (:mod:`modbot.domain.policy_plain`; its id
    is ``default_id`` or the file name's stem). A front matter with ``extends = "<id>"`` is composed over
    ``bases[id]`` (the shipped policies) and the effective document is what is returned, hashed and stored
    (:mod:`modbot.domain.policy_compose`). A leading byte order mark is dropped (editors on Windows add one).
    """
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise PolicyError("the policy contains NUL bytes (is it a binary file?)", source=source, line=line)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise PolicyError(f"the policy is larger than {MAX_POLICY_BYTES // 1024} KB", source=source)
    parts = _split_front_matter(text, source)
    if parts is None:
        try:
            return parse_plain_policy(text, source=source, default_id=default_id)
        except ValidationError as exc:
            raise PolicyError(f"cannot infer the policy's structure: {exc.errors()[0]['msg']}", source=source) from exc
    try:
        data = tomllib.loads(parts.front)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        line = parts.front_line + int(match.group(1)) - 1 if match else parts.front_line
        raise PolicyError(f"front matter is not valid TOML: {exc}", source=source, line=line) from exc
    base: Policy | None = None
    if "extends" in data:
        base = _base_of(data, bases or {}, parts, source)
        try:
            data = compose_front_matter(base, data)
        except CompositionError as exc:
            rel = _line_of_key(parts.front, (exc.key,))
            line = parts.front_line + rel - 1 if rel else parts.front_line
            raise PolicyError(str(exc), source=source, line=line) from exc
    meta = _validated(data, parts, source)
    if base is not None:
        body = compose_body(base, parts.body)
        comment = f"Effective policy {meta.id}: {base.id} ({base.version}) with this server's changes."
        effective = render_document(meta.model_dump(mode="json"), body, comment)
        return replace(parse_policy(effective, source=source), extends=base.id)
    if not parts.body.strip():
        raise PolicyError(
            "the policy has no body: the reasoner needs the plain-language policy text",
            source=source,
            line=parts.closing_line,
        )
    return Policy(meta=meta, body=parts.body, version=policy_version(text), source=source, text=text)


def _base_of(data: dict[str, object], bases: Mapping[str, Policy], parts: _Parts, source: str) -> Policy:
    """The shipped policy named by ``extends``, or a PolicyError on the ``extends`` line."""
    ref = data["extends"]
    if "id" not in data:
        raise PolicyError(
            f"a policy that extends {ref!r} needs an id of its own", source=source, line=parts.front_line
        )
    base = bases.get(ref) if isinstance(ref, str) else None
    if base is None:
        rel = _line_of_key(parts.front, ("extends",))
        shipped = ", ".join(sorted(bases)) or "none available here"
        raise PolicyError(
            f"extends: {ref!r} is not a shipped policy (shipped: {shipped})",
            source=source,
            line=parts.front_line + rel - 1 if rel else parts.front_line,
        )
    return base


def _validated(data: dict[str, object], parts: _Parts, source: str) -> PolicyMeta:
    """The front matter as ``PolicyMeta``; a mistake is reported with the line of the field at fault."""
    try:
        return PolicyMeta.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _FieldError):
            loc = cause.loc
        message = str(cause) if isinstance(cause, ValueError) else err["msg"]
        rel = _line_of_key(parts.front, loc)
        line = parts.front_line + rel - 1 if rel else parts.front_line
        field = ".".join(str(p) for p in loc) or "front matter"
        raise PolicyError(f"{field}: {message}", source=source, line=line) from exc
