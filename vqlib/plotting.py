"""One figure style for the book, and the plots more than one chapter draws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from vqlib.stats import UNBOUNDED  # noqa: E402

COLORS = {
    "ste": "#1f77b4",
    "ste_manual": "#17becf",
    "projection": "#d62728",
    "rotation_trick": "#2ca02c",
    "pca_lloyd": "#7f7f7f",
    # codebook initializers
    "uniform": "#d62728",
    "kmeans": "#2ca02c",
    "data_samples": "#9467bd",
    "rd_optimal": "#1f77b4",
    "point_density": "#17becf",
    "transform_coding": "#bcbd22",
    "nsvq": "#8c564b",
    "restart": "#ff7f0e",
}


def style() -> None:
    """Book-wide matplotlib defaults: readable fonts, light grid, fixed size."""
    plt.rcParams.update(
        {
            "figure.figsize": (7.0, 3.6),
            "figure.dpi": 110,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
            "legend.frameon": False,
            "svg.hashsalt": "vqbook",
        }
    )


def mean_band(ax, frame, x: str, y: str, label: str, color: str | None = None) -> None:
    """Mean over seeds of y against x, with a band from the smallest to the largest seed."""
    g = frame.groupby(x)[y]
    mean, lo, hi = g.mean(), g.min(), g.max()
    ax.plot(mean.index, mean.values, label=label, color=color)
    ax.fill_between(mean.index, lo.values, hi.values, color=color, alpha=0.2, linewidth=0)


def mean_ci_errorbar(ax, frame, x: str, y: str, label: str, color: str | None = None, marker: str = "o") -> None:
    """Mean over seeds of y against x with 95 % CI error bars (vqlib.stats.mean_ci)."""
    from vqlib.stats import mean_ci

    xs = list(dict.fromkeys(frame[x]))
    cis = [mean_ci(frame[frame[x] == v][y].to_numpy()) for v in xs]
    mean = [c.mean for c in cis]
    err = [[c.mean - c.low for c in cis], [c.high - c.mean for c in cis]]
    ax.errorbar(xs, mean, yerr=err, label=label, color=color, marker=marker, ms=3, capsize=2, lw=1)


#: Marker colours of the forest plot, by verdict.
VERDICT_COLORS = {"holds": "#4daf4a", "does not hold": "#e41a1c", "inconclusive": "#ffbf00"}


def forest(table, claims: list[str], regimes: list[str], labels: dict[str, str], ncols: int = 4):
    """Small multiples, one panel per claim: the effect and its 95 % CI of every case in every regime it was judged in (one
    row per regime and case, labelled "regime: case", regimes in the order given and separated by thin lines), coloured
    by verdict, with 0 (dotted) and the claim's margin (dashed; ± for an equivalence or a two-sided claim) drawn, so a
    reader sees why a verdict changes with the setting. table: one row per claim, regime and case with id, regime, case,
    verdict, effect, low, high, margin, kind and optionally two_sided."""
    import math
    import textwrap

    import pandas as pd

    order = {r: i for i, r in enumerate(regimes)}
    panels = {c: table[table.id == c].assign(_o=lambda f: f.regime.map(order)).sort_values("_o", kind="stable") for c in claims}
    nrows = max(1, math.ceil(len(claims) / ncols))
    heights = [max([len(panels[c]) for c in claims[r * ncols:(r + 1) * ncols]] or [1]) + 3 for r in range(nrows)]
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 0.12 * sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, cid in zip(axes.flat, claims):
        rows = panels[cid]
        # An unbounded end (vqlib.stats.UNBOUNDED) is drawn to the panel's edge, beyond every finite value, with an arrow.
        finite = pd.concat([rows.effect, rows.low, rows.high, rows.margin, -rows.margin]).abs()
        edge = 1.15 * max(float(finite[finite < UNBOUNDED].max()), 1e-12) if (finite < UNBOUNDED).any() else 1.0
        for i, r in enumerate(rows.itertuples()):
            if r.effect == r.effect:  # not NaN
                lo, hi = max(r.low, -edge), min(r.high, edge)
                ax.errorbar(r.effect, i, xerr=[[r.effect - lo], [hi - r.effect]], fmt="o", ms=2.5, capsize=1.5, lw=0.9,
                            color=VERDICT_COLORS.get(r.verdict, "0.6"))
                for end, x, mark in ((r.low, -edge, "<"), (r.high, edge, ">")):
                    if abs(end) >= UNBOUNDED:
                        ax.plot(x, i, mark, ms=3, color=VERDICT_COLORS.get(r.verdict, "0.6"))
        for i in [i for i in range(1, len(rows)) if rows.regime.iloc[i] != rows.regime.iloc[i - 1]]:
            ax.axhline(i - 0.5, color="0.85", lw=0.5)
        ax.axvline(0, color="k", lw=0.6, ls=":")
        margins = rows.margin.dropna()
        if len(margins):
            m = float(margins.iloc[0])
            both = rows.kind.dropna().eq("equivalence").any() or bool(rows.get("two_sided", pd.Series(dtype=bool)).fillna(False).any())
            for x in ((-m, m) if both else (m,)):
                ax.axvline(x, color="0.3", lw=0.8, ls="--")
        names = [f"{g}: {c}" if c else g for g, c in zip(rows.regime, rows.get("case", pd.Series("", index=rows.index)).fillna(""), strict=True)]
        ax.set_yticks(range(len(rows)), names, fontsize=5)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_title(textwrap.fill(labels.get(cid, cid), 42), fontsize=7)
        ax.tick_params(axis="x", labelsize=6)
        ax.grid(axis="y", visible=False)
    for ax in list(axes.flat)[len(claims):]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c) for c in VERDICT_COLORS.values()]
    fig.legend(handles, list(VERDICT_COLORS), loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig
