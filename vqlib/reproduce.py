"""Does a re-execution reproduce the committed notebook? Conclusions exactly, numbers within their uncertainty.

Training amplifies last-bit differences between machines (another instruction set, another BLAS kernel), so
the third printed digit of a trained result is not the same everywhere, while the conclusion is. This module
compares what a chapter shows (its glued values, tables and claims) with the committed notebook by a stated
rule:

- every word is equal (verdicts, labels, units, orderings of rows);
- an integer not inside an interval is equal (counts, sizes, settings);
- an interval printed as ``mean [low, high]`` may move each of its three numbers by at most
  :data:`CI_FRACTION` times the committed half-width (high − low)/2. Training is chaotic: a last-bit difference
  can flip a near-tie of the nearest-code argmin and send a seed down another path, so at worst every seed is
  re-drawn. Two means of n re-drawn seeds differ by more than twice the 95 % half-width with probability
  below 0.6 % for any n ≥ 5 (the difference has standard deviation σ√(2/n), the half-width is t₀.₉₇₅,ₙ₋₁ σ/√n,
  so the bound is √2·t standard deviations: 3.9 at n = 5, 3.0 at n = 20, 2.8 as n grows). A larger move is not
  last-bit noise but a change of the result;
- a printed CI half-width (a spread, which re-drawn seeds change more than a mean) by at most its own value;
- any other decimal may move by at most :data:`RTOL` of its value;
- on top of both, half a unit in the last printed digit of each of the two texts (what rounding alone can
  add to the difference of two printed numbers).

Each chapter's last cell calls :func:`check`; `make nbval` sets ``VQLIB_REPRODUCE_CHECK=1`` so that cell
compares the fresh execution with the committed notebook and prints every value that moved.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

#: An interval's numbers may move by this multiple of its committed half-width.
CI_FRACTION = 2.0
#: A decimal printed without an interval may move by this fraction of its value.
RTOL = 0.01
#: The variable that turns the comparison on (set by `make nbval`); unset, the chapter is the reference itself.
ENV = "VQLIB_REPRODUCE_CHECK"
#: ENV's value in a re-run at other parameters: its numbers have no committed counterpart.
RERUN = "rerun"

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: 'mean [low, high]', also with a unit between ('+17.7 % [+8.4, +27.0]'), or a plain number.
#: A claim's printed 'half-width h' (of the interval beside it) is a spread: it may move by up to its own value.
_TOKEN = re.compile(rf"(?P<interval>(?P<m>{_NUM})(?P<unit> ?%)? \[(?P<lo>{_NUM}), (?P<hi>{_NUM})\])|half-width (?P<hw>{_NUM})"
                    rf"|(?P<num>(?<![\w.]){_NUM}(?![\w.]))")


@dataclass(frozen=True)
class Number:
    """A printed number: its value, the unit of its last printed digit, and the tolerance it is allowed."""

    text: str
    value: float
    unit: float
    tolerance: float


def _unit(text: str) -> float:
    """The value of one unit in the last printed digit of a number as printed (0.0606 -> 0.0001, 3.2e-05 -> 1e-06)."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _is_integer(text: str) -> bool:
    return re.fullmatch(r"-?\d+", text) is not None


def parse(text: str) -> tuple[str, list[Number]]:
    """Split a shown text into its words (numbers replaced by '#') and its numbers with their tolerances."""
    numbers: list[Number] = []

    def take(match: re.Match) -> str:
        if match.group("interval"):
            parts = [match.group(k) for k in ("m", "lo", "hi")]
            values = [float(p) for p in parts]
            half = abs(values[2] - values[1]) / 2
            numbers.extend(Number(p, v, _unit(p), CI_FRACTION * half) for p, v in zip(parts, values))
            return f"#{match.group('unit') or ''} [#, #]"
        if match.group("hw"):
            t = match.group("hw")
            numbers.append(Number(t, float(t), _unit(t), abs(float(t))))
            return "half-width #"
        t = match.group("num")
        v = float(t)
        numbers.append(Number(t, v, _unit(t), 0.0 if _is_integer(t) else RTOL * abs(v)))
        return "#"

    return _TOKEN.sub(take, text), numbers


def compare(old: str, new: str) -> list[str]:
    """What moved between the committed text and the fresh one, beyond the rule above ([] when reproduced)."""
    words_old, nums_old = parse(old)
    words_new, nums_new = parse(new)
    if words_old != words_new or len(nums_old) != len(nums_new):
        return [f"the words differ: {old!r} became {new!r}"]
    problems = []
    for a, b in zip(nums_old, nums_new):
        exact = a.tolerance == 0.0 and a.unit == 1.0 and _is_integer(a.text)
        allowed = 0.0 if exact else a.tolerance + (a.unit + b.unit) / 2
        if not (math.isfinite(a.value) and math.isfinite(b.value)) or abs(a.value - b.value) > allowed * (1 + 1e-9):
            if a.text != b.text:
                problems.append(f"{a.text} became {b.text} (allowed ±{allowed:.3g}) in {old!r}")
    return problems


def shown_records(ipynb: Path) -> dict[str, str]:
    """What an executed notebook shows, by key: glued values (`name`), tables (`table:<label>`), claims (`claim:<id>`)."""
    nb = json.loads(Path(ipynb).read_text())
    records: dict[str, str] = {}
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                text = data.get("application/papermill.record/text/plain")
                if text is not None and not any(k.endswith("image/png") for k in data):
                    records[name] = "".join(text)
            markdown = "".join(data.get("text/markdown", ""))
            label = re.search(r"^:name: (\S+)$", markdown, re.M)
            if markdown.startswith("```{table}") and label:
                records[f"table:{label.group(1)}"] = markdown
    return records


def compare_records(committed: dict[str, str], fresh: dict[str, str]) -> list[str]:
    """Every difference between two sets of shown records, beyond the rule (missing and extra keys included)."""
    problems = [f"{k}: shown in the committed notebook, not any more" for k in committed if k not in fresh]
    problems += [f"{k}: new, not in the committed notebook" for k in fresh if k not in committed]
    for key in committed:
        if key in fresh:
            problems += [f"{key}: {p}" for p in compare(committed[key], fresh[key])]
    return problems


def check(chapter: str, fresh: dict[str, str], unchecked: set[str] | frozenset = frozenset()) -> str:
    """The chapter's closing check: compare what it showed with `<chapter>.ipynb` when ENV is set; the report.

    Without ENV (a canonical execution, which writes that notebook) the chapter is its own reference; ENV = RERUN
    (a re-run at other parameters than the chapter's defaults) compares nothing and says so.
    The report's first line is the same whenever everything reproduces, so nbval can compare it.
    """
    if os.environ.get(ENV) == RERUN:
        return (f"{chapter}: a re-run with parameters of its own, not compared with the committed notebook "
                f"(python -m vqlib.reproduce book/{chapter}.ipynb <this notebook> compares two executions)")
    reference = Path(f"{chapter}.ipynb")
    committed = shown_records(reference) if os.environ.get(ENV) == "1" and reference.is_file() else dict(fresh)
    committed = {k: v for k, v in committed.items() if k not in unchecked}  # timings: shown, never compared
    problems = compare_records(committed, fresh)
    tables = sum(k.startswith("table:") for k in fresh)
    head = (f"{chapter}: {len(fresh) - tables} glued values and {tables} tables checked against the committed notebook "
            f"(words and integers equal; intervals within {CI_FRACTION:g} × their half-width, other decimals within "
            f"{100 * RTOL:g} %, plus rounding)")
    if not problems:
        return head + ": all reproduced"
    return head + f": {len(problems)} moved\n" + "\n".join(f"  - {p}" for p in problems)


if __name__ == "__main__":  # python -m vqlib.reproduce OLD.ipynb NEW.ipynb: what moved beyond the rule
    import sys

    found = compare_records(shown_records(Path(sys.argv[1])), shown_records(Path(sys.argv[2])))
    print("\n".join(found) if found else "all reproduced")
    sys.exit(1 if found else 0)
