"""One figure style for the book, and the plots more than one chapter draws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

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


def forest(table, claims: list[str], regimes: list[str], labels: dict[str, str], ncols: int = 5):
    """Small multiples, one panel per claim: the effect and its 95 % CI in every regime it was judged in (rows), coloured by
    verdict, with 0 (dotted) and the claim's margin (dashed; ± for an equivalence or a two-sided claim) drawn, so a reader
    sees why a verdict changes with the setting. table: collected claims with id, regime, verdict, effect, low, high,
    margin, kind and optionally two_sided."""
    import math

    import pandas as pd

    nrows = max(1, math.ceil(len(claims) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 0.28 * len(regimes) * nrows + 0.9 * nrows), squeeze=False)
    for ax, cid in zip(axes.flat, claims):
        rows = table[table.id == cid].set_index("regime").reindex(regimes)
        y = range(len(regimes))
        for i, r in zip(y, rows.itertuples()):
            if r.effect == r.effect:  # not NaN
                ax.errorbar(r.effect, i, xerr=[[r.effect - r.low], [r.high - r.effect]], fmt="o", ms=3, capsize=2,
                            color=VERDICT_COLORS.get(r.verdict, "0.6"))
        ax.axvline(0, color="k", lw=0.6, ls=":")
        margins = rows.margin.dropna()
        if len(margins):
            m = float(margins.iloc[0])
            both = rows.kind.dropna().eq("equivalence").any() or bool(rows.get("two_sided", pd.Series(dtype=bool)).fillna(False).any())
            for x in ((-m, m) if both else (m,)):
                ax.axvline(x, color="0.3", lw=0.8, ls="--")
        ax.set_yticks(list(y), regimes if ax in axes[:, 0] else [""] * len(regimes), fontsize=6)
        ax.set_ylim(len(regimes) - 0.5, -0.5)
        ax.set_title(labels.get(cid, cid), fontsize=7)
        ax.tick_params(axis="x", labelsize=6)
    for ax in list(axes.flat)[len(claims):]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c) for c in VERDICT_COLORS.values()]
    fig.legend(handles, list(VERDICT_COLORS), loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig
