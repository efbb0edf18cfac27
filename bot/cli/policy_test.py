"""``modbot policy test FILE [--data DATA.jsonl] [--model PATH.gguf] [--json]``: a policy's own examples.

Runs the policy's labelled examples (front matter ``examples``) and a labelled data file through the
real stages (keyword/regex, the prefilter, the reasoner with ``--model`` or as configured), the same
``Judge`` the pipeline uses with the server defaults' routing. An example passes when the verdict's
violation (anything but ``allow``) matches its label and, for a violation with ``rule_ids``, the verdict
names one of them. Exit 1 when any example or row fails.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from modbot.cli.policy_common import (
    ModelOpt,
    NoPrefilterOpt,
    PrefilterOpt,
    build_stages,
    load_labelled_or_fail,
    load_settings_or_fail,
)
from modbot.cli.prefilter_common import err, fail, load_policy_or_fail, progress_bars
from modbot.domain import Decision, MessageEvent, ServerRef, Verdict
from modbot.domain.policy import Policy
from modbot.domain.replay import Confusion

if TYPE_CHECKING:
    from modbot.config import AppSettings
    from modbot.ports import Prefilter, Reasoner

__all__ = ["PolicyCase", "policy_test_command", "run_policy_test"]


@dataclass(frozen=True, slots=True)
class PolicyCase:
    """One labelled text: a policy example or a data row."""

    id: str
    text: str
    violation: bool
    rule_ids: tuple[str, ...] = ()
    category: str | None = None
    source: str = "example"


def _cases(policy: Policy, data: Path | None) -> list[PolicyCase]:
    cases = [
        PolicyCase(f"example:{n}", e.text, e.violation, tuple(e.rule_ids))
        for n, e in enumerate(policy.meta.examples, start=1)
    ]
    if data is not None:
        for row in load_labelled_or_fail(data):
            category = row.category if row.category != "none" else None
            rules = (category,) if category and policy.rule(category) is not None and row.unsafe else ()
            cases.append(PolicyCase(row.id, row.text, row.unsafe, rules, category, "data"))
    return cases


def _passed(case: PolicyCase, verdict: Verdict) -> bool:
    flagged = verdict.decision is not Decision.ALLOW
    if flagged != case.violation:
        return False
    return not (case.violation and case.rule_ids) or bool(set(case.rule_ids) & set(verdict.rule_ids))


def _names(verdict: Verdict) -> set[str]:
    """What a verdict calls the violation: its categories and rule ids (a data row's category may be either)."""
    return {n.lower() for n in (*verdict.categories, *verdict.rule_ids)}


def report(policy: Policy, cases: Sequence[PolicyCase], verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """Pass/fail per example and per rule; precision/recall overall and per category (the ``--json`` object)."""
    examples, rules, overall = [], {}, Confusion()
    categories: dict[str, dict[str, int]] = {
        case.category: {"labelled": 0, "caught": 0, "predicted": 0, "correct": 0}
        for case in cases
        if case.category and case.violation
    }
    for case, verdict in zip(cases, verdicts):
        ok = _passed(case, verdict)
        flagged = verdict.decision is not Decision.ALLOW
        overall.add(flagged, case.violation)
        examples.append(
            {
                "id": case.id, "source": case.source, "text": case.text[:200], "expected": case.violation,
                "expected_rule_ids": list(case.rule_ids), "decision": verdict.decision.value,
                "rule_ids": list(verdict.rule_ids), "categories": list(verdict.categories),
                "stage": verdict.stage.value, "passed": ok,
            }
        )  # fmt: skip
        for rule_id in case.rule_ids:
            tally = rules.setdefault(rule_id, {"passed": 0, "failed": 0})
            tally["passed" if ok else "failed"] += 1
        if case.category and case.violation:
            tally = categories[case.category]
            tally["labelled"] += 1
            tally["caught"] += int(flagged)
        for name in _names(verdict) if flagged else ():
            for category, tally in categories.items():
                if category.lower() == name:
                    tally["predicted"] += 1
                    tally["correct"] += int(case.violation)
    per_category = {
        name: {
            "labelled": t["labelled"],
            "predicted": t["predicted"],
            "recall": round(t["caught"] / t["labelled"], 4) if t["labelled"] else None,
            "precision": round(t["correct"] / t["predicted"], 4) if t["predicted"] else None,
        }
        for name, t in sorted(categories.items())
    }
    failed = sum(1 for e in examples if not e["passed"])
    return {
        "policy": policy.id,
        "version": policy.version,
        "total": len(examples),
        "passed": len(examples) - failed,
        "failed": failed,
        "precision": overall.to_dict()["precision"],
        "recall": overall.to_dict()["recall"],
        "rules": dict(sorted(rules.items())),
        "categories": per_category,
        "examples": examples,
    }


async def run_policy_test(
    settings: AppSettings,
    policy: Policy,
    cases: Sequence[PolicyCase],
    *,
    reasoner: Reasoner | None,
    prefilter: Prefilter | None,
    always_reason: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Judge every case with the real stages and return :func:`report`'s object (closes the backends)."""
    from dataclasses import replace

    from modbot.moderation.intake import sanitize_text
    from modbot.moderation.judge import Judge, Routing
    from modbot.stages.keywords import MatcherCache

    judge = Judge(prefilter=prefilter, reasoner=reasoner)
    matcher = MatcherCache().get(policy)
    routing = Routing.from_settings(settings.server_defaults)
    if always_reason:
        routing = replace(routing, always_reason=True)
    verdicts = []
    try:
        with progress_bars() as bars:
            task = bars.add_task("testing", total=len(cases), visible=show_progress)
            for case in cases:
                event = MessageEvent(
                    server=ServerRef("cli", "policy-test"), channel_id="policy-test", message_id=case.id,
                    author_id="policy-test", text=sanitize_text(case.text, settings.pipeline.max_text_chars),
                )  # fmt: skip
                verdicts.append(await judge.judge(event, policy, matcher, routing))
                bars.advance(task)
    finally:
        if reasoner is not None:
            await reasoner.aclose()
        if prefilter is not None:
            await prefilter.aclose()
    return report(policy, cases, verdicts)


def _print(result: dict[str, Any]) -> None:
    for example in result["examples"]:
        mark = "pass" if example["passed"] else "FAIL"
        expected = "violation" if example["expected"] else "allowed"
        if example["expected_rule_ids"]:
            expected += f" ({', '.join(example['expected_rule_ids'])})"
        got = f"{example['decision']} {', '.join(example['rule_ids']) or '-'} [{example['stage']}]"
        typer.echo(f"{mark}  {example['id']}: expected {expected}, got {got}: {example['text'][:60]}")
    for rule_id, tally in result["rules"].items():
        typer.echo(f"rule {rule_id}: {tally['passed']} passed, {tally['failed']} failed")
    for name, figures in result["categories"].items():
        typer.echo(f"category {name}: recall {figures['recall']}, precision {figures['precision']} ({figures['labelled']} labelled)")
    typer.echo(
        f"{result['passed']}/{result['total']} passed; precision {result['precision']}, recall {result['recall']}"
    )


def policy_test_command(
    file: Annotated[Path, typer.Argument(help="The policy document to test.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Labelled JSON lines (text, label, category).")] = None,
    model: ModelOpt = None,
    prefilter: PrefilterOpt = None,
    no_prefilter: NoPrefilterOpt = False,
    always_reason: Annotated[
        bool, typer.Option("--always-reason", help="Send every text to the reasoner (the always_reason setting).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Settings file (TOML).")] = None,
) -> None:
    """Run a policy's own labelled examples (and a labelled data file) through the stages; exit 1 on a failure."""
    policy = load_policy_or_fail(file)
    assert policy is not None
    settings = load_settings_or_fail(config)
    cases = _cases(policy, data)
    if not cases:
        raise fail(f"{file} has no examples and no --data was given: nothing to test")
    reasoner, built_prefilter = build_stages(settings, model, prefilter, no_prefilter)
    result = asyncio.run(
        run_policy_test(
            settings, policy, cases, reasoner=reasoner, prefilter=built_prefilter, always_reason=always_reason
        )
    )
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        _print(result)
    if result["failed"]:
        err.print(f"[red]{result['failed']} of {result['total']} failed[/red]")
        raise typer.Exit(1)
