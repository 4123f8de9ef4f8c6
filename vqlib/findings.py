"""The landing page's findings: one sentence per question, made from the judge's verdict records.

Which claim answers which of the reader's questions is fixed here (:data:`FINDINGS`); what the sentence says (the
verdict, the measured interval, in how many regimes the claim holds) is read from the verdict table that
book/verdicts.md builds, so a sentence stays true when a verdict changes. The verdict chapter glues them
(:func:`glue`) and book/intro.md pastes them from there.
"""

from __future__ import annotations

import re

import pandas as pd

from vqlib import report

#: (glue key, claim id, the regime whose measurement the sentence quotes; "" for a claim judged in one setting)
FINDINGS = (
    ("finding_estimator", "scale-85-fewer-dead", "seeds-budget"),
    ("finding_small", "scale-rec-small", "seeds-budget"),
    ("finding_dead_codes", "testbed-usage", "converged"),
    ("finding_root_cause", "init-root-cause", ""),
    ("finding_projection", "geometry-rotation-is-projection", ""),
    ("finding_rd_init", "init-rd-beats", ""),
    ("finding_realdata", "realdata-85-fewer-dead", "seeds-budget"),
)
#: An inconclusive record states the paired seeds that would decide it (vqlib.claims.Outcome.measured).
N_REQUIRED = re.compile(r"n ≈ (\d+) would decide")


def _first_case(measured: str) -> str:
    """The first measured case, with its interval ("K = 32: 21.6 [9.09, 55.3] %"); "…" when more follow."""
    values = re.split(r" \((?:CI half-width|n ≈)", measured)[0]  # the reach of the CI is not part of the finding
    head = values.split("; ")[0]
    return head + (" …" if head != values else "")


def statement(table: pd.DataFrame, claim_id: str, regime: str = "") -> str:
    """One finding: the claim in words, the judge's verdict, the measured interval and how many regimes it holds in."""
    rows = table[table.id == claim_id]
    if rows.empty:
        return f"the claim {claim_id} was not judged in this build"
    at = rows[rows.regime.fillna("") == regime]
    row = (at if len(at) else rows).iloc[0]
    where = f" in the {row.regime} regime" if row.regime else ""
    text = f"“{report.claim_label(claim_id, row.claim)}” {row.verdict}{where}: {_first_case(row.measured)}"
    if "verdict_holm" in row and row.verdict_holm != row.verdict:
        text += f" ({row.verdict_holm} after Holm's correction)"
    per_regime = rows[rows.regime.fillna("") != ""]
    if len(per_regime) > 1:
        text += f"; it holds in {int((per_regime.verdict == 'holds').sum())} of {len(per_regime)} training regimes"
    return text + "."


def still_open(table: pd.DataFrame) -> str:
    """What stays open: how many verdicts are inconclusive, and the one the fewest further seeds would decide."""
    undecided = table[table.verdict == "inconclusive"]
    text = f"{len(undecided)} of {len(table)} verdicts are inconclusive"
    needs = undecided.measured.str.extract(N_REQUIRED, expand=False).astype(float)
    if needs.notna().any():
        row = undecided.loc[needs.idxmin()]
        where = f" in the {row.regime} regime" if row.regime else ""
        text += (f"; the nearest to a decision, “{report.claim_label(row.id, row.claim)}”{where}, measured "
                 f"{_first_case(row.measured)}, would take about {int(needs.min())} paired seeds")
    return text + "."


def sentences(table: pd.DataFrame) -> dict[str, str]:
    """Every finding (and `finding_open`) from the verdict table, by glue key."""
    out = {key: statement(table, cid, regime) for key, cid, regime in FINDINGS}
    out["finding_open"] = still_open(table)
    return out


def glue(table: pd.DataFrame) -> None:
    """Glue every finding of :func:`sentences` for the landing page (book/intro.md pastes them from book/verdicts)."""
    for key, text in sentences(table).items():
        report.value(key, text)
