"""Text normalisation for the fast moderation stages.

:func:`normalize` turns raw chat text into two forms:

``clean``
    Safe text for storage and for the reasoner: lone surrogates become U+FFFD, control characters
    (C0/C1 except ``\\n`` and ``\\t``; line breaks of every kind become ``\\n``) are dropped, invisible
    format characters are dropped (every Unicode ``Cf`` character: zero-width space/joiners, word
    joiner, BOM, soft hyphen, Mongolian vowel separator, bidi embeddings/overrides/isolates and marks,
    the invisible "tag" characters used to smuggle hidden text to language models), so are the
    Hangul/Khmer fillers people use for blank messages, and Unicode NFKC is applied (fullwidth and
    mathematical letters, ligatures, circled letters and odd spaces become their plain forms).

``folded``
    What the keyword matcher scans. ``clean``, then: accents and other combining marks stripped,
    case folded, whitespace collapsed to single spaces, spaced-out letters joined ("s e l l",
    "f.u.c.k", "b-o-o-s-t"), look-alike letters of other scripts mapped inside mixed-script words
    (below), leetspeak mapped inside words, and runs of four or more identical letters cut to three
    (the matcher reads a run of three as "elongated": ``fuuuuck`` matches the keyword ``fuck``, while
    ``as`` never matches ``ass``).

Design choices worth knowing:

* Leetspeak (``0→o 1→i 3→e 4→a 5→s 7→t @→a $→s !→i |→i``) is mapped only inside a token that also
  holds a letter, so numbers stay numbers: "1488", "420", "$50", "10:30" and "3.5" are untouched,
  while "a$$", "4ss", "sh!t" and "n00b" are mapped. Words of gamer shorthand that mix digits and
  letters ("1v1", "ak47", "5min") are mapped too ("ivi", "akat", "smin"); that is harmless for
  whole-word keyword matching because policy keywords are folded by the same function, and regexes
  also see ``clean``. A "!" ending a word ("gg!") and "|" at either end ("||spoiler||") are kept as
  punctuation. "1" and "|" read as either "i" or "l" ("1diot", "ki11"): ``folded`` uses "i" and
  :attr:`NormalizedText.alternates` carries the "l" reading when it differs.
* Spaced-out letters are joined only when three or more single-character tokens in a row are each
  separated by one to three separator characters (spaces, ``. - _ * / , ~ ( ) [ ]``; in non-ASCII
  text also emoji and other symbols, "n😂i😂g") and at least one of them is a letter. Sentences with
  one-letter words ("I am a ...") rarely have three in a row. Wider gaps in a run ("s e l l i n g  a
  i m b o t") stay word boundaries. See :mod:`modbot.stages.evasions`.
* U+FFFD (an invalid byte or lone surrogate) inside a word is dropped in ``folded`` ("nig\ufffdger").
* :attr:`NormalizedText.readings` holds the message as it displays once spoiler bars
  ("||n||||i||||g||") or right-to-left overrides ("\u202etobmia gnilles") are undone, each
  normalised on its own; the keyword matcher scans them like ``folded``.
* The look-alike table is a compact hand-picked subset of the Unicode confusables data (UTS #39,
  ``confusables.txt``): the Cyrillic, Greek, Armenian and Latin-extension/IPA/small-capital letters
  whose prototype is a single ASCII letter, plus the negative circled/squared letters and regional
  indicator symbols that NFKC leaves alone. It is applied after case folding, so folding never
  depends on case; the few Greek letters whose capital looks like another Latin letter than the
  small form (Η/η: H/n, Μ/μ, Ν/ν, Υ/υ) get the small form's reading in ``folded`` and the capital's
  in :attr:`NormalizedText.alternates`. Latin look-alikes (ł, ı, ø, small capitals...) and the
  symbol letters are always mapped.
* Cyrillic, Greek and Armenian look-alikes are mapped **only inside mixed-script words** (a word:
  a run of letters and digits, after spaced-out letters are joined), so Russian stays Russian and a
  Russian keyword list can match it:

  - a word with no Latin letter keeps its script ("привет", "ηλιος"). If every letter of it has a
    Latin look-alike and it has three or more ("раураӏ", "ѕсам", "ΑΒΕΚ"), its Latin reading is
    added to :attr:`NormalizedText.alternates`: an all-Cyrillic word spelling a brand is a classic
    phishing trick, and keyword lists still see "paypal" while ``folded`` keeps the letters as
    typed (Russian words such as "все" get a harmless Latin reading "bce" too);
  - a word mixing Latin letters with look-alikes of another script ("nіgger" with Cyrillic і, "frее",
    "ѕсаm") is a Latin word in disguise: the look-alikes become ASCII;
  - a word mixing Latin letters with letters of another script that have no Latin look-alike
    ("нaхуй" with a Latin a) is that script's word in disguise: its Latin letters become the
    script's look-alikes when all of them have one ("нахуй"), else the word is left as typed.
* Plain ASCII text (most chat) takes a fast path that skips the Unicode work.
* ``folded`` is built from at most :data:`MAX_FOLDED_CHARS` characters of ``clean`` (and
  :attr:`NormalizedText.truncated` says so); ``clean`` itself is never cut.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from modbot.stages.evasions import join_spaced_runs, may_rewrite, rewritten_texts

__all__ = [
    "MAX_FOLDED_CHARS",
    "NormalizedText",
    "is_blank",
    "normalize",
]

#: ``folded`` covers at most this many characters of ``clean``: the keyword stage stays fast on
#: hostile 100 KB messages, and every chat platform caps messages well below it (Discord 4,000,
#: Slack 40,000 characters). Regexes also scan the whole ``clean`` text, which is not cut.
MAX_FOLDED_CHARS = 50_000


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """The normalised forms of one message; see the module documentation for what each holds."""

    #: Safe text for storage and the reasoner (controls and invisible characters removed, NFKC).
    clean: str
    #: The matching form: folded case, look-alikes and leetspeak mapped, spacing normalised.
    folded: str
    #: Other readings of ``folded`` with the same word layout ("1"/"|" read as "l" instead of "i").
    alternates: tuple[str, ...] = ()
    #: True when ``folded`` covers only the first :data:`MAX_FOLDED_CHARS` characters of ``clean``
    #: (then a regex anchored with ``$`` may see the cut end of ``folded``).
    truncated: bool = False
    #: The same message as it displays once layout evasions are undone (spoiler bars, RTL overrides),
    #: each normalised on its own (its words need not line up with ``folded``); empty for most chat.
    readings: tuple[NormalizedText, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing visible is left after cleaning (only whitespace or invisible characters)."""
        return not self.clean.strip()


# --- clean -------------------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_ASCII_DROP = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
# Everything that is a line break to a human becomes "\n"; CRLF counts once.
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
# Every Cf (format) character of Unicode 14 (the version Python 3.11 ships), C0/C1 controls except
# tab and newline, and invisible "letters" used to fake blank text (Hangul fillers, Khmer inherent
# vowels, Mongolian free variation selectors, combining grapheme joiner).
_INVISIBLE = re.compile(
    "["
    "\x00-\x08\x0b-\x1f\x7f-\x9f"
    "\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
    "]+"
)
# The braille blank renders as an empty cell; treat it as the space it pretends to be.
_BLANK_LOOKALIKES = re.compile("[\u2800]")


def _join_pair(match: re.Match[str]) -> str:
    return match.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le")


def _clean(text: str) -> str:
    if text.isascii():
        if _ASCII_CONTROL.search(text) is None:
            return text
        return _ASCII_DROP.sub("", _LINE_BREAKS.sub("\n", text))
    if _SURROGATE.search(text) is not None:
        # A valid surrogate pair that slipped into a str is joined; a lone half becomes U+FFFD.
        text = _SURROGATE.sub("\ufffd", _SURROGATE_PAIR.sub(_join_pair, text))
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = _BLANK_LOOKALIKES.sub(" ", text)
    return unicodedata.normalize("NFKC", text)


# --- folded: Unicode part ------------------------------------------------------------------------

# Combining marks removed after NFD: Latin/Greek/Cyrillic diacritics, "zalgo" stacks, combining
# marks for symbols, half marks, variation selectors. Marks of other scripts (Devanagari vowel
# signs, Arabic harakat...) carry meaning and are kept.
_MARKS = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f"
    "\U000e0100-\U000e01ef]+"
)


# Applied after case folding, so every entry is a lower-case form (upper-case letters fold to them
# first). That keeps folding case-invariant: "ΑΒΕΚ" and "αβεκ" fold alike.
_SCRIPT_PAIRS = {
    # Cyrillic; the lower-case forms of В Н М Т К look like small capitals of B H M T K.
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ш": "w", "ь": "b", "ѕ": "s", "і": "i", "ј": "j",
    "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ү": "y", "ѵ": "v", "ҫ": "c", "ѡ": "w",
    # Greek.
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "μ": "u",
    "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j",
    # Armenian.
    "օ": "o", "ս": "u", "հ": "h", "ո": "n", "ց": "g", "զ": "q",
}
_LATIN_PAIRS = {
    # Latin letters that do not decompose, IPA and small capitals: Latin script, always mapped.
    "ı": "i", "ȷ": "j", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ƀ": "b", "ɨ": "i",
    "ʉ": "u", "ƶ": "z", "ǥ": "g", "ƒ": "f", "ǀ": "l", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ɪ": "i",
    "ʏ": "y", "ʀ": "r", "ɴ": "n", "ʜ": "h", "ʟ": "l", "ɢ": "g", "ʙ": "b", "ᴀ": "a", "ᴄ": "c",
    "ᴅ": "d", "ᴇ": "e", "ғ": "f", "ᴊ": "j", "ᴋ": "k", "ᴍ": "m", "ᴏ": "o", "ᴘ": "p", "ꜱ": "s",
    "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z", "ƞ": "n", "ɲ": "n", "ɳ": "n", "ɼ": "r", "ɽ": "r",
    "ʂ": "s", "ʐ": "z", "ɦ": "h", "ɱ": "m",
    # Cherokee capitals that are Latin capitals to the eye (UTS #39); nobody writes Cherokee in
    # a moderation keyword, and casefold maps Cherokee small letters to these capitals.
    "Ꭺ": "a", "Ᏼ": "b", "Ꮯ": "c", "Ꭰ": "d", "Ꭼ": "e", "Ꮐ": "g", "Ꮋ": "h", "Ꭵ": "i", "Ꭻ": "j",
    "Ꮶ": "k", "Ꮮ": "l", "Ꮇ": "m", "Ꮲ": "p", "Ꭱ": "r", "Ꮪ": "s", "Ꭲ": "t", "Ꮩ": "v", "Ꮃ": "w",
    "Ꭹ": "y", "Ꮓ": "z",
    # The Arabic tatweel only stretches a letter; inside a Latin word it hides the word.
    "\u0640": "",
}
# Greek letters whose capital resembles another Latin letter than the small form does (Η is H,
# η is n): ``folded`` reads them like the small form, the alternate reading like the capital.
_CAPITAL_READING = {"η": "h", "μ": "m", "ν": "n", "υ": "y"}
_LATIN_FOLD = {ord(k): v for k, v in _LATIN_PAIRS.items()}
for _start in (0x1F150, 0x1F170, 0x1F1E6):  # negative circled, negative squared, regional indicators
    _LATIN_FOLD.update({_start + i: chr(ord("a") + i) for i in range(26)})
_SCRIPT_FOLD = {ord(k): v for k, v in _SCRIPT_PAIRS.items()}
_SCRIPT_FOLD_CAPITAL = {**_SCRIPT_FOLD, **{ord(k): v for k, v in _CAPITAL_READING.items()}}
# The other way, for a word of another script with Latin letters slipped in ("нaхуй"): each Latin
# letter to the look-alike a writer of that script would have meant (only the script's own letters).
_TO_SCRIPT = {
    "cyrillic": str.maketrans("abcehikmnoptwxy", "авсенікмпортшху"),
    "greek": str.maketrans("abehikmnoptuvwxyz", "αβεηικμηορτυνωχγζ"),
    "armenian": str.maketrans("ghnoqu", "ցհոօզս"),
}
_CYRILLIC = "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f"
_GREEK = "\u0370-\u03ff\u1f00-\u1fff"
_ARMENIAN = "\u0531-\u058f"
_OTHER_SCRIPT = re.compile(f"[{_CYRILLIC}{_GREEK}{_ARMENIAN}]")
_SCRIPT_NAME = (("cyrillic", re.compile(f"[{_CYRILLIC}]")), ("greek", re.compile(f"[{_GREEK}]")))
# A word (run of letters and digits) holding a Cyrillic, Greek or Armenian letter. Words start only
# at a word boundary, so a scan stays linear on a hostile 50,000-letter word.
_OTHER_SCRIPT_WORD = re.compile(rf"(?<![^\W_])[^\W_]*?[{_CYRILLIC}{_GREEK}{_ARMENIAN}][^\W_]*")
_ASCII_LETTER = re.compile("[a-z]")
# A word made only of letters with a Latin look-alike (and digits).
_LOOKALIKE_WORD = re.compile(f"(?<![^\\W_])[{''.join(_SCRIPT_PAIRS)}\\d]+(?![^\\W_])")
# Letters of those scripts without a Latin look-alike ("и", "б", "λ"): a word holding one is not
# Latin in disguise.
_NO_LOOKALIKE = re.compile(f"(?![{''.join(_SCRIPT_PAIRS)}])[{_CYRILLIC}{_GREEK}{_ARMENIAN}]")


def _fold_word(word: str) -> tuple[str, tuple[str, str, str] | None]:
    """The folded word, and its other readings (folded with capital readings, Latin, Latin capital)
    when any of them differs."""
    unmappable = _NO_LOOKALIKE.search(word) is not None
    if _ASCII_LETTER.search(word) is None:
        if unmappable or len(word) < 3:
            return word, None
        # Every letter has a Latin look-alike: keep the script, offer the Latin reading.
        return word, (word, word.translate(_SCRIPT_FOLD), word.translate(_SCRIPT_FOLD_CAPITAL))
    if not unmappable:
        latin, capital = word.translate(_SCRIPT_FOLD), word.translate(_SCRIPT_FOLD_CAPITAL)
        return latin, ((capital, latin, capital) if capital != latin else None)
    name = next((n for n, pattern in _SCRIPT_NAME if pattern.search(word)), "armenian")
    native = word.translate(_TO_SCRIPT[name])
    # A Latin letter with no look-alike in that script: leave the word as typed.
    return (word if _ASCII_LETTER.search(native) is not None else native), None


def _fold_scripts(text: str) -> tuple[str, tuple[str, ...]]:
    """``text`` with mixed-script words folded, and its other readings (same word layout)."""
    if _OTHER_SCRIPT.search(text) is None:
        return text, ()
    if _ASCII_LETTER.search(text) is None and not any(
        len(m.group()) > 2 and not m.group().isdigit() for m in _LOOKALIKE_WORD.finditer(text)
    ):
        return text, ()  # no Latin letter to fold, no word made of look-alikes (most Russian chat)
    pieces: list[str] = []
    readings: list[tuple[str, str, str] | None] = []
    end = 0
    for match in _OTHER_SCRIPT_WORD.finditer(text):
        word, other = _fold_word(match.group())
        pieces.append(text[end : match.start()])
        pieces.append(word)
        readings.append(other)
        end = match.end()
    pieces.append(text[end:])
    folded = "".join(pieces)
    if not any(readings):
        return folded, ()
    others = []
    for i in range(3):
        # Odd pieces are the words; swap in each word's i-th reading where it has one.
        for k, other in enumerate(readings):
            if other is not None:
                pieces[2 * k + 1] = other[i]
        others.append("".join(pieces))
    return folded, tuple(dict.fromkeys(o for o in others if o != folded))


_REPLACEMENT_IN_WORD = re.compile(r"(?<=[^\W_])\ufffd+(?=[^\W_])")


def _fold_unicode(clean: str) -> str:
    """Marks stripped, case folded, Latin look-alikes mapped (the script-aware part comes later)."""
    if "\ufffd" in clean:
        # An invalid byte or lone surrogate inside a word ("nig\ufffdger") does not break the word.
        clean = _REPLACEMENT_IN_WORD.sub("", clean)
    text = _MARKS.sub("", unicodedata.normalize("NFD", clean)).casefold()
    return unicodedata.normalize("NFC", text).translate(_LATIN_FOLD)


# --- folded: shared part (ASCII and Unicode) ------------------------------------------------------

_HAS_LETTER = re.compile(r"[^\W\d_]")
# A token holding at least one leet character. The lazy prefix stops at the first leet character;
# tokens start only after a non-token character, so the scan stays linear on hostile input.
_LEET_TOKEN = re.compile(r"(?<![\w@$!|])\w*?[013457@$!|][\w@$!|]*")
_LEET_I = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                         "@": "a", "$": "s", "!": "i", "|": "i"})
_LEET_L = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t",
                         "@": "a", "$": "s", "!": "i", "|": "l"})
# Cheap guard for _LEET_TOKEN: a token to map has a letter next to a leet character ("!" only
# counts before another token character, so "gg!" skips the mapping).
_LEET_CHAR = re.compile(r"[013457@$!|]")
_LEET_HINT = re.compile(r"[^\W\d_][013457@$|]|[^\W\d_]![\w@$|]|[013457@$!|][^\W\d_]")
_ELONGATED = re.compile(r"([^\W\d_])\1{3,}")
# Cheap guard: ``re.sub`` with a template is slow even when nothing matches.
_RUN_OF_FOUR = re.compile(r"(.)\1\1\1")


def _map_leet(token: str, table: dict[int, str]) -> str:
    if _HAS_LETTER.search(token) is None:
        return token  # a number ("1488", "$50"), not a word
    # "!" ending a word and "|" at its ends are punctuation ("gg!", "||spoiler||").
    core = token.lstrip("|")
    lead = token[: len(token) - len(core)]
    stripped = core.rstrip("!|")
    trail = core[len(stripped) :]
    return lead + stripped.translate(table) + trail


def _leet_i(match: re.Match[str]) -> str:
    return _map_leet(match.group(), _LEET_I)


def _leet_l(match: re.Match[str]) -> str:
    return _map_leet(match.group(), _LEET_L)


def _shorten_runs(match: re.Match[str]) -> str:
    return match.group()[:3]


def _cut_runs(text: str) -> str:
    if _RUN_OF_FOUR.search(text) is None:
        return text
    return _ELONGATED.sub(_shorten_runs, text)


def _fold_words(text: str, others: tuple[str, ...] = ()) -> tuple[str, tuple[str, ...]]:
    """Leetspeak and letter runs of ``text`` and of its other readings ``others`` (same layout)."""
    if _LEET_CHAR.search(text) is None or _LEET_HINT.search(text) is None:
        folded = _cut_runs(text)
        if not others:
            return folded, ()
        readings = [_cut_runs(o) for o in others]
    else:
        folded = _cut_runs(_LEET_TOKEN.sub(_leet_i, text))
        readings = [_cut_runs(_LEET_TOKEN.sub(_leet_i, o)) for o in others]
        if "1" in text or "|" in text:
            readings += [_cut_runs(_LEET_TOKEN.sub(_leet_l, t)) for t in (text, *others)]
    return folded, tuple(dict.fromkeys(r for r in readings if r != folded))


# --- public ------------------------------------------------------------------------------------


def normalize(text: str, *, max_folded_chars: int = MAX_FOLDED_CHARS) -> NormalizedText:
    """Return the clean and folded forms of ``text``. Never raises on any ``str`` input."""
    if not isinstance(text, str):
        raise TypeError(f"normalize() takes a str, not {type(text).__name__}")
    norm = _normalize(text, max_folded_chars)
    if not may_rewrite(text):
        return norm  # nearly all chat: no rewritten reading
    readings = (_normalize(other, max_folded_chars) for other in rewritten_texts(text))
    others = tuple(r for r in readings if r.folded != norm.folded)
    return replace(norm, readings=others) if others else norm


def _normalize(text: str, max_folded_chars: int) -> NormalizedText:
    clean = _clean(text)
    source = clean
    truncated = len(clean) > max_folded_chars
    if truncated:
        source = clean[:max_folded_chars]
    if source.isascii():
        folded, alternates = _fold_words(join_spaced_runs(source.lower()))
    else:
        # Spaced-out letters are joined before the script-aware step, so "n i g g е r" (a Cyrillic
        # е) is one mixed-script word by then.
        folded, alternates = _fold_words(*_fold_scripts(join_spaced_runs(_fold_unicode(source), symbols=True)))
    return NormalizedText(clean=clean, folded=folded, alternates=alternates, truncated=truncated)


def is_blank(text: str) -> bool:
    """True when ``text`` has nothing visible once cleaned (empty, whitespace, zero-width, controls)."""
    if not isinstance(text, str):
        raise TypeError(f"is_blank() takes a str, not {type(text).__name__}")
    return not _clean(text).strip()
