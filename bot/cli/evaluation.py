"""``modbot eval``: precision, recall and escalation of the keyword + prefilter stages (or the full pipeline)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from modbot.cli.prefilter_common import (
    DataArg,
    HoldoutOpt,
    LimitOpt,
    SeedOpt,
    err,
    fail,
    load_policy_or_fail,
    load_rows,
    progress_bars,
)

__all__ = ["eval_command"]


def eval_command(
    data: DataArg,
    policy: Annotated[
        Optional[Path], typer.Option("--policy", "-p", help="Policy whose keyword stage runs first (default: none).")
    ] = None,
    prefilter: Annotated[
        Optional[Path], typer.Option("--prefilter", help="Prefilter folder (default: the shipped model).")
    ] = None,
    stages: Annotated[
        str, typer.Option("--stages", help="prefilter (keyword + prefilter routing) or full (with the reasoner).")
    ] = "prefilter",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Write the recall-vs-escalation curve to this PNG.")
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="all | test (the part train-prefilter --split train left out) | train.")
    ] = "all",
    holdout: HoldoutOpt = 0.3,
    seed: SeedOpt = 0,
    limit: LimitOpt = None,
    target_recall: Annotated[
        Optional[float],
        typer.Option(
            "--target-recall", help="Recall at which to report the benign escalated share (default: the model's)."
        ),
    ] = None,
    allow_below: Annotated[
        Optional[float],
        typer.Option("--allow-below", help="Override the calibrated allow threshold.", min=0.0, max=1.0),
    ] = None,
    act_above: Annotated[
        Optional[float], typer.Option("--act-above", help="Override the calibrated act threshold.", min=0.0, max=1.0)
    ] = None,
    model: Annotated[
        Optional[Path],
        typer.Option("--model", "-m", help="GGUF of gpt-oss-safeguard for --stages full (default: settings)."),
    ] = None,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Settings file (for --stages full).")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Messages in flight at once.", min=1)] = 64,
    no_skip: Annotated[
        bool,
        typer.Option(
            "--no-skip", help="Embed every message (no n-gram short-circuit), to measure what skipping costs."
        ),
    ] = False,
    skip_share: Annotated[
        Optional[float],
        typer.Option(
            "--skip-share", help="Use the model's skip bands for this share (0.3, 0.4, ... 0.9, 0.95, 0.99, 0.999)."
        ),
    ] = None,
    community: Annotated[
        str,
        typer.Option(
            "--community",
            help="auto: each row's source, where the model has that community (as a server set to it would); "
            "none: the shared model only; or one community name for every row.",
        ),
    ] = "auto",
) -> None:
    """Measure precision, recall and escalation of the pipeline on labelled messages."""
    from modbot.stages.prefilter.embedder import EmbeddingModelError
    from modbot.stages.prefilter.model import ModelError

    if stages not in ("prefilter", "full"):
        raise fail("--stages must be prefilter or full")
    if split not in ("all", "train", "test"):
        raise fail("--split must be all, train or test")
    rows = load_rows(data, split, holdout, seed, limit)
    loaded_policy = load_policy_or_fail(policy)
    try:
        report = asyncio.run(
            _eval(
                rows,
                loaded_policy,
                prefilter,
                stages,
                target_recall,
                allow_below,
                act_above,
                model,
                config,
                concurrency,
                as_json,
                no_skip,
                skip_share,
                community,
            )
        )
    except (ModelError, EmbeddingModelError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    report.extra["data"] = [str(p) for p in data]
    report.extra["split"] = split if split == "all" else f"{split} (holdout {holdout}, seed {seed})"
    if plot is not None:
        from modbot.training.evaluate import plot_sweep

        names = ", ".join(p.stem for p in data)
        plot_sweep(report, plot, title=f"{names} ({split}, n={report.n}, {stages})")
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    _print_report(report, plot)


async def _eval(
    rows,
    policy,
    prefilter_dir,
    stages,
    target_recall,
    allow_below,
    act_above,
    model,
    config,
    concurrency,
    quiet,
    no_skip,
    skip_share,
    community,
):
    from modbot.moderation.judge import Judge, Routing
    from modbot.stages.keywords import KeywordMatcher
    from modbot.training.evaluate import evaluate_rows
    from modbot.stages.prefilter.scorer import load_prefilter

    prefilter = load_prefilter(prefilter_dir, skip_share=skip_share).load()
    prefilter.skip_embeddings = not no_skip
    known = prefilter.model.community_names
    if community == "auto":
        community_of = (lambda row: row.source if row.source in known else None) if known else None
    elif community == "none":
        community_of = None
    elif community in known:
        community_of = lambda row: community  # noqa: E731
    else:
        raise fail(f"--community {community!r}: the model has no such community (it has: {', '.join(known) or 'none'})")
    reasoner = None
    if stages == "full":
        from modbot.app import build_reasoner
        from modbot.config import SettingsError, load_settings

        if model is not None and not model.is_file():
            raise FileNotFoundError(f"model file not found: {model}")
        try:
            settings = load_settings(config)
        except SettingsError as exc:
            raise fail(str(exc)) from None
        reasoner = build_reasoner(settings, model)
        if reasoner is None:
            raise fail("--stages full needs a reasoner: pass --model FILE.gguf or configure [reasoner]")
    policy = policy or _neutral_policy()
    th = prefilter.thresholds
    # None: the Judge uses the prefilter's calibrated thresholds, as it does for a server.
    routing = Routing(allow_below=allow_below, act_above=act_above)
    judge = Judge(prefilter=prefilter, reasoner=reasoner)
    matcher = KeywordMatcher.build(policy)
    try:
        with progress_bars() as progress:
            task = progress.add_task(f"eval ({stages})", total=len(rows))
            if quiet:
                progress.disable = not err.is_terminal
            report = await evaluate_rows(
                rows,
                judge,
                policy,
                matcher,
                routing,
                stages=stages,
                target_recall=target_recall or th.target_recall,
                concurrency=concurrency,
                progress=lambda n: progress.advance(task, n),
                community_of=community_of,
            )
    finally:
        await prefilter.aclose()
        if reasoner is not None:
            await reasoner.aclose()
    stats = prefilter.batcher_stats
    report.extra["prefilter"] = {
        "model": prefilter.model_name,
        "scored": prefilter.scored,
        "embedding_skipped": prefilter.skipped,
        "embedded": stats.embedded if stats else 0,
        "cache_hits": stats.cache_hits if stats else 0,
        "mean_batch": round(stats.mean_batch, 2) if stats else 0,
    }
    report.extra["policy"] = policy.id
    report.extra["community"] = community if known else "none (the model has no communities)"
    report.extra["thresholds"] = _thresholds_in_force(prefilter, report.routing.prefilter_community, allow_below, act_above)
    return report


def _thresholds_in_force(prefilter, community, allow_below, act_above) -> dict[str, object]:
    """Which calibrated thresholds routed the messages, and the price their calibration measured."""
    th = prefilter.thresholds_for(community)
    return {
        "community": community,
        "applies_to": th.applies_to or "(not recorded)",
        "calibrated_on": th.calibrated_on,
        "combine": th.combine,
        "calibrated_recall": round(th.recall, 4) if th.recall == th.recall else None,
        "calibrated_benign_escalated_share": (
            round(th.benign_escalated_share, 4) if th.benign_escalated_share == th.benign_escalated_share else None
        ),
        "per_source": th.per_source,
        "overridden": [name for name, value in (("allow_below", allow_below), ("act_above", act_above)) if value is not None],
    }


def _neutral_policy():
    """A policy with no keywords, for measuring the prefilter alone."""
    from modbot.domain.policy import parse_policy

    return parse_policy(
        '+++\nid = "eval-neutral"\ntitle = "No keyword stage"\n[actions]\nmedium = "flag"\n'
        '[[categories]]\nid = "any"\ntitle = "Any"\n[[categories.rules]]\nid = "X1"\n'
        'description = "Anything unsafe"\nseverity = "medium"\n+++\n# Instruction\nFlag unsafe messages.\n',
        source="<eval-neutral>",
    )


def _print_report(report, plot: Path | None) -> None:
    out = Console(highlight=False)
    summary = Table(title=f"modbot eval ({report.stages}) on {report.n} messages ({report.unsafe} unsafe)")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for label, value in (
        ("precision", report.precision),
        ("recall", report.recall),
        ("F1", report.f1),
        ("escalated share (all)", report.escalated_share),
        ("benign escalated share", report.benign_escalated_share),
        (
            f"benign escalated at recall {report.target_recall:.2f} (best threshold on this data)",
            report.benign_escalated_at_target,
        ),
    ):
        summary.add_row(label, "-" if value is None else f"{value:.3f}")
    summary.add_row("allow below / act at", f"{report.routing.allow_below:.4f} / {report.routing.act_above:.4f}")
    th = report.extra.get("thresholds")
    if isinstance(th, dict):
        summary.add_row("thresholds for", str(th["applies_to"]) + (" (overridden: " + ", ".join(th["overridden"]) + ")" if th["overridden"] else ""))
        if th["calibrated_recall"] is not None:
            summary.add_row(
                "their calibrated price",
                f"recall {th['calibrated_recall']:.3f}, benign escalated {th['calibrated_benign_escalated_share']:.3f} "
                f"({th['calibrated_on']})",
            )
    out.print(summary)
    if isinstance(th, dict) and th["per_source"]:
        held = Table(title="calibration: each training source held out (leave-one-dataset-out)")
        for col in ("held-out source", "rows", "unsafe", "recall", "benign escalated"):
            held.add_column(col, justify="left" if col == "held-out source" else "right")
        for name, f in sorted(th["per_source"].items()):
            held.add_row(
                name, str(f["n"]), str(f["unsafe"]),
                "-" if f["recall"] is None else f"{f['recall']:.3f}",
                "-" if f["benign_escalated_share"] is None else f"{f['benign_escalated_share']:.3f}",
            )  # fmt: skip
        out.print(held)
    confusion = Table(title="confusion matrix (rows: label, columns: prediction)")
    confusion.add_column("")
    confusion.add_column("escalated/unsafe", justify="right")
    confusion.add_column("allowed", justify="right")
    confusion.add_row("unsafe", str(report.tp), str(report.fn))
    confusion.add_row("safe", str(report.fp), str(report.tn))
    out.print(confusion)
    cats = Table(title="per category")
    for col in ("category", "n", "unsafe", "recall", "escalated share"):
        cats.add_column(col, justify="left" if col == "category" else "right")
    for name, stats in sorted(report.per_category.items(), key=lambda kv: -kv[1].n):
        cats.add_row(
            name,
            str(stats.n),
            str(stats.unsafe),
            "-" if stats.recall is None else f"{stats.recall:.3f}",
            f"{stats.escalated_share:.3f}",
        )
    out.print(cats)
    sweep = Table(title="threshold sweep (allow below t)")
    for col in ("t", "recall", "escalated", "benign escalated"):
        sweep.add_column(col, justify="right")
    for p in report.sweep[:: max(1, len(report.sweep) // 20)]:
        sweep.add_row(
            f"{p.threshold:.3f}", f"{p.recall:.3f}", f"{p.escalated_share:.3f}", f"{p.benign_escalated_share:.3f}"
        )
    out.print(sweep)
    if plot is not None:
        out.print(f"curve written to {plot}")
