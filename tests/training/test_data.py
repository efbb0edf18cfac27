"""Reading labelled data files: clear errors naming the line; deterministic held-out splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modbot.training.data import DataError, LabelledRow, read_rows, read_rows_many, split_rows

from tests.support.prefilter_data import SHARED_DATA, synthetic_rows, write_jsonl


def test_reads_rows_and_skips_blank_lines(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"text": "gg", "unsafe": 0, "category": "non_toxic"}\n\n'
        '{"text": "a [SEPA] b", "unsafe": true, "category": "explicit_toxic", "conversation": 12, "source": "conda"}\n',
        encoding="utf-8",
    )
    rows = read_rows(path)
    assert rows[0] == LabelledRow("gg", False, "non_toxic", "d", "d:1", None)
    assert rows[1].text == "a\nb" and rows[1].unsafe and rows[1].conversation == "12"
    assert rows[1].group_key == "conda:conv:12"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"unsafe": 1}', '"text" must be a non-empty string'),
        ('{"text": "  ", "unsafe": 1}', '"text" must be a non-empty string'),
        ('{"text": "x", "unsafe": 2}', '"unsafe" must be 0 or 1'),
        ('{"text": "x", "unsafe": "yes"}', '"unsafe" must be 0 or 1'),
        ('{"text": "x", "unsafe": 0.5}', '"unsafe" must be 0 or 1'),
        ('{"text": "x", "unsafe": 1, "category": 5}', '"category" must be a string'),
    ],
)
def test_bad_row_names_file_and_line(tmp_path: Path, line: str, message: str):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine", "unsafe": 0, "category": "c"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_rows(path)
    assert info.value.line == 2
    assert f"{path}:2" in str(info.value)
    assert message in str(info.value)


def test_unreadable_and_empty_files(tmp_path: Path):
    with pytest.raises(DataError, match="cannot read"):
        read_rows(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no rows"):
        read_rows(tmp_path / "empty.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"text": "caf\xe9", "unsafe": 0}\n')
    with pytest.raises(DataError, match="not UTF-8"):
        read_rows(tmp_path / "latin1.jsonl")


def test_split_is_deterministic_and_keeps_conversations_whole(tmp_path: Path):
    rows = [LabelledRow(f"m{i}", i % 3 == 0, "c", "conda", f"id{i}", str(i // 5)) for i in range(500)]
    train, test = split_rows(rows, holdout=0.3, seed=1)
    again_train, again_test = split_rows(list(reversed(rows)), holdout=0.3, seed=1)
    assert {r.id for r in test} == {r.id for r in again_test}
    assert not {r.conversation for r in train} & {r.conversation for r in test}
    assert 0.15 < len(test) / len(rows) < 0.45
    other_train, other_test = split_rows(rows, holdout=0.3, seed=2)
    assert {r.id for r in test} != {r.id for r in other_test}
    with pytest.raises(ValueError):
        split_rows(rows, holdout=1.5)


def test_read_many(tmp_path: Path):
    a = write_jsonl(tmp_path / "a.jsonl", synthetic_rows(10, seed=1))
    b = write_jsonl(tmp_path / "b.jsonl", synthetic_rows(5, seed=2))
    assert len(read_rows_many([a, b])) == 15


@pytest.mark.data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared evaluation data not present")
def test_reads_every_shared_file():
    for path in sorted(SHARED_DATA.glob("*.jsonl")):
        rows = read_rows(path)
        assert rows and all(r.text.strip() for r in rows)
        raw = sum(1 for line in path.open(encoding="utf-8") if line.strip())
        assert len(rows) == raw
        first = json.loads(path.open(encoding="utf-8").readline())
        assert rows[0].unsafe == bool(first["unsafe"])
