"""What book/verdicts.md builds from the claims collected out of the other chapters' executed notebooks.

The chapter collects the records (vqlib.report.collect_claims) and records its own claims (report.claim); these
functions record the registry's claims no experiment can decide, derive the two summary claims, and build the tables, the
readings for the prose and the robustness map. The verdict logic itself stays in vqlib.claims.
"""

from __future__ import annotations

import pandas as pd

from vqlib import claims, report
from vqlib.claim_mechanisms import NOT_IDENTIFIED
from vqlib.claim_registry import UNTESTABLE
from vqlib.regimes import REGIMES

#: Colours of the robustness map, by verdict ("" : not evaluated in that regime).
COLORS = {"holds": "#4daf4a", "does not hold": "#e41a1c", "inconclusive": "#ffbf00", "not testable": "#bbbbbb",
          "not applicable": "#9ecae1", "": "#ffffff"}


def untestable_claims() -> list:
    """The registry's claims no experiment here can decide (claim_registry.UNTESTABLE), recorded by vqlib.claims as "not
    testable" with their reason: the report.Claim records."""
    return [claims.record(claims.CLAIMS[i], pd.DataFrame()).record for i, *_ in UNTESTABLE]


def _all_hold(id: str, source: str, text: str, subset: pd.DataFrame, measured: str, why: str) -> dict:
    holds = int((subset.verdict == "holds").sum())
    return dict(id=id, source=source, claim=text, seed_value="", measured=measured.format(holds=holds, n=len(subset)),
                verdict="holds" if len(subset) and holds == len(subset) else "does not hold", why=why, section="verdicts-table")


def summary_claims(collected: pd.DataFrame) -> list[dict]:
    """report.claim arguments for the two "key paper points" that summarize the other claims."""
    settings = collected[collected.source.str.contains("Cleanest Experimental Settings")]
    recs = collected[collected.source.str.contains("Practical Recommendations")]
    return [
        _all_hold("verdicts-validation-settings", "002 Key Paper Points 3", "Empirical validation across multiple settings", settings,
                  "{holds} of {n} claims on the seeds' \"cleanest experimental settings\" hold",
                  "holds if every recorded claim about the seeds' validated settings holds"),
        _all_hold("verdicts-guidelines", "002 Key Paper Points 4", "Practical guidelines for implementation", recs,
                  "{holds} of {n} measurable recommendations hold", "holds if every measurable practical recommendation of 002 holds"),
    ]


def table(collected: pd.DataFrame, own: list) -> pd.DataFrame:
    """Every verdict: the collected ones and this chapter's own (report.Claim records), with Holm's correction."""
    out = pd.concat([collected, pd.DataFrame([vars(c) for c in own]).assign(chapter="verdicts")], ignore_index=True)
    out["regime"] = out.regime.fillna("")
    return claims.holm(out)


def readings(table: pd.DataFrame, regime_grid: pd.DataFrame, n_chapters: int) -> dict:
    """Counts of verdicts (before and after Holm) and what the per-regime grid says."""
    counts, counts_holm = table.verdict.value_counts(), table.verdict_holm.value_counts()
    out = {"verdicts_n": len(table), "verdicts_n_claims": table.id.nunique(), "verdicts_chapters": n_chapters}
    for v in report.VERDICTS:
        out[f"verdicts_n_{v.replace(' ', '_')}"] = int(counts.get(v, 0))
        out[f"verdicts_holm_{v.replace(' ', '_')}"] = int(counts_holm.get(v, 0))
    out["verdicts_n_demoted"] = int((table.verdict != table.verdict_holm).sum())
    out["verdicts_n_family"] = int(table.in_family.sum())
    out["verdicts_n_regime_claims"] = len(regime_grid)
    reg_cols = [c for c in regime_grid.columns if c != "holds in"]
    first = "seeds-budget" if "seeds-budget" in reg_cols else reg_cols[0]
    grid = regime_grid[reg_cols]
    # Only claims judged in the seeds' budget and at least one other regime can be a budget artefact, robust or
    # never holding: a claim run in one regime says nothing about the setting.
    evaluated = grid.isin(["holds", "does not hold", "inconclusive"])
    spans = [c for c in grid.index if evaluated.loc[c, first] and evaluated.loc[c].sum() >= 2]
    artifacts = [c for c in spans if grid.loc[c, first] != "holds" and (grid.loc[c] == "holds").any()]
    robust = [c for c in spans if (grid.loc[c][evaluated.loc[c]] == "holds").all()]
    never = [c for c in spans if (grid.loc[c][evaluated.loc[c]] == "does not hold").all()]
    out.update({"verdicts_budget_artifacts": ", ".join(artifacts) or "none", "verdicts_robust_holds": ", ".join(robust) or "none",
                "verdicts_never_holds": ", ".join(never) or "none", "verdicts_first_regime": first, "verdicts_n_regimes": len(reg_cols)})
    return out


#: The share of a converged cell's slices that must meet their stop rule (issue 18's goal); below it the cell is marked.
MET_GOAL = 0.95
#: The studies that train in the converged regime with a per-slice stop rule (their tables carry `met_rule`):
#: {study: the chapter whose claims its runs decide}.
CONVERGED_STUDIES = {"testbed": "testbed", "convergence": "convergence", "scale": "scale", "subspace": "subspace",
                     "multimodal": "multimodal", "commitment_noise": "commitment_noise", "initialization": "initialization",
                     "realdata": "realdata", "realconv": "realconv"}
#: The table of a study's stored results that carries met_rule, where it is not "final".
MET_TABLES = {"commitment_noise": ("beta_final", "sigma_final"), "initialization": ("codebook",)}


def met_shares(studies: dict[str, str] = CONVERGED_STUDIES) -> dict[str, float]:
    """Per study, the share of its converging regimes' slices whose stop rule met before the cap, read from the stored
    results at its chapter's default parameters (studies whose chapter runs no converging regime are left out)."""
    from vqlib import results
    from vqlib.runner.chapters import ROOT, chapter_defaults, read_chapter

    out = {}
    for study, ch in studies.items():
        res = results.load(study, chapter_defaults(read_chapter(ROOT / "book" / f"{ch}.md")))
        met = [res[t].met_rule.dropna() for t in MET_TABLES.get(study, ("final",)) if "met_rule" in res[t].columns]
        if sum(map(len, met)):  # a fixed budget's rows have none
            out[study] = float(pd.concat(met).astype(float).mean())
    return out


def unconverged_cells(table: pd.DataFrame, shares: dict[str, float], goal: float = MET_GOAL,
                      studies: dict[str, str] = CONVERGED_STUDIES) -> list[tuple[str, str]]:
    """(claim, regime) cells judged in a converging regime by a study whose share of slices that met the stop rule is
    below `goal`."""
    judged = table[[r in REGIMES and REGIMES[r].converge for r in table.regime]]
    low = {studies[s] for s, v in shares.items() if v < goal}
    return sorted({(c, r) for c, ch, r in zip(judged.id, judged.chapter, judged.regime, strict=True) if ch in low})


def met_text(shares: dict[str, float]) -> str:
    """The shares of :func:`met_shares` in words, for the prose."""
    return ", ".join(f"{100 * v:.0f} % ({ch})" for ch, v in shares.items()) or "–"


def robustness_figure(regime_grid: pd.DataFrame, table: pd.DataFrame | None = None, unconverged: list[tuple[str, str]] = ()):
    """Each claim evaluated per regime (rows) and its verdict in each regime (columns), coloured by verdict.

    Rows are named by the claim's registry label, else by its words in `table` (id, claim), cut to 60 characters.
    Cells in `unconverged` ((claim, regime), :func:`unconverged_cells`) are hatched and marked "†".
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    names = list(COLORS)
    cols = [c for c in regime_grid.columns if c != "holds in"]
    codes = regime_grid[cols].apply(lambda c: c.map(names.index)).to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.1 * len(cols) + 3.5, 0.32 * len(regime_grid) + 1.4))
    ax.imshow(codes, cmap=ListedColormap(list(COLORS.values())), vmin=-0.5, vmax=len(names) - 0.5, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    words = {} if table is None else dict(zip(table.id, table.claim, strict=True))
    labels = [report.claim_label(c, _cut(words.get(c, ""))) for c in regime_grid.index]  # words, not ids
    ax.set_yticks(range(len(regime_grid)), labels)
    for i, text in enumerate(regime_grid["holds in"]):
        ax.text(len(cols) - 0.4, i, text, va="center", fontsize=8)
    marked = [(list(regime_grid.index).index(c), cols.index(r)) for c, r in unconverged if c in regime_grid.index and r in cols]
    for i, j in marked:
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="black", linewidth=0))
        ax.text(j, i, "†", ha="center", va="center", fontsize=10, fontweight="bold")
    ax.set(xlabel="training regime", ylabel="claim")
    ax.grid(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[v]) for v in names[:5]]
    labels = names[:5]
    if marked:
        handles.append(plt.Rectangle((0, 0), 1, 1, fill=False, hatch="///", edgecolor="black"))
        labels = [*labels, f"† < {100 * MET_GOAL:.0f} % of slices\nmet the stop rule"]
    fig.tight_layout()
    fig.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 0.99), title="verdict")  # beside the map, at its top
    return fig


def _cut(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def forest_figure(table: pd.DataFrame, regime_grid: pd.DataFrame):
    """vqlib.plotting.forest over the registered claims judged in at least two regimes with an interval: one panel per
    claim, titled with its short label and unit, one row per regime and case (records without their cases: the first)."""
    from vqlib import plotting

    regimes = [c for c in regime_grid.columns if c != "holds in"]
    judged = table[table.regime.isin(regimes) & table.id.isin(claims.CLAIMS)]
    judged = judged[pd.to_numeric(judged.get("effect"), errors="coerce").notna()]
    judged = judged.assign(two_sided=[claims.CLAIMS[c].sidedness == "two-sided" for c in judged.id])
    rows = judged.assign(cases=[c if isinstance(c, list) and c else [["", e, lo, hi]] for c, e, lo, hi in
                                zip(judged.get("cases", pd.Series([None] * len(judged), index=judged.index)), judged.effect,
                                    judged.low, judged.high, strict=True)]).explode("cases", ignore_index=True)
    rows[["case", "effect", "low", "high"]] = pd.DataFrame(rows.pop("cases").tolist(), index=rows.index)
    rows["case"] = rows.groupby("id").case.transform(_varying)
    ids = [c for c in regime_grid.index if judged[judged.id == c].regime.nunique() >= 2]
    labels = {c: claims.CLAIMS[c].label + (f" ({claims.CLAIMS[c].unit.strip()})" if claims.CLAIMS[c].unit else "") for c in ids}
    return plotting.forest(rows.astype({"effect": float, "low": float, "high": float, "margin": float}), ids, regimes, labels)


def _varying(labels: pd.Series) -> pd.Series:
    """Case labels ("sweep = sigma, start = standard, sigma = 0.4") without the parts every case of the claim shares."""
    parts = [str(x).split(", ") if x else [] for x in labels]
    common = set.intersection(*map(set, parts)) if len(parts) > 1 else set()
    return pd.Series([", ".join(p for p in ps if p not in common) for ps in parts], index=labels.index)


def regime_dependent(regime_grid: pd.DataFrame) -> list[str]:
    """The claims decided or inconclusive in at least two regimes whose verdict differs between them."""
    grid = regime_grid[[c for c in regime_grid.columns if c != "holds in"]]
    evaluated = grid.isin(["holds", "does not hold", "inconclusive"])
    return [c for c in grid.index if evaluated.loc[c].sum() >= 2 and grid.loc[c][evaluated.loc[c]].nunique() > 1]


def mechanisms(regime_grid: pd.DataFrame) -> pd.DataFrame:
    """Per claim whose verdict depends on the regime: where it holds, does not hold and is inconclusive, and the
    conditional statement where a chapter found the mechanism (vqlib.claim_mechanisms), else "mechanism not identified"."""
    grid = regime_grid[[c for c in regime_grid.columns if c != "holds in"]]
    ids = regime_dependent(regime_grid)

    def where(c, v):
        return ", ".join(r for r in grid.columns if grid.loc[c, r] == v) or "–"

    return pd.DataFrame({
        "claim": [report.claim_label(c) for c in ids],
        "holds in": [where(c, "holds") for c in ids],
        "does not hold in": [where(c, "does not hold") for c in ids],
        "inconclusive in": [where(c, "inconclusive") for c in ids],
        "when it holds (the mechanism the chapters found)": [
            claims.CLAIMS[c].mechanism if c in claims.CLAIMS and claims.CLAIMS[c].mechanism else NOT_IDENTIFIED for c in ids],
    })


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The verdict table as displayed: one row per verdict, linked to the section that measured it."""
    return pd.DataFrame({
        "claim (the seed's words, source)": [  # words, not ids: the registry's short label, then the seed's own words
            (f"{report.claim_label(i)} — " if report.claim_label(i) != i else "") + f"“{c}” ({s})"
            for i, c, s in zip(table.id, table.claim, table.source, strict=True)],
        "seed's value": table.seed_value.replace("", "–"),
        "regime": table.regime.replace("", "–"),
        "measured (95 % CI)": table.measured,
        "verdict": "**" + table.verdict + "**",
        "after Holm": table.verdict_holm,
        "reading: rotation trick in place of the seeds' rotation": table.get("reading_rt", pd.Series("", index=table.index))
        .fillna("").replace("", "–"),
        "criterion": table.why,
        "where": ["{ref}`" + sec + "`" if sec.replace("-", "_") == ch else "{doc}`" + ch + "`, {ref}`" + sec + "`"
                  for ch, sec in zip(table.chapter, table.section)],
    })


def by_document(table: pd.DataFrame) -> pd.DataFrame:
    """Verdict counts per seed document (a claim citing both counts under the first it cites)."""
    doc = table.assign(document=table.source.str.extract(r"^(\d{3})", expand=False).fillna("other"))
    summary = pd.crosstab(doc.document, doc.verdict).reindex(columns=list(report.VERDICTS), fill_value=0)
    return summary.reset_index()


def changes(table: pd.DataFrame, baseline: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Each claim's verdict before the regimes (baseline) and now, with the counts the prose states."""
    changed = claims.changes(table, baseline)
    return changed, {"verdicts_n_changed": int(changed.changed.str.startswith("changed").sum()),
                     "verdicts_n_unchanged": int((changed.changed == "unchanged").sum())}
