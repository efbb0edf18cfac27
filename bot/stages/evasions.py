"""Layout evasions undone for the keyword stage: the spaced-letter joiner and the rewritten readings.

Used by :mod:`modbot.stages.normalize`; nothing here is public API.

The joiner (:func:`join_spaced_runs`)
    Joins runs of three or more single token characters separated by one to three separator
    characters (spaces, ``. - _ * / , ~ ( ) [ ]``) when one of them is a letter: "s e l l",
    "f.u.c.k". In non-ASCII text, symbols (Unicode ``So``/``Sk``: emoji, skin-tone modifiers,
    dingbats, arrows...) also separate (up to four of them), so "n😂i😂g" and "k💀y💀s" join; the
    ZWJ and variation selectors of emoji sequences are gone by then (``clean`` drops ``Cf``,
    ``folded`` drops variation selectors). A run whose gaps are of two widths ("s e l l i n g  a i m
    b o t": one space inside words, two or more between) is joined word by word, so the wider gaps
    stay word boundaries ("selling aimbot"). A run spaced evenly is joined whole, as before.

The rewritten readings (:func:`rewritten_texts`)
    Evasions that change the word layout cannot be an alternate of ``folded`` (alternates share its
    words one for one), so they are whole other texts that :func:`~modbot.stages.normalize.normalize`
    normalises on their own into :attr:`NormalizedText.readings`:

    * Discord spoiler bars: ``||n||||i||||g||`` or ``||free||||nitro||`` render as letters or words
      in adjacent spoiler boxes. Two readings: every ``||`` as a space (then the joiner joins single
      letters, and "free nitro" stays two words) and every ``||`` removed ("||nig||||ger||").
    * Right-to-left overrides: text after U+202E (RLO) up to U+202C (PDF), U+2069 (PDI) or the end
      of the line is stored backwards and displayed forwards ("\\u202etobmia gnilles" shows "selling
      aimbot"); the reading reverses each such run. Runs inside U+2067 (RLI) ... U+2069 (PDI) are
      reversed too. (An isolate alone reverses the order of Latin words, not their letters; the
      reversed reading costs little and catches clients that render it as an override.)
    * Discord markdown inside a word: ``~~n~~igger``, ```k``y``s``` render as one word with a
      struck-through or code-styled letter; the reading drops the ``~ ` *`` markers.
    * Upside-down text ("ɹǝƃƃıu", from "flip text" generators): the reading is the text turned
      back (reversed, each turned letter mapped to the letter it was turned from). Only text with two
      or more of the turned letters that ordinary words do not use gets this reading.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

__all__ = ["join_spaced_runs", "may_rewrite", "rewritten_texts"]

# A "token character" is a letter or digit, or one of the leet symbols that stand in for letters.
_TOKEN_CHAR = r"(?:[^\W_]|[@$!|])"
_NOT_AFTER_TOKEN = r"(?<![^\W_])(?<![@$!|])"
_NOT_BEFORE_TOKEN = r"(?![^\W_])(?![@$!|])"
_SEPARATORS = r"\s.\-_*/,~()\[\]"
_HAS_LETTER = re.compile(r"[^\W\d_]")
_WIDE_GAP = re.compile(r"\s{2,}")
_NON_ASCII_NON_WORD = re.compile(r"[^\w\s\x00-\x7f]")


def _patterns(separator: str, most: int) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    spaced = re.compile(
        rf"{_NOT_AFTER_TOKEN}{_TOKEN_CHAR}(?:{separator}{{1,{most}}}{_TOKEN_CHAR}{_NOT_BEFORE_TOKEN}){{2,}}"
    )
    # Cheap guard for the run pattern: a joinable run has a single character between separators.
    hint = re.compile(rf"{separator}{_TOKEN_CHAR}{separator}")
    return spaced, re.compile(rf"{separator}+"), hint


_ASCII = _patterns(f"[{_SEPARATORS}]", 3)


def _symbol_class() -> str:
    """The So/Sk characters of the blocks that hold them (Latin-1 to the end of the emoji planes)."""
    body: list[str] = []
    for low, high in ((0x80, 0x3400), (0x4DC0, 0x4E00), (0xA000, 0x10000), (0x1D000, 0x1FC00)):
        start = None
        for cp in range(low, high + 1):
            symbol = cp < high and unicodedata.category(chr(cp)) in ("So", "Sk")
            if symbol and start is None:
                start = cp
            elif not symbol and start is not None:
                body.append(re.escape(chr(start)) + ("-" + re.escape(chr(cp - 1)) if cp - 1 > start else ""))
                start = None
    return "".join(body)


@cache
def _unicode_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    # Built on first use (about 20 ms): most processes see little non-ASCII spaced-out text.
    return _patterns(f"[{_SEPARATORS}{_symbol_class()}]", 4)


def _join_run(match: re.Match[str], drop: re.Pattern[str]) -> str:
    run = match.group()
    if _HAS_LETTER.search(run) is None:
        return run  # "1 2 3", "4 / 2 / 0": numbers, not a spelled word
    if "  " in run:
        parts = run.split("  ")
        if any(drop.search(part.strip()) for part in parts):
            # Gaps of two widths: the wider ones are word boundaries.
            return " ".join(drop.sub("", part) for part in parts)
    return drop.sub("", run)


def join_spaced_runs(text: str, *, symbols: bool = False) -> str:
    """``text`` with whitespace collapsed to single spaces and spaced-out letters joined.

    ``symbols``: also treat emoji and other symbols as separators (the non-ASCII path).
    """
    spaced, drop, hint = _ASCII
    if hint.search(text) is None:
        # The symbol hint (a large class, slower) only for text that holds a non-ASCII symbol at all.
        if not symbols or _NON_ASCII_NON_WORD.search(text) is None:
            return " ".join(text.split())
        spaced, drop, hint = _unicode_patterns()
        if hint.search(text) is None:
            return " ".join(text.split())
    elif symbols:
        spaced, drop, hint = _unicode_patterns()
    if _WIDE_GAP.search(text) is not None:
        # Keep one mark of a wide gap ("  ") for the joiner; every other gap becomes one space.
        text = "  ".join(" ".join(part.split()) for part in _WIDE_GAP.split(text.strip()))
    else:
        text = " ".join(text.split())
    text = spaced.sub(lambda m: _join_run(m, drop), text)
    return " ".join(text.split()) if "  " in text else text


# --- rewritten readings ----------------------------------------------------------------------------

# An override run: RLO up to PDF/PDI/end of line; an isolate: RLI up to PDI (an RLO inside it is
# its own run, so it is not reversed twice).
_RTL_RUN = re.compile("\u202e([^\u202c\u2069\n]*)|\u2067([^\u2069\n\u202e]*)")


def _reverse_run(match: re.Match[str]) -> str:
    run = match.group(1) if match.group(1) is not None else match.group(2)
    return run[::-1]


# Markdown markers that style part of a word without breaking it on screen.
_MARKDOWN_IN_WORD = re.compile(r"[~`*]+")
# Turned letters of "flip text" generators and the letter each was turned from. The first group
# never occurs in ordinary words of any language (so two of them mark flipped text); the rest are
# ordinary letters that stand for another letter once turned (n/u, p/d, b/q, ...).
_TURNED_MARKERS = "ɐɔǝɟƃɥᴉʞɯɹʇʌʍʎ"
_TURNED = str.maketrans(
    {**dict(zip(_TURNED_MARKERS, "acefghikmrtvwy")), "ı": "i", "ɾ": "j", "ן": "l", "ʅ": "l", "n": "u", "u": "n", "p": "d", "d": "p",
     "q": "b", "b": "q", "¡": "i", "¿": "?", "˙": "."}
)
_TURNED_HINT = re.compile(f"[{_TURNED_MARKERS}].*[{_TURNED_MARKERS}]", re.DOTALL)


def may_rewrite(text: str) -> bool:
    """Cheap guard: True when :func:`rewritten_texts` may find another reading of ``text``."""
    return (
        "||" in text
        or "\u202e" in text
        or "\u2067" in text
        or "~~" in text
        or "`" in text
        or (not text.isascii() and _TURNED_HINT.search(text) is not None)
    )


def rewritten_texts(text: str) -> tuple[str, ...]:
    """Other texts ``text`` displays as (spoiler bars, RTL overrides, in-word markdown and flipped
    text undone); empty for most chat."""
    texts = [text]
    if "\u202e" in text or "\u2067" in text:
        texts.append(_RTL_RUN.sub(_reverse_run, text))
    if "||" in text:
        texts += [t.replace("||", " ") for t in texts] + [t.replace("||", "") for t in texts]
    if "~~" in text or "`" in text:
        texts += [_MARKDOWN_IN_WORD.sub("", t) for t in texts]
    if not text.isascii() and _TURNED_HINT.search(text) is not None:
        texts.append(text[::-1].translate(_TURNED))
    return tuple(dict.fromkeys(t for t in texts[1:] if t != text))
