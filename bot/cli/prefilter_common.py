"""What the prefilter commands share: data and policy loading, options, errors and progress bars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modbot.domain.policy import Policy, PolicyError
from modbot.policy_files import load_policy
from modbot.training.data import DataError, LabelledRow, read_rows_many, split_rows

__all__ = [
    "DataArg",
    "EXIT_USAGE",
    "HoldoutOpt",
    "LimitOpt",
    "SeedOpt",
    "err",
    "fail",
    "load_policy_or_fail",
    "load_rows",
    "progress_bars",
]

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



def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error; the caller raises the returned exit (usage error, code 2)."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(EXIT_USAGE)


def progress_bars() -> Progress:
    """Progress bars on stderr (stdout stays for results)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def load_rows(files: list[Path], split: str, holdout: float, seed: int, limit: int | None) -> list[LabelledRow]:
    """The labelled rows of ``files`` (``split``: all, train or test part); a usage error when none are left."""
    try:
        rows = read_rows_many(files)
        if split != "all":
            train, test = split_rows(rows, holdout=holdout, seed=seed)
            rows = train if split == "train" else test
    except (DataError, ValueError) as exc:
        raise fail(str(exc)) from None
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise fail("no rows left to use")
    return rows


def load_policy_or_fail(path: Path | None) -> Policy | None:
    """The policy file at ``path`` (None: no policy); a usage error when it is invalid."""
    if path is None:
        return None
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise fail(str(exc)) from None
