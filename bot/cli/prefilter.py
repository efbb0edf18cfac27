"""``modbot train-prefilter`` and ``modbot eval``, mounted on the root app by :func:`register`.

``eval`` lives in :mod:`modbot.cli.evaluation`; what both commands share, in :mod:`modbot.cli.prefilter_common`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from modbot.cli.evaluation import eval_command
from modbot.cli.prefilter_common import (
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
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the model, thresholds.json and MODEL_CARD.md to.")
    ],
    data: Annotated[
        Optional[list[Path]],
        typer.Argument(help="Labelled JSON-lines files (text, unsafe, category).", show_default=False),
    ] = None,
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
    ensemble: Annotated[
        int, typer.Option("--ensemble", help="MLPs (seeds) the final embedding head averages.", min=1)
    ] = 3,
    oof_ensemble: Annotated[
        Optional[int],
        typer.Option("--oof-ensemble", help="MLPs per out-of-fold head (default: --ensemble); fewer is faster.", min=1),
    ] = None,
    lodo: Annotated[
        Optional[bool],
        typer.Option(
            "--lodo/--no-lodo",
            help="Calibrate the thresholds for unknown communities leave-one-dataset-out (default: when the data "
            "has two or more sources).",
        ),
    ] = None,
    lodo_combine: Annotated[
        str,
        typer.Option(
            "--lodo-combine",
            help="worst (every held-out source reaches the target recall), macro (their mean does) or pooled.",
        ),
    ] = "worst",
    blend_on: Annotated[
        str,
        typer.Option(
            "--blend-on", help="Fit the blend weights on out-of-fold values (oof) or on the held-out sources' (lodo)."
        ),
    ] = "oof",
    folds: Annotated[int, typer.Option("--folds", help="Cross-validation folds for the out-of-fold values.", min=2)] = 5,
    max_per_source: Annotated[
        Optional[int],
        typer.Option("--max-per-source", help="Use at most N rows of each source (a deterministic sample).", min=1),
    ] = None,
    from_db: Annotated[
        bool, typer.Option("--from-db", help="Also train on the database's labels (VerdictLog.labels).")
    ] = False,
    server: Annotated[Optional[str], typer.Option("--server", help="--from-db: one server's labels.")] = None,
    community: Annotated[
        Optional[str], typer.Option("--community", help="--from-db: the labels of one community's servers.")
    ] = None,
    database_url: Annotated[Optional[str], typer.Option("--database-url", help="Overrides the setting.")] = None,
    config_file: Annotated[Optional[Path], typer.Option("--config", help="Settings file (default ./modbot.toml).")] = None,
    hold_back: Annotated[
        str, typer.Option("--hold-back", help="--from-db: leave out the held-back evaluation slice (traffic|all; none keeps every label).")
    ] = "none",
    fast: Annotated[
        bool, typer.Option("--fast", help="One MLP, 3 folds, no LODO, no communities (what serve's retraining uses).")
    ] = False,
    final_fit: Annotated[
        Optional[str],
        typer.Option(
            "--final-fit",
            help="refit (every part fitted once more on all rows) or folds (the out-of-fold models averaged, the "
            "models the thresholds were calibrated on). Default: folds with --fast, else refit.",
        ),
    ] = None,
    language_routing: Annotated[
        bool,
        typer.Option(
            "--language-routing/--no-language-routing",
            help="Calibrate with messages in languages outside the model's counted as escalated, as the judge "
            'routes them (unknown_language = "escalate"); off for servers set to "prefilter".',
        ),
    ] = True,
) -> None:
    """Train the prefilter classifier on labelled messages and calibrate its thresholds."""
    from modbot.stages.prefilter.embedder import EmbedderConfig, EmbeddingModelError, OnnxEmbedder
    from modbot.training.train import TrainConfig, TrainError, train_prefilter
    from modbot.training.config import FINAL_FITS

    if split not in ("all", "train", "test"):
        raise fail("--split must be all, train or test")
    if lodo_combine not in ("macro", "pooled", "worst"):
        raise fail("--lodo-combine must be macro, pooled or worst")
    if blend_on not in ("oof", "lodo"):
        raise fail("--blend-on must be oof or lodo")
    if final_fit is not None and final_fit not in FINAL_FITS:
        raise fail(f"--final-fit must be {' or '.join(FINAL_FITS)}")
    data = data or []
    if not data and not from_db:
        raise fail("give labelled files, --from-db, or both")
    rows = load_rows(data, split, holdout, seed, limit) if data else []
    if from_db:
        from modbot.cli.from_db import rows_from_db
        from modbot.config import SettingsError, load_settings

        try:
            settings = load_settings(config_file, **({"database_url": database_url} if database_url else {}))
        except SettingsError as exc:
            raise fail(str(exc)) from None
        db_rows = rows_from_db(settings, server=server, community=community, hold_back=hold_back)
        err.print(f"{len(db_rows)} labels from the database" + (f" (without the {hold_back} slice)" if hold_back != "none" else ""))
        rows = [*rows, *db_rows]
        if not rows:
            raise fail("no labels in the database for that choice")
    if max_per_source is not None:
        from modbot.training.data import cap_per_source

        rows = cap_per_source(rows, max_per_source, seed=seed)
    loaded_policy = load_policy_or_fail(policy)
    from modbot.stages.prefilter.ngrams import NgramSpec

    if fast:
        from modbot.training.learning import fast_config

        config = replace(
            fast_config(len(rows), target_recall=target_recall), name=name or "learned", use_embeddings=not no_embeddings
        )
    else:
        config = TrainConfig(
            target_recall=target_recall,
            act_precision=act_precision,
            use_embeddings=not no_embeddings,
            communities=False if no_communities else None,
            memory=not no_memory,
            embed_hidden=hidden,
            embed_ensemble=ensemble,
            oof_ensemble=oof_ensemble,
            lodo=lodo,
            lodo_combine=lodo_combine,
            blend_on=blend_on,
            folds=folds,
            name=name,
            ngrams=NgramSpec(max_features=max_features),
        )
    config = replace(config, count_language_routing=language_routing, final_fit=final_fit or config.final_fit)
    embedder = None if no_embeddings else OnnxEmbedder(EmbedderConfig(model_path=embedding_model))
    sources = [str(p) for p in data] + (["database labels"] if from_db else []) + ([f"split={split} holdout={holdout} seed={seed}"] if split != "all" else [])
    if max_per_source is not None:
        sources.append(f"max-per-source={max_per_source}")
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
            f"  servers that name no community (in distribution): allow below {s.allow_below:.4f} -> recall "
            f"{s.recall:.3f}, benign escalated {s.benign_escalated_share:.3f}"
        )
    if result.unknown_thresholds is not None:
        u = result.unknown_thresholds
        err.print(f"  unknown communities (leave-one-dataset-out, {u.combine}): {u.describe()}")
        for name, row in sorted(u.per_source.items()):
            err.print(
                f"    held out {name}: recall {row['recall'] if row['recall'] is not None else '-'}, "
                f"benign escalated {row['benign_escalated_share'] if row['benign_escalated_share'] is not None else '-'}"
            )
    if result.timings:
        err.print("  seconds per step: " + ", ".join(f"{k} {v}" for k, v in result.timings.items()))


def register(app: typer.Typer) -> None:
    """Add ``train-prefilter`` and ``eval`` to the root ``modbot`` app."""
    app.command("train-prefilter")(train_prefilter_command)
    app.command("eval")(eval_command)
