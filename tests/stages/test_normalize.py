"""Tests for modbot.stages.normalize: the clean and folded forms of chat text."""

from __future__ import annotations

import dataclasses
import time

import pytest

from modbot.stages.normalize import MAX_FOLDED_CHARS, NormalizedText, is_blank, normalize

# --- clean ---------------------------------------------------------------------------------------


def test_plain_ascii_is_returned_as_is():
    text = "gg wp, see you tomorrow!"
    norm = normalize(text)
    assert norm.clean == text
    assert norm.folded == "gg wp, see you tomorrow!"
    assert norm.alternates == ()
    assert not norm.truncated


def test_lone_surrogates_become_replacement_characters_and_pairs_are_joined():
    norm = normalize("a\ud800b\udc00c\ud83d\ude00")
    assert norm.clean == "a\ufffdb\ufffdc\U0001f600"
    norm.clean.encode("utf-8")  # storable: no surrogates left


def test_controls_are_removed_but_newline_and_tab_are_kept():
    assert normalize("a\x00b\x01c\x1bd\x7fe\tf\ng").clean == "abcde\tf\ng"
    assert normalize("caf\u00e9\x00\x85\x9fok").clean == "café\nok"  # C1 removed, NEL is a line break


def test_every_kind_of_line_break_becomes_a_newline():
    assert normalize("a\r\nb\rc\u2028d\u2029e\x0bf\x0cg").clean == "a\nb\nc\nd\ne\nf\ng"


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",  # zero width space
        "\u200c",  # zero width non-joiner
        "\u200d",  # zero width joiner
        "\u2060",  # word joiner
        "\ufeff",  # byte order mark / zero width no-break space
        "\u00ad",  # soft hyphen
        "\u180e",  # Mongolian vowel separator
        "\u034f",  # combining grapheme joiner
        "\u3164",  # Hangul filler
        "\U000e0041",  # tag latin capital A ("ASCII smuggling")
    ],
)
def test_zero_width_and_invisible_characters_are_removed(invisible):
    norm = normalize(f"a{invisible}s{invisible}s")
    assert norm.clean == "ass"
    assert norm.folded == "ass"


@pytest.mark.parametrize(
    "bidi",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e",
     "\u200f", "\u061c"],
)
def test_bidi_controls_are_removed(bidi):
    assert normalize(f"{bidi}hello{bidi} world").clean == "hello world"


def test_nfkc_is_applied_to_clean():
    assert normalize("ｆｒｅｅ ｎｉｔｒｏ").clean == "free nitro"
    assert normalize("\ufb01le").clean == "file"  # ligature fi
    assert normalize("𝐟𝐫𝐞𝐞").clean == "free"
    assert normalize("x\u00a0y").clean == "x y"


def test_clean_keeps_case_accents_and_emoji():
    norm = normalize("Café 🔥 Ünïcödé")
    assert norm.clean == "Café 🔥 Ünïcödé"
    assert norm.folded == "cafe 🔥 unicode"


# --- blank -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["", "   ", "\n\t", "\u200b\u200d\ufeff", "\u2800\u2800", "\u3164", "\x00\x01\x02", "\u202e\u2066"]
)
def test_blank_texts(text):
    assert is_blank(text)
    assert normalize(text).is_empty


@pytest.mark.parametrize("text", ["a", ".", "🔥", "\u200bx\u200b", "你好"])
def test_non_blank_texts(text):
    assert not is_blank(text)
    assert not normalize(text).is_empty


# --- folded: case, look-alikes, accents ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("FREE Nitro", "free nitro"),
        ("аss", "ass"),  # Cyrillic а
        ("АSS", "ass"),  # Cyrillic А
        ("ѕсаm", "scam"),  # Cyrillic ѕ с а
        ("ΑΒΕΚΟΡΤΧx", "abekoptxx"),  # Greek capitals in a Latin word (an all-Greek word keeps its script)
        ("ｆｕｃｋ", "fuck"),  # fullwidth
        ("𝐟𝐮𝐜𝐤 𝓯𝓾𝓬𝓴 𝕗𝕦𝕔𝕜", "fuck fuck fuck"),  # mathematical alphanumerics
        ("ⓕⓤⓒⓚ", "fuck"),  # circled (NFKC)
        ("🅵🆄🅲🅺", "fuck"),  # negative squared (table)
        ("🇫🇺🇨🇰", "fuck"),  # regional indicators (table)
        ("ᴀꜱꜱ", "ass"),  # small capitals
        ("zálgó", "zalgo"),
        ("t̸̢e̵x̴t", "text"),  # "zalgo" combining stacks
        ("İstanbul STRASSE straße", "istanbul strasse strasse"),
        ("łódź", "lodz"),
    ],
)
def test_folded_maps_case_lookalikes_and_accents(text, folded):
    assert normalize(text).folded == folded


def test_greek_letters_with_two_lookalikes_get_both_readings():
    norm = normalize("ΗΕLLΟ")
    assert norm.folded == "nello"  # η, the small form, looks like n
    assert norm.alternates == ("hello",)  # Η, the capital, looks like H


@pytest.mark.parametrize("word", ["Привет", "Ηλιος", "Łódź", "Straße", "ΜΥΝΗ"])
def test_folding_does_not_depend_on_case(word):
    lower, upper = normalize(word.lower()), normalize(word.upper())
    assert (lower.folded, lower.alternates) == (upper.folded, upper.alternates)


def test_non_latin_text_is_kept_where_no_lookalike_exists():
    assert normalize("你好 世界").folded == "你好 世界"
    assert normalize("Привет").folded == "привет"  # a whole Cyrillic word keeps its script
    assert normalize("ΑΒΕΚΟΡΤΧ").folded == "αβεκορτχ"
    assert normalize("ΑΒΕΚΟΡΤΧ").alternates == ("abekoptx",)  # ...with its Latin reading beside it


# --- folded: leetspeak ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("a$$", "ass"),
        ("4ss", "ass"),
        ("@ss", "ass"),
        ("sh!t", "shit"),
        ("n00b", "noob"),
        ("h4ck3r", "hacker"),
        ("l33t 5p34k", "leet speak"),
        ("7ro11", "troii"),
    ],
)
def test_leetspeak_inside_words_is_mapped(text, folded):
    assert normalize(text).folded == folded


@pytest.mark.parametrize("text", ["1488", "420", "$50", "50$", "10:30", "3.5", "100%", "+1", "1 2 3 4", "!!!"])
def test_numbers_and_symbols_without_letters_are_left_alone(text):
    assert normalize(text).folded == text


def test_trailing_bang_and_spoiler_pipes_stay_punctuation():
    assert normalize("gg!").folded == "gg!"
    assert normalize("wow!!! nice").folded == "wow!!! nice"
    assert normalize("||spoiler||").folded == "||spoiler||"


def test_one_and_pipe_have_an_l_reading_in_alternates():
    norm = normalize("ki11 y0u 1diot")
    assert norm.folded == "kiii you idiot"
    assert norm.alternates == ("kill you ldiot",)
    pipes = normalize("k|ll he||o")
    assert pipes.folded == "kill heiio"
    assert pipes.alternates == ("klll hello",)


def test_no_alternates_when_the_reading_is_unambiguous():
    assert normalize("1488 and 10 min").alternates == ()
    assert normalize("n00b").alternates == ()


def test_gamer_shorthand_mixing_digits_and_letters_is_mapped_consistently():
    # Documented trade-off: mapped like any other word; keywords are folded the same way.
    assert normalize("1v1 me").folded == "ivi me"
    assert normalize("gg2").folded == "gg2"  # 2 has no letter reading


# --- folded: spacing and elongation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("s e l l i n g cheats", "selling cheats"),
        ("f.u.c.k you", "fuck you"),
        ("b-o-o-s-t", "boost"),
        ("f_u_c_k", "fuck"),
        ("a s s", "ass"),
        ("a  $  $", "ass"),
        ("buy f u c k now", "buy fuck now"),
        ("(f)(u)(c)(k)", "(fuck)"),
        ("f\u200b u\u200b c\u200b k", "fuck"),
    ],
)
def test_spaced_out_letters_are_joined(text, folded):
    assert normalize(text).folded == folded


@pytest.mark.parametrize("text", ["I am a good boy", "1 2 3 go", "a b", "x-ray vision", "plan b or c"])
def test_ordinary_text_is_not_joined(text):
    assert normalize(text).folded == text.lower()


def test_whitespace_is_collapsed_in_folded_only():
    norm = normalize("  dm \n\n  me\t ")
    assert norm.folded == "dm me"
    assert norm.clean == "  dm \n\n  me\t "


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("fuuuuuuck", "fuuuck"),
        ("aimbooot", "aimbooot"),
        ("noooooob", "nooob"),
        ("good boost", "good boost"),
        ("ass", "ass"),
        ("1000000", "1000000"),
        ("!!!!!!!!", "!!!!!!!!"),
    ],
)
def test_letter_runs_are_cut_to_three(text, folded):
    assert normalize(text).folded == folded


# --- fast path, robustness ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["Hello World", "s e l l i n g", "ki11 @ss", "fuuuuck", "1v1 me 420", "||spoiler|| gg!", "a.b.c.d"]
)
def test_ascii_fast_path_agrees_with_the_unicode_path(text):
    # A trailing zero-width space is removed by cleaning but forces the Unicode path.
    fast = normalize(text)
    slow = normalize(text + "\u200b")
    assert (fast.clean, fast.folded, fast.alternates) == (slow.clean, slow.folded, slow.alternates)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 100_000,
        "a " * 50_000,
        "\x00" * 100_000,
        "\ud800" * 50_000,
        "\u200b" * 100_000,
        "\u202e abc " * 15_000,
        "🔥👍🏽\u200d" * 30_000,
        "a1!|$" * 20_000,
        "fuuuuck1 kiii11 " * 6_500,
        "Привет 𝐧𝐨𝐨𝐛 " * 8_000,
    ],
    ids=["letters", "spaced", "nul", "surrogates", "zero-width", "rtl", "emoji", "leet", "elongated", "unicode"],
)
def test_hostile_inputs_are_handled_quickly(text):
    start = time.perf_counter()
    norm = normalize(text)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    norm.clean.encode("utf-8")
    norm.folded.encode("utf-8")
    assert len(norm.folded) <= MAX_FOLDED_CHARS


def test_folded_is_capped_and_says_so():
    text = "word " * 30_000
    norm = normalize(text)
    assert norm.truncated
    assert norm.clean == text
    assert len(norm.folded) <= MAX_FOLDED_CHARS
    assert not normalize("word " * 10).truncated


def test_normalized_text_is_frozen():
    norm = normalize("x")
    assert isinstance(norm, NormalizedText)
    with pytest.raises(dataclasses.FrozenInstanceError):
        norm.clean = "y"  # type: ignore[misc]


def test_non_str_input_is_a_clear_type_error():
    with pytest.raises(TypeError, match="str"):
        normalize(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        is_blank(None)  # type: ignore[arg-type]
