"""``modbot policy test``: a policy's own labelled examples and a data file through the real stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modbot.cli.policy_test import PolicyCase, run_policy_test
from modbot.domain.policy import parse_policy
from modbot.stages.reasoner.testing import scripted_answer
from tests.conftest import TEST_POLICY, make_settings
from tests.policy_tools.conftest import write_config

MODBOT = Path(sys.executable).with_name("modbot")
REPO = Path(__file__).resolve().parents[2]

EXAMPLES = """\
[[examples]]
text = "selling aimbot, dm me"
violation = true
rule_ids = ["CH1"]
[[examples]]
text = "hello there friends"
violation = false
[[examples]]
text = "cheap gold and a wallhack, pm me"
violation = true
rule_ids = ["SC1"]
+++
# Instruction"""

WITH_EXAMPLES = TEST_POLICY.replace("+++\n# Instruction", EXAMPLES)


def _run(*args: str, config: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODBOT_", "DISCORD_", "SLACK_"))}
    return subprocess.run(
        [str(MODBOT), *args, "--config", str(config)], capture_output=True, text=True, env=env, cwd=REPO, timeout=180
    )


def test_examples_pass_and_fail_per_example_and_per_rule_with_exit_1(tmp_path):
    config = write_config(tmp_path)
    policy = tmp_path / "policy.md"
    policy.write_text(WITH_EXAMPLES, encoding="utf-8")
    data = tmp_path / "data.jsonl"
    data.write_text(
        "\n".join(
            json.dumps(row)
            for row in [
                {"id": "d1", "text": "wallhack for sale", "label": 1, "category": "cheats"},
                {"id": "d2", "text": "who has the aimbot video", "label": 0},
                {"id": "d3", "text": "cheats here, cheap", "label": True, "category": "cheats"},
            ]
        ),
        encoding="utf-8",
    )

    result = _run("policy", "test", str(policy), "--data", str(data), "--no-prefilter", "--json", config=config)

    assert result.returncode == 1, result.stderr
    out = json.loads(result.stdout)
    assert (out["total"], out["passed"], out["failed"]) == (6, 3, 3)
    passed = {e["id"]: e["passed"] for e in out["examples"]}
    # Example 3 is flagged by the CH1 keyword but expects SC1: the wrong rule fails it.
    assert passed == {"example:1": True, "example:2": True, "example:3": False, "d1": True, "d2": False, "d3": False}
    assert out["rules"] == {"CH1": {"passed": 1, "failed": 0}, "SC1": {"passed": 0, "failed": 1}}
    # cheats: 2 labelled, the keyword caught 1; 4 flagged as cheats (CH1), 3 of them violations.
    assert out["categories"]["cheats"] == {"labelled": 2, "predicted": 4, "recall": 0.5, "precision": 0.75}
    assert out["version"] == parse_policy(WITH_EXAMPLES).version

    text = _run("policy", "test", str(policy), "--no-prefilter", config=config)
    assert text.returncode == 1
    assert "FAIL  example:3: expected violation (SC1), got flag CH1 [keyword]" in text.stdout
    assert "rule CH1: 1 passed, 0 failed" in text.stdout and "2/3 passed" in text.stdout


def test_a_policy_without_examples_or_data_is_a_usage_error(tmp_path):
    config = write_config(tmp_path)
    policy = tmp_path / "policy.md"
    policy.write_text(TEST_POLICY, encoding="utf-8")
    result = _run("policy", "test", str(policy), "--no-prefilter", config=config)
    assert result.returncode == 2 and "no examples" in result.stderr


async def test_with_the_reasoner_every_example_passes(tmp_path, forced_reasoner, codec):
    policy = parse_policy(WITH_EXAMPLES)
    reasoner = forced_reasoner(
        {
            "aimbot": scripted_answer(codec, violation=True, rule_ids=("CH1",), category="cheats"),
            "hello": scripted_answer(codec, violation=False),
            "cheap gold": scripted_answer(codec, violation=True, rule_ids=("SC1",), category="scams"),
        }
    )
    cases = [PolicyCase(f"example:{n}", e.text, e.violation, e.rule_ids) for n, e in enumerate(policy.meta.examples, 1)]
    out = await run_policy_test(
        make_settings(tmp_path), policy, cases, reasoner=reasoner, prefilter=None, always_reason=True,
        show_progress=False,
    )  # fmt: skip
    assert (out["passed"], out["failed"]) == (3, 0)
    assert [e["stage"] for e in out["examples"]] == ["reasoner", "reasoner", "reasoner"]
    assert [e["decision"] for e in out["examples"]] == ["remove", "allow", "remove_and_timeout"]
    assert (out["precision"], out["recall"]) == (1.0, 1.0)
