"""Policy documents on disk: reading one file, or every policy in a folder (the shipped ``policies/``).

Kept out of ``modbot.domain`` (values only, no I/O); the composition root and the CLI read files here. A
folder may hold front-matter documents (``*.md``), plain policies without front matter (``*.md``,
``*.txt``) and policies that ``extends`` another one of the same folder (loaded after their base).
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path

from modbot.domain.policy import FRONT_MATTER_FENCE, Policy, PolicyError, parse_policy
from modbot.package_data import PackageDataError, shipped_policies_dir

__all__ = ["load_policy", "load_policy_dir", "read_policy_text", "shipped_policies"]

log = logging.getLogger(__name__)


#: File stems in a policy folder that are documentation, not policies.
_NOT_POLICIES = frozenset({"readme", "license", "licence", "notice", "changelog", "authors", "contributing"})


def read_policy_text(path: str | Path) -> str:
    """A policy file's text (UTF-8); PolicyError names the file and, for bad bytes, the line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read the policy: {exc.strerror or exc}", source=str(path)) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise PolicyError(f"the policy is not UTF-8 text (byte {exc.start})", source=str(path), line=line) from exc


def load_policy(path: str | Path, bases: Mapping[str, Policy] | None = None) -> Policy:
    """Read and validate a policy file; ``bases`` are the policies an ``extends`` may name (by default the
    shipped ones, read only when the file extends one)."""
    text = read_policy_text(path)
    if bases is None and _extends(text) is not None:
        bases = shipped_policies()
    return parse_policy(text, source=str(path), bases=bases)


def shipped_policies() -> dict[str, Policy]:
    """The policies modbot ships, by id (none from a partial install)."""
    try:
        folder = shipped_policies_dir()
    except PackageDataError:
        return {}
    return {policy.id: policy for policy in load_policy_dir(folder)}


def _extends(text: str) -> str | None:
    """The id a document's front matter extends, without validating anything else."""
    lines = text.removeprefix("\ufeff").lstrip().splitlines()
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        return None
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == FRONT_MATTER_FENCE), None)
    try:
        ref = tomllib.loads("\n".join(lines[1:end])).get("extends") if end else None
    except tomllib.TOMLDecodeError:
        return None
    return ref if isinstance(ref, str) else None


def load_policy_dir(directory: Path, bases: Mapping[str, Policy] | None = None) -> list[Policy]:
    """All valid policies (``*.md``, ``*.txt``; not README, LICENSE...) in a folder; invalid ones are logged and skipped.

    A policy that extends another is loaded once its base is (from this folder or ``bases``).
    """
    policies: dict[str, Policy] = {}
    if not directory.is_dir():
        log.warning("policy_dir %s is not a folder: only the built-in policies are available", directory)
        return []
    waiting: list[tuple[Path, str]] = []
    for path in sorted([*directory.glob("*.md"), *directory.glob("*.txt")]):
        if path.stem.lower() in _NOT_POLICIES:
            continue
        try:
            text = read_policy_text(path)
            if _extends(text) is not None:
                waiting.append((path, text))
                continue
            policy = parse_policy(text, source=str(path))
            policies[policy.id] = policy
        except PolicyError as exc:
            log.error("skipping policy %s", exc)
    while waiting:  # each pass loads the policies whose base is known by now
        known = {**(bases or {}), **policies}
        ready = [(path, text) for path, text in waiting if _extends(text) in known]
        if not ready:
            ready = waiting  # their bases are missing: parse them anyway, to log why
        for item in ready:
            waiting.remove(item)
            try:
                policy = parse_policy(item[1], source=str(item[0]), bases=known)
                policies[policy.id] = policy
            except PolicyError as exc:
                log.error("skipping policy %s", exc)
    return list(policies.values())
