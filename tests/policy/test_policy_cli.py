"""``modbot policy lint`` and ``modbot policy validate`` as a user runs them: exit codes and JSON keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from modbot.cli.main import app
from tests.conftest import REPO

FIXTURES = Path(__file__).parent / "fixtures"
MODBOT = Path(sys.executable).with_name("modbot")
SHIPPED = [REPO / "policies" / f"{name}.md" for name in (
    "game-community", "spam-and-scams", "harassment-and-hate", "self-harm-support", "workplace"
)]
runner = CliRunner()


def broken_policy(tmp_path: Path) -> Path:
    text = (REPO / "policies" / "harassment-and-hate.md").read_text(encoding="utf-8")
    path = tmp_path / "broken.md"
    path.write_text(text.replace("## Definitions", "## Background").replace("pile on.", "pile on (HA9)."), encoding="utf-8")
    return path


def test_lint_exits_0_on_the_shipped_policies_and_prints_tokens_per_section() -> None:
    result = subprocess.run(
        [str(MODBOT), "policy", "lint", *map(str, SHIPPED)], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout and "Output format" in result.stdout
    assert "game-community sha256:" in result.stdout and "tokens" in result.stdout


def test_lint_exits_1_on_errors_and_json_has_errors_warnings_tokens(tmp_path: Path) -> None:
    broken = broken_policy(tmp_path)
    result = runner.invoke(app, ["policy", "lint", "--json", str(broken), str(SHIPPED[2])])
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(line) >= {"errors", "warnings", "tokens"} for line in lines] == [True, True]
    bad, good = lines
    assert bad["file"] == str(broken) and any("missing definitions" in e for e in bad["errors"])
    assert any("HA9" in e for e in bad["errors"]) and isinstance(bad["warnings"], list)
    assert good["errors"] == [] and good["tokens"]["total"] > 1000 and "Criteria" in good["tokens"]["sections"]


def test_lint_with_warnings_only_exits_0(tmp_path: Path) -> None:
    text = (REPO / "policies" / "harassment-and-hate.md").read_text(encoding="utf-8")
    path = tmp_path / "vague.md"
    path.write_text(text.replace("## Criteria", "## Criteria\nMessages that are usually mean violate.", 1), encoding="utf-8")
    result = runner.invoke(app, ["policy", "lint", "--json", str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["errors"] == [] and any("'usually'" in w for w in report["warnings"])


def test_lint_of_an_unreadable_policy_is_an_error_object(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text('+++\nid = "x"\n+++\nbody\n', encoding="utf-8")
    result = runner.invoke(app, ["policy", "lint", "--json", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["errors"] and "bad.md" in report["errors"][0] and report["tokens"] == {}


def test_validate_says_what_it_inferred_from_a_plain_policy() -> None:
    result = runner.invoke(app, ["policy", "validate", str(FIXTURES / "scam-policy.txt")])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert line["format"] == "plain" and line["id"] == "scam-policy" and line["rules"] == 3
    inferred = line["inferred"]
    assert inferred["id"] == "scam-policy" and inferred["categories"] == ["scam"]
    assert inferred["rule_ids"] == ["SC0", "SC2", "SC3"] and inferred["keywords"] == 0
    assert "no keywords" in inferred["note"]


def test_validate_composes_an_extends_over_the_shipped_policies() -> None:
    result = runner.invoke(app, ["policy", "validate", str(FIXTURES / "server-extends.md")])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert line["format"] == "extends" and line["extends"] == "game-community" and line["id"] == "pixel-server"
