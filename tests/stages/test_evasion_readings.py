"""The readings added for the hostile corpus (tests/hostile): in-word markdown, flipped text, more look-alikes."""

from __future__ import annotations

import pytest

from modbot.stages.evasions import may_rewrite, rewritten_texts
from modbot.stages.normalize import normalize


def _forms(text: str) -> set[str]:
    norm = normalize(text)
    return {norm.folded, *norm.alternates, *(r.folded for r in norm.readings)}


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("~~n~~igger", "nigger"),
        ("`k``y``s`", "kys"),
        ("s`e`l`l aimbot", "sell aimbot"),
        ("ɹǝƃƃıu", "nigger"),
        ("ʇoqɯıɐ ƃuıןןǝs", "selling aimbot"),
        ("ᏦᎩᏚ", "kys"),
        ("ƞiggeɼ", "nigger"),
        ("ni\u0640gger", "nigger"),
    ],
)
def test_the_evasion_is_read_as_the_plain_word(text: str, word: str):
    assert any(word in form for form in _forms(text)), _forms(text)


@pytest.mark.parametrize("text", ["gg wp everyone", "привет всем", "the ɐ in IPA", "price: 5$ **bold**"])
def test_ordinary_chat_gets_no_rewritten_reading(text: str):
    assert rewritten_texts(text) == () and normalize(text).readings == ()


def test_the_guard_is_cheap_for_plain_ascii_and_sees_the_markers():
    assert not may_rewrite("hello there, nice game")
    assert may_rewrite("~~struck~~") and may_rewrite("`code`") and may_rewrite("ɹǝƃƃıu")
    assert not may_rewrite("one turned ǝ only")
