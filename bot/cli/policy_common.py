"""What ``modbot policy test`` and ``modbot policy replay`` share: labelled rows, the stages, the policy.

Labelled data is the project's JSON-lines format (``modbot.training.data``: ``text``, ``unsafe``,
``category``), and for policy work also ``label`` (0/1, true/false, "violation"/"safe") or
``violation`` instead of ``unsafe``, and ``rule_id`` instead of ``category``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from modbot.cli.prefilter_common import err, fail
from modbot.training.data import MAX_TEXT_CHARS, DataError, LabelledRow

if TYPE_CHECKING:
    from modbot.config import AppSettings
    from modbot.ports import Prefilter, Reasoner

__all__ = ["ModelOpt", "NoPrefilterOpt", "PrefilterOpt", "build_stages", "load_settings_or_fail", "read_labelled"]

ModelOpt = Annotated[
    Optional[Path], typer.Option("--model", "-m", help="GGUF of gpt-oss-safeguard (in-process llama.cpp); default: settings.")
]
PrefilterOpt = Annotated[Optional[Path], typer.Option("--prefilter", help="Prefilter model folder (default: settings).")]
NoPrefilterOpt = Annotated[bool, typer.Option("--no-prefilter", help="Skip the embedding stage.")]

_TRUE = {"1", "true", "yes", "violation", "unsafe", "spam", "invalid"}
_FALSE = {"0", "false", "no", "safe", "ok", "none", "valid"}


def _label(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return None


def read_labelled(path: Path) -> list[LabelledRow]:
    """The rows of a labelled JSON-lines file; :class:`DataError` names the line of the first bad row."""
    rows: list[LabelledRow] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", path=str(path)) from None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc.msg})", path=str(path), line=number) from None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not data["text"].strip():
            raise DataError('expected an object with a non-empty "text"', path=str(path), line=number)
        if len(data["text"]) > MAX_TEXT_CHARS:
            raise DataError(f'"text" is longer than {MAX_TEXT_CHARS} characters', path=str(path), line=number)
        key = next((k for k in ("label", "violation", "unsafe") if k in data), None)
        label = _label(data[key]) if key else None
        if label is None:
            raise DataError(
                'needs "label" (or "violation", "unsafe"): 0/1, true/false or "violation"/"safe"',
                path=str(path),
                line=number,
            )
        category = data.get("category") or data.get("rule_id") or "none"
        rows.append(
            LabelledRow(
                text=data["text"],
                unsafe=label,
                category=str(category),
                source=str(data.get("source") or path.stem),
                id=str(data["id"]) if data.get("id") is not None else f"{path.stem}:{number}",
            )
        )
    if not rows:
        raise DataError("no rows", path=str(path))
    return rows


def load_labelled_or_fail(path: Path) -> list[LabelledRow]:
    """:func:`read_labelled`, with a usage error (exit 2) instead of an exception."""
    try:
        return read_labelled(path)
    except DataError as exc:
        raise fail(str(exc)) from None


def load_settings_or_fail(config: Path | None) -> AppSettings:
    """The settings (``--config``, ``$MODBOT_CONFIG`` or ./modbot.toml), or a usage error naming the mistake."""
    from modbot.config import SettingsError, load_settings

    try:
        return load_settings(config)
    except SettingsError as exc:
        raise fail(str(exc)) from None


def build_stages(
    settings: AppSettings, model: Path | None, prefilter_dir: Path | None, no_prefilter: bool
) -> tuple[Reasoner | None, Prefilter | None]:
    """The reasoner (``--model``: in-process llama.cpp; else the configured one, or none) and the prefilter."""
    from modbot.app import build_prefilter, build_reasoner
    from modbot.stages.reasoner import ReasonerConfigError

    if model is not None and not model.is_file():
        raise fail(f"model file not found: {model}")
    try:
        reasoner = build_reasoner(settings, model)
    except ReasonerConfigError as exc:
        if model is not None:
            raise fail(str(exc)) from None
        err.print(f"[yellow]no reasoner[/yellow] ({exc}): the fast stages alone judge")
        reasoner = None
    try:
        prefilter = None if no_prefilter else build_prefilter(settings, prefilter_dir)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot load the prefilter: {exc}") from None
    return reasoner, prefilter
