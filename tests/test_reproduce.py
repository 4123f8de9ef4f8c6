"""The cross-machine check: conclusions must be equal, numbers may move within the stated rule, and a real
change of a result (beyond its tolerance) is still caught."""

import json
import re
import shutil
from pathlib import Path

import pytest

from vqlib import report, reproduce

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "old,new,moved",
    [
        ("0.0606 [0.0553, 0.0659]", "0.0606 [0.0553, 0.0659]", False),
        ("0.0606 [0.0553, 0.0659]", "0.0700 [0.0640, 0.0750]", False),  # within twice the half-width 0.0053
        ("0.0606 [0.0553, 0.0659]", "0.0720 [0.0553, 0.0659]", True),  # the mean moved 0.0114 > 0.0106 + 0.0001
        ("0.0606 [0.0553, 0.0659]", "0.0606 [0.0553, 0.0780]", True),  # an end moved too far
        ("48.8 [39.0, 58.5] %", "50.1 [40.3, 59.9] %", False),
        ("-0.511 [-1.63, 0.609] %", "-1.78 [-2.90, -0.660] %", False),  # a chaotic result (collapsed start), re-drawn
        ("holds (16.2 [-2.61, 34.9] %)", "does not hold (16.2 [-2.61, 34.9] %)", True),  # a verdict is a word
        ("3 of 5 runs", "4 of 5 runs", True),  # integers are equal or moved
        ("gap 3.81 dB", "gap 3.84 dB", False),  # 1 % of 3.81 plus one unit of 0.01
        ("gap 3.81 dB", "gap 3.90 dB", True),
        ("1.6093528116941356", "1.6093528116941360", False),  # last bits of a float64
        ("0.0e+00", "0.0e+00", False),
        ("1.0e-05", "3.0e-02", True),
        ("K = 32, 0.5 [0.4, 0.6]", "K = 64, 0.5 [0.4, 0.6]", True),
        ("< 1e-5", "< 1e-4", True),
        ("x (CI half-width 9.92 % vs margin 85.0 %)", "x (CI half-width 12.1 % vs margin 85.0 %)", False),  # a spread
        ("x (CI half-width 9.92 % vs margin 85.0 %)", "x (CI half-width 25.0 % vs margin 85.0 %)", True),
        ("x (CI half-width 9.92 % vs margin 85.0 %)", "x (CI half-width 9.92 % vs margin 80.0 %)", True),
        ("+17.7 % [+8.4, +27.0]", "+17.9 % [+8.6, +27.2]", False),  # an interval with its unit inside
        ("+17.7 % [+8.4, +27.0]", "+37.0 % [+8.6, +27.2]", True),  # an order of magnitude (stats.bound_text) is a result too
        ("1.00 [0.995, 1.00]", "0.999 [0.994, 1.00]", False),  # rounding across a power of ten
        ("a | 1.00 [0.99, 1.01] |", "a | 1.00 [0.99, 1.01] | extra", True),  # words differ
    ],
)
def test_rule(old, new, moved):
    assert bool(reproduce.compare(old, new)) is moved


def test_bound_text_prints_the_order_of_magnitude():
    from vqlib.stats import bound_text

    assert [bound_text(x) for x in (3.6e-6, 3.8e-6, 0.0, 0.2, -7.0)] == ["< 1e-5", "< 1e-5", "0", "< 1e0", "< 1e1"]


def test_parse_separates_words_and_numbers():
    words, numbers = reproduce.parse("STE 0.0606 [0.0553, 0.0659] at K = 32 (seed 2.4475)")
    assert words == "STE # [#, #] at K = # (seed #)"
    assert [n.text for n in numbers] == ["0.0606", "0.0553", "0.0659", "32", "2.4475"]
    assert numbers[0].tolerance == pytest.approx(2 * 0.0053) and numbers[0].unit == pytest.approx(1e-4)
    assert numbers[3].tolerance == 0.0 and numbers[4].tolerance == pytest.approx(0.024475)


def _doctored(src: Path, dst: Path, old: str, new: str) -> None:
    text = src.read_text()
    assert old in text, f"{old!r} not in {src.name}"
    dst.write_text(text.replace(old, new, 1))


def test_committed_notebook_reproduces_itself():
    for ipynb in sorted((ROOT / "book").glob("*.ipynb")):
        records = reproduce.shown_records(ipynb)
        assert reproduce.compare_records(records, records) == []


def test_check_catches_a_result_that_really_moved(tmp_path, monkeypatch):
    """A committed table whose value is moved beyond its tolerance makes the closing check report it, by name."""
    committed = ROOT / "book" / "testbed.ipynb"
    fresh = reproduce.shown_records(committed)
    interval = re.compile(r"\d[\d.]* \[[-\d.]+, [-\d.]+\]")
    table = next(k for k in fresh if k.startswith("table:") and interval.search(fresh[k]))
    first = interval.search(fresh[table]).group(0)  # the first 'mean [low, high]' of a table
    words, numbers = reproduce.parse(first)
    mean, low, high = (n.value for n in numbers)
    moved = f"{mean + 1.5 * (high - low):.4g} [{low:.4g}, {high:.4g}]"  # the mean moved by 1.5 CI widths
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(reproduce.ENV, "1")
    _doctored(committed, tmp_path / "testbed.ipynb", first, moved)
    out = reproduce.check("testbed", fresh)
    assert "1 moved" in out and table in out and first.split(" ")[0] in out
    # moved by less than its tolerance: reproduced
    nudged = f"{mean + (high - low) / 2:.4g} [{low:.4g}, {high:.4g}]"  # by one half-width
    _doctored(committed, tmp_path / "testbed.ipynb", first, nudged)
    assert reproduce.check("testbed", fresh).endswith("all reproduced")


def test_check_catches_a_flipped_verdict_and_a_missing_value(tmp_path, monkeypatch):
    committed = ROOT / "book" / "testbed.ipynb"
    fresh = reproduce.shown_records(committed)
    claim = next(k for k in fresh if k.startswith("claim:"))
    verdict = fresh[claim].split(": ", 1)[1].split(" (")[0]
    flipped = dict(fresh, **{claim: fresh[claim].replace(verdict, "inconclusive", 1)})
    del flipped[next(k for k in fresh if not k.startswith(("claim:", "table:")))]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(reproduce.ENV, "1")
    shutil.copy(committed, tmp_path / "testbed.ipynb")
    out = reproduce.check("testbed", flipped)
    assert "2 moved" in out and "the words differ" in out and "not any more" in out


def test_without_the_variable_the_chapter_is_its_own_reference(tmp_path, monkeypatch):
    """A canonical execution (no VQLIB_REPRODUCE_CHECK) writes the notebook: it prints the same line as a reproduced check."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(reproduce.ENV, raising=False)
    fresh = {"a": "'0.5 [0.4, 0.6]'", "table:t": "| x | 1 |"}
    head = reproduce.check("ch", fresh)
    monkeypatch.setenv(reproduce.ENV, "1")
    (tmp_path / "ch.ipynb").write_text(json.dumps({"cells": [{"outputs": [
        {"data": {"application/papermill.record/text/plain": "'0.52 [0.41, 0.61]'"}, "metadata": {"scrapbook": {"name": "a"}}},
        {"data": {"text/markdown": "```{table} c\n:name: t\n\n| x | 1 |\n```"}}]}]}))
    # the stored markdown differs from the fresh text (a caption line) only in words outside the key's text
    records = reproduce.shown_records(tmp_path / "ch.ipynb")
    assert set(records) == {"a", "table:t"} and records["a"] == "'0.52 [0.41, 0.61]'"
    assert head.endswith("all reproduced")


def test_a_rerun_at_other_parameters_is_not_called_reproduced(tmp_path, monkeypatch):
    """ENV = RERUN: nothing is compared, and the line says so (a re-run used to report "all reproduced" of itself)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(reproduce.ENV, reproduce.RERUN)
    out = reproduce.check("ch", {"a": "'0.5 [0.4, 0.6]'"})
    assert "not compared with the committed notebook" in out and "reproduced" not in out


def test_report_records_what_the_chapter_shows(monkeypatch):
    """report.table and glued values land in report.SHOWN with the text the notebook will hold."""
    import pandas as pd

    monkeypatch.setattr(report, "SHOWN", {})
    monkeypatch.setattr(report, "UNCHECKED", set())
    monkeypatch.setattr(report, "_glue", lambda key, value, checked=True: report.SHOWN.__setitem__(key, repr(value))
                        if checked else report.UNCHECKED.add(key))
    report.value("k", "0.5 [0.4, 0.6]")
    t = report.table(pd.DataFrame({"a": ["x"], "b": ["1.00 [0.99, 1.01]"]}), "tbl-x", "caption")
    report.value("ms", 3.2, checked=False)  # timings are shown but never compared
    report.table(pd.DataFrame({"ms": [3.2]}), "tbl-time", "timings", checked=False)
    assert report.SHOWN == {"k": "'0.5 [0.4, 0.6]'", "table:tbl-x": t._repr_markdown_()}
    assert report.UNCHECKED == {"ms", "table:tbl-time"}


def test_timings_in_the_committed_notebook_are_skipped(tmp_path, monkeypatch):
    """A timing is in the committed notebook but never compared: neither its value nor its absence counts."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(reproduce.ENV, "1")
    (tmp_path / "ch.ipynb").write_text(json.dumps({"cells": [{"outputs": [
        {"data": {"application/papermill.record/text/plain": "'0.5 [0.4, 0.6]'"}, "metadata": {"scrapbook": {"name": "a"}}},
        {"data": {"application/papermill.record/text/plain": "'12.3'"}, "metadata": {"scrapbook": {"name": "ms"}}}]}]}))
    assert reproduce.check("ch", {"a": "'0.5 [0.4, 0.6]'"}, {"ms"}).endswith("all reproduced")
    assert "not any more" in reproduce.check("ch", {"a": "'0.5 [0.4, 0.6]'"})
