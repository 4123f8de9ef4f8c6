"""What a chapter shows: glued values, numbered tables (also written as CSV), figures, and seed-claim verdicts."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from vqlib.stats import Interval, mean_ci

#: The command line sets this to the run folder's tables/ directory; unset, nothing is written.
TABLES_ENV = "VQLIB_TABLES_DIR"
VERDICTS = ("holds", "does not hold", "inconclusive", "not testable", "not applicable")
#: A JSON mimetype of our own, so a glued claim can be read back from an executed notebook.
CLAIM_MIME = "application/vnd.vqbook.claim+json"
#: Output metadata key of a displayed table: its name and its numbers as CSV, which the book build exports beside the
#: page (_ext/provenance.py); metadata, so nbval never compares it.
TABLE_META = "vqbook_table"


#: What this kernel's chapter has shown so far, as text by key (glued values, tables, claims): the closing
#: :func:`reproduction_check` compares it with the committed notebook (vqlib.reproduce).
SHOWN: dict[str, str] = {}
#: Keys shown but never compared (timings): the committed notebook holds them, the check skips them.
UNCHECKED: set[str] = set()


def _glue(key: str, value: Any, checked: bool = True) -> None:
    from IPython.core.formatters import format_display_data
    from myst_nb import glue  # imported late: only chapters need it

    glue(key, value, display=False)
    bundle, _ = format_display_data(value)
    if not checked:
        UNCHECKED.add(key)
    elif "text/plain" in bundle and "image/png" not in bundle:
        SHOWN[key] = bundle["text/plain"]


def output_dir() -> Path | None:
    """Where tables and figures of this run go as files (None: nowhere)."""
    d = os.environ.get(TABLES_ENV)
    if not d:
        return None
    path = Path(d)
    path.mkdir(parents=True, exist_ok=True)
    return path


def value(key: str, v: Any, checked: bool = True) -> Any:
    """Glue one value for the prose ({glue:text}`key`) and return it.

    checked=False: a timing or other machine-dependent value, left out of the reproduction check.
    """
    _glue(key, v, checked)
    return v


def interval(key: str, values, digits: int = 3) -> Interval:
    """Glue 'mean [low, high]' (95 % CI over seeds) under `key`; return the interval."""
    ci = mean_ci(values)
    _glue(key, ci.format(digits))
    return ci


def _escape(cell: Any) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ")


@dataclass
class Table:
    """A table shown as a numbered MyST table in the book and as plain text to nbval."""

    frame: pd.DataFrame
    name: str
    caption: str
    data: pd.DataFrame | None = None  # the numbers behind the frame, exported as <name>.csv (default: the frame)

    def __repr__(self) -> str:
        return self.frame.to_string(index=False)

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict, dict]:
        data = self.data if self.data is not None else self.frame.replace(MARKUP, "", regex=True)  # the words, without HTML tags
        csv = data.to_csv(index=False)
        return {"text/markdown": self._repr_markdown_(), "text/plain": repr(self)}, {TABLE_META: {"name": self.name, "csv": csv}}

    def _repr_markdown_(self) -> str:
        cols = [str(c) for c in self.frame.columns]
        lines = ["| " + " | ".join(_escape(c) for c in cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_escape(v) for v in row) + " |" for row in self.frame.itertuples(index=False)]
        body = "\n".join(lines)
        return f"```{{table}} {self.caption}\n:name: {self.name}\n:align: center\n\n{body}\n```\n"


#: HTML tags in a displayed cell (claim anchors): left out of the table's CSV.
MARKUP = r"<[^>]+>"


def claim_label(id: str, words: str = "") -> str:
    """A claim in words: its short label in the claim registry (vqlib.claim_registry), else `words`, else its id."""
    from vqlib.claim_registry import CLAIMS

    spec = CLAIMS.get(id)
    return spec.label if spec is not None and spec.label else (words or id)


def in_words(frame: pd.DataFrame, column: str = "claim", anchors: bool = True) -> pd.DataFrame:
    """`frame` with its column of claim ids shown as the claims' labels (:func:`claim_label`), named "claim".

    anchors: each id stays on the page as the HTML anchor `claim-<id>` of its row (one row per claim only).
    """
    out = frame.copy()
    out[column] = [(f'<span id="claim-{i}"></span>' if anchors else "") + claim_label(i) for i in frame[column]]
    return out.rename(columns={column: "claim"})


def table(frame: pd.DataFrame, name: str, caption: str, data: pd.DataFrame | None = None, checked: bool = True) -> Table:
    """A numbered table (label `name`); its numbers (`data`, default the frame) also go to `<name>.csv`.

    checked=False: timings or other machine-dependent numbers, left out of the reproduction check.
    """
    out = output_dir()
    if out is not None:
        (data if data is not None else frame).to_csv(out / f"{name}.csv", index=False)
    shown = Table(frame.reset_index(drop=True), name, caption, data)
    if checked:
        SHOWN[f"table:{name}"] = shown._repr_markdown_()
    else:
        UNCHECKED.add(f"table:{name}")
    return shown


def reproduction_check(chapter: str) -> None:
    """The chapter's last cell: print whether everything it showed reproduces the committed notebook (vqlib.reproduce)."""
    from vqlib import reproduce

    print(reproduce.check(chapter, SHOWN, UNCHECKED))


def figure(key: str, fig) -> None:
    """Glue a matplotlib figure for {glue:figure} as PNG and save it beside the tables; close it.

    Glued as PNG bytes: with the Agg backend (vqlib.plotting) a Figure object itself only has a text form.
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    out = output_dir()
    if out is not None:
        (out / f"{key}.png").write_bytes(buffer.getvalue())
    _glue(key, Image(data=buffer.getvalue(), format="png"))
    plt.close(fig)


@dataclass(frozen=True)
class Claim:
    """One claim of the seed documents, what we measured, and the verdict."""

    id: str
    source: str  # seed document and section
    claim: str  # the seed's words
    seed_value: str  # the seed's number, as the seed gives it ("" when qualitative)
    measured: str  # our value with its 95 % CI, or the reason it cannot be measured
    verdict: str  # one of VERDICTS
    why: str  # one sentence
    section: str  # label of the section that measured it
    regime: str = ""  # training regime (vqlib.regimes) the verdict is about; "" where no training is involved
    p_value: float = float("nan")  # of the test the CI decided (vqlib.claims), for multiplicity control; nan if none
    half_width: float = float("nan")  # the CI half-width reached (display units of the claim)
    margin: float = float("nan")  # the claim's margin or threshold (same units); nan for directional claims
    kind: str = ""  # vqlib.claims.KINDS, or "" for a claim judged by a chapter's own rule
    effect: float = float("nan")  # the first case's estimate on the claim's own metric (display units), for the forest plot
    low: float = float("nan")  # its 95 % CI
    high: float = float("nan")
    reading_rt: str = ""  # the verdict with the rotation trick read in place of the seeds' rotation ("" where not about it)
    cases: list = field(default_factory=list)  # every case on the claim's own metric: [label, mean, low, high] (forest plot)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        record = {k: (None if isinstance(v, float) and v != v else v) for k, v in asdict(self).items()}  # NaN is no JSON
        return {CLAIM_MIME: record, "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"{self.id}: {self.verdict} (measured {self.measured}; seed {self.seed_value})"


def claim(
    id: str, source: str, claim: str, seed_value: str, measured: str, verdict: str, why: str, section: str, regime: str = "",
    p_value: float = float("nan"), half_width: float = float("nan"), margin: float = float("nan"), kind: str = "",
    effect: float = float("nan"), low: float = float("nan"), high: float = float("nan"), reading_rt: str = "",
    cases: list | None = None,
) -> Claim:
    """Record a verdict on a seed claim (glued as `claim:<id>` or `claim:<id>@<regime>`, collected by the verdict chapter)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {list(VERDICTS)}, got {verdict!r}")
    record = Claim(id, source, claim, seed_value, measured, verdict, why, section, regime, float(p_value), float(half_width),
                   float(margin), kind, float(effect), float(low), float(high), reading_rt,
                   [[str(c[0]), *map(float, c[1:])] for c in cases or []])
    _glue(f"claim:{id}@{regime}" if regime else f"claim:{id}", record)
    return record


def collect_claims(notebooks: Iterable[Path]) -> pd.DataFrame:
    """Every `claim:<id>` record glued in the given executed notebooks, in notebook and cell order."""
    import nbformat

    rows = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                name = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
                if name.startswith("claim:"):
                    data = output["data"]
                    record = next(v for k, v in data.items() if k.endswith(CLAIM_MIME))
                    rows.append(json.loads(record) if isinstance(record, str) else dict(record))
    return pd.DataFrame(rows, columns=list(Claim.__dataclass_fields__))
