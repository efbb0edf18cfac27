"""Labelled message files (JSON lines) for training and evaluating the prefilter.

One JSON object per line: ``{"text": str, "unsafe": 0|1, "category": str}``; ``id``, ``source``,
``conversation`` and ``noise`` (the probability that the row's label is flipped, below 0.5; default 0:
a hand-checked label) are optional and kept. This is the row format of the project's evaluation data.
Blank lines are skipped; anything else that is not a valid row stops the read with a
:class:`DataError` naming the file and line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modbot.stages.language import training_languages

__all__ = ["DataError", "LabelledRow", "cap_per_source", "read_rows", "read_rows_many", "row_languages", "split_rows"]

#: CONDA joins the utterances of one chat turn with this marker; a chat message would carry line
#: breaks there, so the reader turns it into one.
_UTTERANCE_MARKER = " [SEPA] "
MAX_TEXT_CHARS = 20_000


class DataError(ValueError):
    """A data file that cannot be used; ``path`` and ``line`` point at the mistake."""

    def __init__(self, reason: str, *, path: str, line: int | None = None):
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class LabelledRow:
    """One labelled message."""

    text: str
    unsafe: bool
    category: str = "none"
    source: str = ""
    id: str = ""
    #: Messages of one chat share this; splits keep a conversation on one side.
    conversation: str | None = None
    #: The row's language (ISO 639-1) when the file says (a ``lang`` field); else identified.
    lang: str | None = None
    #: How many messages the row stands for (an audited label: 1 / audit_share); calibration weighs by it.
    weight: float = 1.0
    #: The probability that ``unsafe`` is the flip of the truth, whichever the truth is (0: trusted).
    #: Calibration corrects recall for it (:func:`modbot.stages.prefilter.thresholds.truth_weights`).
    noise: float = 0.0
    #: The flip rate the fitting filter (:mod:`modbot.training.noise`) reads, where it differs from
    #: ``noise``: a moderator's upheld review is the truth (0) although calibration counts it as a
    #: noise-equivalent weight (:func:`modbot.training.learning.label_noises`). None: ``noise``.
    fit_noise: float | None = None

    @property
    def fitting_noise(self) -> float:
        """The flip rate fitting reads (``fit_noise``, else ``noise``)."""
        return self.noise if self.fit_noise is None else self.fit_noise

    @property
    def group_key(self) -> str:
        """What a held-out split is drawn by: the conversation when known, else the row itself."""
        if self.conversation is not None:
            return f"{self.source}:conv:{self.conversation}"
        return f"{self.source}:id:{self.id}" if self.id else f"text:{self.text}"


def _parse_row(raw: str, path: str, number: int) -> LabelledRow:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg} at column {exc.colno})", path=path, line=number) from None
    if not isinstance(data, dict):
        raise DataError(f"expected a JSON object, got {type(data).__name__}", path=path, line=number)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataError('"text" must be a non-empty string', path=path, line=number)
    if len(text) > MAX_TEXT_CHARS:
        raise DataError(f'"text" is longer than {MAX_TEXT_CHARS} characters', path=path, line=number)
    unsafe = data.get("unsafe")
    # bool is a subclass of int: True/False and 0/1 are all fine, 2 or "yes" are not.
    if unsafe not in (0, 1) or isinstance(unsafe, float):
        raise DataError(f'"unsafe" must be 0 or 1 (or true/false), got {unsafe!r}', path=path, line=number)
    category = data.get("category", "none")
    if category is None:
        category = "none"
    if not isinstance(category, str):
        raise DataError(f'"category" must be a string, got {type(category).__name__}', path=path, line=number)
    conversation = data.get("conversation")
    noise = data.get("noise", 0.0)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise < 0.5:
        raise DataError(f'"noise" must be a number in [0, 0.5), got {noise!r}', path=path, line=number)
    return LabelledRow(
        text=text.replace(_UTTERANCE_MARKER, "\n"),
        unsafe=bool(unsafe),
        category=category or "none",
        source=str(data.get("source") or Path(path).stem),
        id=str(data.get("id") if data.get("id") is not None else f"{Path(path).stem}:{number}"),
        conversation=None if conversation is None else str(conversation),
        lang=str(data["lang"]) if data.get("lang") else None,
        noise=float(noise),
    )


def read_rows(path: str | Path, *, limit: int | None = None) -> list[LabelledRow]:
    """Read one JSON-lines file; raises :class:`DataError` (with the line) on the first bad row."""
    path = Path(path)
    rows: list[LabelledRow] = []
    try:
        with path.open("r", encoding="utf-8") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                rows.append(_parse_row(raw, str(path), number))
                if limit is not None and len(rows) >= limit:
                    break
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", path=str(path)) from None
    if not rows:
        raise DataError("no rows", path=str(path))
    return rows


def read_rows_many(paths: Iterable[str | Path]) -> list[LabelledRow]:
    """Read several files, in order."""
    rows: list[LabelledRow] = []
    for path in paths:
        rows.extend(read_rows(path))
    return rows


def _in_holdout(key: str, seed: int, share: float) -> bool:
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def split_rows(
    rows: Sequence[LabelledRow], *, holdout: float = 0.3, seed: int = 0
) -> tuple[list[LabelledRow], list[LabelledRow]]:
    """Deterministic (train, held-out) split; a conversation never straddles the two sides.

    Membership depends only on the seed and each row's :attr:`LabelledRow.group_key`, not on file
    order or on which other files were read, so ``train-prefilter`` and ``eval`` given the same seed
    and share agree on the split without sharing any state.
    """
    if not 0.0 < holdout < 1.0:
        raise ValueError("the held-out share must be between 0 and 1")
    train: list[LabelledRow] = []
    test: list[LabelledRow] = []
    for row in rows:
        (test if _in_holdout(row.group_key, seed, holdout) else train).append(row)
    return train, test


def cap_per_source(rows: Sequence[LabelledRow], limit: int, *, seed: int = 0) -> list[LabelledRow]:
    """At most ``limit`` rows of each source: a deterministic sample (by each row's group key), in file order.

    For sources that would otherwise dominate training (50,000 unlabelled IRC lines next to 769
    ToxiGen sentences). Rows are ranked by a hash of their group key, so a conversation's rows
    stay together in the ranking.
    """
    by_source: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_source.setdefault(row.source, []).append(i)
    keep: set[int] = set()
    for indices in by_source.values():
        if len(indices) <= limit:
            keep.update(indices)
            continue
        ranked = sorted(
            indices,
            key=lambda i: hashlib.blake2b(
                f"{seed}\x00{rows[i].group_key}".encode("utf-8", "surrogatepass"), digest_size=8
            ).digest(),
        )
        keep.update(ranked[:limit])
    return [row for i, row in enumerate(rows) if i in keep]


def row_languages(rows: Sequence[LabelledRow]) -> tuple[str, ...]:
    """The languages of at least 1% of ``rows`` (a row's ``lang`` if the file gives one, else identified).

    ``model.json`` records them; the judge does not let the prefilter alone allow a message in another.
    """
    return training_languages(rows)
