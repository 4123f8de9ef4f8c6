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
