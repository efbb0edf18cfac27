"""Policy documents on disk: reading one file, or every policy in a folder (the shipped ``policies/``).

Kept out of ``bot.domain`` (values only, no I/O); the composition root and the CLI read files here.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.domain.policy import Policy, PolicyError, parse_policy

__all__ = ["load_policy", "load_policy_dir"]

log = logging.getLogger(__name__)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read the policy: {exc.strerror or exc}", source=str(path)) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise PolicyError(f"the policy is not UTF-8 text (byte {exc.start})", source=str(path), line=line) from exc
    return parse_policy(text, source=str(path))


def load_policy_dir(directory: Path) -> list[Policy]:
    """All valid policy documents (``*.md`` except README) in a folder; invalid ones are logged and skipped."""
    policies = []
    if not directory.is_dir():
        return policies
    for path in sorted(directory.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            policies.append(load_policy(path))
        except PolicyError as exc:
            log.error("skipping policy %s", exc)
    return policies
