"""``modbot train-prefilter`` and ``modbot eval``, mounted on the root app by :func:`register`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["register"]

err = Console(stderr=True, highlight=False, soft_wrap=True)
EXIT_USAGE = 2

DataArg = Annotated[
    list[Path], typer.Argument(help="Labelled JSON-lines files (text, unsafe, category).", show_default=False)
]
HoldoutOpt = Annotated[
    float, typer.Option("--holdout", help="Share of rows (whole conversations) held out by --split.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the held-out split.")]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", help="Use at most N rows (after the split).", min=1)]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(EXIT_USAGE)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _load_rows(files: list[Path], split: str, holdout: float, seed: int, limit: int | None):
    from bot.training.data import DataError, read_rows_many, split_rows

    try:
        rows = read_rows_many(files)
        if split != "all":
            train, test = split_rows(rows, holdout=holdout, seed=seed)
            rows = train if split == "train" else test
    except (DataError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise _fail("no rows left to use")
    return rows


def _load_policy(path: Path | None):
    from bot.domain.policy import PolicyError, load_policy

    if path is None:
        return None
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise _fail(str(exc)) from None


def train_prefilter_command(
    data: DataArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the model, thresholds.json and MODEL_CARD.md to.")
    ],
    target_recall: Annotated[
        float,
        typer.Option("--target-recall", help="Recall of unsafe messages the allow threshold keeps.", min=0.5, max=1.0),
    ] = 0.95,
    act_precision: Annotated[
        float, typer.Option("--act-precision", help="Precision needed to act on the score alone.", min=0.5, max=1.0)
    ] = 0.98,
    policy: Annotated[
        Optional[Path], typer.Option("--policy", "-p", help="Calibrate together with this policy's keyword stage.")
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="all | train (leave the held-out part for eval --split test).")
    ] = "all",
    holdout: HoldoutOpt = 0.3,
    seed: SeedOpt = 0,
    limit: LimitOpt = None,
    no_embeddings: Annotated[bool, typer.Option("--no-embeddings", help="n-gram model only (no MiniLM).")] = False,
    embedding_model: Annotated[
        Optional[Path], typer.Option("--embedding-model", help="ONNX file (default: the packaged MiniLM).")
    ] = None,
    name: Annotated[
        str, typer.Option("--name", help="Model name recorded in the card (default: the folder name).")
    ] = "",
    max_features: Annotated[
        int, typer.Option("--max-features", help="Keep at most this many n-grams (bounds the model size).", min=100)
    ] = 200_000,
    no_communities: Annotated[
        bool,
        typer.Option(
            "--no-communities",
            help="One n-gram model for all sources (default: a shared model plus a correction per source "
            "when the data has two or more sources with enough rows).",
        ),
    ] = False,
    no_memory: Annotated[
        bool,
        typer.Option(
            "--no-memory", help="Do not keep the training messages' embeddings for the nearest-neighbour rate."
        ),
    ] = False,
    hidden: Annotated[
        int, typer.Option("--hidden", help="Hidden units of the embedding head (0: logistic regression).", min=0)
    ] = 256,
) -> None:
    """Train the prefilter classifier on labelled messages and calibrate its thresholds."""
    from bot.stages.prefilter.embedder import EmbedderConfig, EmbeddingModelError, OnnxEmbedder
    from bot.training.train import TrainConfig, TrainError, train_prefilter

    if split not in ("all", "train", "test"):
        raise _fail("--split must be all, train or test")
    rows = _load_rows(data, split, holdout, seed, limit)
    loaded_policy = _load_policy(policy)
    from bot.stages.prefilter.ngrams import NgramSpec

    config = TrainConfig(
        target_recall=target_recall,
        act_precision=act_precision,
        use_embeddings=not no_embeddings,
        communities=False if no_communities else None,
        memory=not no_memory,
        embed_hidden=hidden,
        name=name,
        ngrams=NgramSpec(max_features=max_features),
    )
    embedder = None if no_embeddings else OnnxEmbedder(EmbedderConfig(model_path=embedding_model))
    sources = [str(p) for p in data] + ([f"split={split} holdout={holdout} seed={seed}"] if split != "all" else [])
    with _progress() as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        try:
            result = train_prefilter(
                rows, out, config=config, policy=loaded_policy, embedder=embedder, progress=report, sources=sources
            )
        except (TrainError, EmbeddingModelError, OSError) as exc:
            raise _fail(str(exc)) from None
    t = result.thresholds
    err.print(
        f"[green]trained[/green] {out}: {result.rows} rows ({result.unsafe} unsafe), {result.vocabulary} n-grams, "
        f"out-of-fold AUC {result.oof_auc:.4f}, {result.seconds:.0f} s\n"
        f"  allow below {t.allow_below:.4f} -> recall {t.recall:.3f}, benign escalated {t.benign_escalated_share:.3f}; "
        f"act at or above {t.act_above:.4f}"
    )
    if result.shared_thresholds is not None:
        s = result.shared_thresholds
        err.print(
            f"  servers that name no community: allow below {s.allow_below:.4f} -> recall {s.recall:.3f}, "
            f"benign escalated {s.benign_escalated_share:.3f}"
        )


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
    from bot.stages.prefilter.embedder import EmbeddingModelError
    from bot.stages.prefilter.model import ModelError

    if stages not in ("prefilter", "full"):
        raise _fail("--stages must be prefilter or full")
    if split not in ("all", "train", "test"):
        raise _fail("--split must be all, train or test")
    rows = _load_rows(data, split, holdout, seed, limit)
    loaded_policy = _load_policy(policy)
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
        raise _fail(str(exc)) from None
    report.extra["data"] = [str(p) for p in data]
    report.extra["split"] = split if split == "all" else f"{split} (holdout {holdout}, seed {seed})"
    if plot is not None:
        from bot.training.evaluate import plot_sweep

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
    from bot.moderation.judge import Judge, Routing
    from bot.stages.keywords import KeywordMatcher
    from bot.training.evaluate import evaluate_rows
    from bot.stages.prefilter.scorer import load_prefilter

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
        raise _fail(f"--community {community!r}: the model has no such community (it has: {', '.join(known) or 'none'})")
    reasoner = None
    if stages == "full":
        from bot.app import build_reasoner
        from bot.config import SettingsError, load_settings

        if model is not None and not model.is_file():
            raise FileNotFoundError(f"model file not found: {model}")
        try:
            settings = load_settings(config)
        except SettingsError as exc:
            raise _fail(str(exc)) from None
        reasoner = build_reasoner(settings, model)
        if reasoner is None:
            raise _fail("--stages full needs a reasoner: pass --model FILE.gguf or configure [reasoner]")
    policy = policy or _neutral_policy()
    th = prefilter.thresholds
    # None: the Judge uses the prefilter's calibrated thresholds, as it does for a server.
    routing = Routing(allow_below=allow_below, act_above=act_above)
    judge = Judge(prefilter=prefilter, reasoner=reasoner)
    matcher = KeywordMatcher.build(policy)
    try:
        with _progress() as progress:
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
    return report


def _neutral_policy():
    """A policy with no keywords, for measuring the prefilter alone."""
    from bot.domain.policy import parse_policy

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
    out.print(summary)
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


def register(app: typer.Typer) -> None:
    """Add ``train-prefilter`` and ``eval`` to the root ``modbot`` app."""
    app.command("train-prefilter")(train_prefilter_command)
    app.command("eval")(eval_command)
