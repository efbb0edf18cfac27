"""``modbot train-prefilter`` and ``modbot eval``, mounted on the root app by :func:`register`.

``eval`` lives in :mod:`bot.cli.evaluation`; what both commands share, in :mod:`bot.cli.prefilter_common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bot.cli.evaluation import eval_command
from bot.cli.prefilter_common import (
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

__all__ = ["register", "train_prefilter_command"]


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
        raise fail("--split must be all, train or test")
    rows = load_rows(data, split, holdout, seed, limit)
    loaded_policy = load_policy_or_fail(policy)
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
    with progress_bars() as progress:
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
            raise fail(str(exc)) from None
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


def register(app: typer.Typer) -> None:
    """Add ``train-prefilter`` and ``eval`` to the root ``modbot`` app."""
    app.command("train-prefilter")(train_prefilter_command)
    app.command("eval")(eval_command)
