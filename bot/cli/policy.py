"""``modbot policy lint`` and what ``policy validate`` says about a file (registered in :mod:`modbot.cli.main`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from modbot.domain.policy import Policy, PolicyError
from modbot.domain.policy_plain import PLAIN_SEVERITY
from modbot.policy_files import load_policy, load_policy_dir, shipped_policies

__all__ = ["PolicyDirOption", "describe", "load_with_bases", "policy_lint"]

err = Console(stderr=True)

PolicyDirOption = Annotated[
    Optional[Path],
    typer.Option("--policy-dir", help="Where the policies an 'extends' may name are (default: the shipped policies/)."),
]


def load_with_bases(path: Path, policy_dir: Path | None = None) -> Policy:
    """Load one policy file; an ``extends`` may name a shipped policy (or one in ``policy_dir``)."""
    bases = shipped_policies()
    if policy_dir is not None:
        bases.update({p.id: p for p in load_policy_dir(policy_dir, bases)})
    return load_policy(path, bases)


def describe(path: Path, policy: Policy) -> dict[str, object]:
    """``policy validate``'s JSON line: what the file is, and what was inferred or composed."""
    rules = [rule.id for category in policy.meta.categories for rule in category.rules]
    keywords = sum(len(r.keywords) + len(r.regexes) for c in policy.meta.categories for r in c.rules)
    line: dict[str, object] = {
        "file": str(path),
        "id": policy.id,
        "version": policy.version,
        "categories": len(policy.meta.categories),
        "rules": len(rules),
        "examples": len(policy.meta.examples),
        "format": "plain" if policy.plain else ("extends" if policy.extends else "front-matter"),
    }
    if policy.extends:
        line["extends"] = policy.extends
    if policy.plain:
        line["inferred"] = {
            "id": policy.id,
            "id_from": "the file name",
            "title": policy.meta.title,
            "categories": [c.id for c in policy.meta.categories],
            "rule_ids": rules,
            "keywords": keywords,
            "note": (
                "no keywords or regexes apply: the fast stages pass every message on until front matter adds them; "
                f"every violation is flagged for a moderator (severity {PLAIN_SEVERITY!r})"
            ),
        }
    return line


def policy_lint(
    files: Annotated[list[Path], typer.Argument(help="Policy documents to lint.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file: errors, warnings, tokens.")] = False,
    policy_dir: PolicyDirOption = None,
) -> None:
    """Check policies against gpt-oss-safeguard's guide: sections, output format, token counts (o200k, 400–600
    per category block), vague words, examples, undefined rule ids, keywords hitting innocent words.
    Exit 1 when any file has errors, 0 with warnings only."""
    from modbot.policy_lint import lint_policy

    failed = False
    for path in files:
        try:
            policy = load_with_bases(path, policy_dir)
        except PolicyError as exc:
            failed = True
            report = {"file": str(path), "errors": [str(exc)], "warnings": [], "tokens": {}}
            if as_json:
                typer.echo(json.dumps(report, ensure_ascii=False))
            else:
                err.print(f"[red]invalid[/red] {exc}")
            continue
        result = lint_policy(policy)
        failed = failed or not result.ok
        if as_json:
            typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
            continue
        tokens = result.tokens
        typer.echo(f"{path}: {policy.id} {policy.version}, {tokens.get('total')} tokens")
        for heading, count in dict(tokens.get("sections") or {}).items():  # type: ignore[call-overload]
            typer.echo(f"  {count:>6}  {heading}")
        for message in result.errors:
            typer.echo(f"  error: {message}")
        for message in result.warnings:
            typer.echo(f"  warning: {message}")
        typer.echo(f"  {len(result.errors)} errors, {len(result.warnings)} warnings")
    if failed:
        raise typer.Exit(1)
