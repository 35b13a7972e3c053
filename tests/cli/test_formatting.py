"""Listings as table, JSON and CSV: every format safe whatever the rows hold."""

from __future__ import annotations

import csv
import io
import json

import pytest

from monitor.cli.formatting import csv_cell, render, to_json

HOSTILE = "a\x1b]0;t\x07b\x9bc\u202ed\u2066e\x7ff"


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_every_format_drops_control_and_bidi_characters(fmt: str) -> None:
    out = render([{"text": HOSTILE, "n": 1}], ["text", "n"], fmt)
    assert "a]0;tbcdef" in out
    assert not any(ch in out for ch in "\x1b\x07\x9b\u202e\u2066\x7f")


def test_a_table_keeps_each_row_on_one_line() -> None:
    out = render([{"text": "first\nsecond\r\nthird"}, {"text": "x"}], ["text"], "table")
    assert out.splitlines()[2] == "first second third"
    assert len(out.splitlines()) == 4


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("@SUM(A1)", "'@SUM(A1)"),
    ("-2+3", "'-2+3"), ("\t=1", "'\t=1"), ("\r=1", "'=1"), ("\x1b=1", "'=1"),
    ("-0.5", "-0.5"), ("+12", "+12"), ("-40%", "-40%"), ("1e-3", "1e-3"),
    ("gallium", "gallium"), ("a=b", "a=b"), (-0.5, -0.5), (3, 3), (None, ""), (True, True),
])
def test_csv_cells_that_could_run_as_formulas_are_prefixed_and_numbers_are_not(
        value: object, cell: object) -> None:
    assert csv_cell(value) == cell


def test_csv_keeps_line_breaks_inside_a_quoted_cell() -> None:
    out = render([{"text": "two\nlines", "value": -1.5}], ["text", "value"], "csv")
    assert list(csv.DictReader(io.StringIO(out))) == [{"text": "two\nlines", "value": "-1.5"}]


def test_json_is_cleaned_recursively_and_stays_json() -> None:
    out = to_json({"k\x9b": [HOSTILE, {"n": -0.5, "t": ("x\u202e",)}]})
    assert json.loads(out) == {"k": ["a]0;tbcdef", {"n": -0.5, "t": ["x"]}]}
