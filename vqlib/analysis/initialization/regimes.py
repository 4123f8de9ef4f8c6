"""The initialization chapter: six initializers under the training regimes and two spectra (tables, figure, glued values)."""

from __future__ import annotations

import pandas as pd

from vqlib import stats
from vqlib.analysis import testbed
from vqlib.analysis.initialization.common import _rel
from vqlib.init import LABELS

# --- six initializers, the regimes, two spectra ------------------------------------------------------------


def regime_table(regime_names: list[str], steps: int) -> pd.DataFrame:
    """The training regimes of the codebook-only study (vqlib.regimes), as shown."""
    from vqlib import regimes as regime_lib

    return pd.DataFrame([{
        "regime": r.name, "codebook update": "EMA (decay " + f"{r.ema_decay:g})" if r.codebook_update == "ema" else f"{r.optimizer} on the codebook loss",
        "codebook lr": "–" if r.codebook_update == "ema" else f"{r.codebook_lr:g}",
        "momentum": f"{r.momentum:g}" if r.optimizer == "sgd" and r.codebook_update != "ema" else "–",
        "budget": regime_lib.describe_stop(regime_lib.rescale(r.name, steps))} for r in map(regime_lib.get, regime_names)])


def stops_table(study: pd.DataFrame, inits: list[str]) -> pd.DataFrame:
    """Converging regimes: per spectrum, K and initializer, the share of codebooks whose stop rule met before the cap and
    their stop steps (vqlib.analysis.testbed.stops_table)."""
    return testbed.stops_table(study, inits, by=("spectrum", "K"), labels=LABELS, key="init")


def _ci(frame, col):
    return stats.mean_ci(frame[col]).format()


def step0_table(study: pd.DataFrame, spectra: list[str], regime_names: list[str], inits: list[str], K: int) -> pd.DataFrame:
    """Step 0, fixed PCA encoder, at K: gaps to D(R) and to the best codebook found, and dead codes, per spectrum and init."""
    rows = []
    for spectrum in spectra:
        sub = study[(study.spectrum == spectrum) & (study.K == K) & (study.regime == regime_names[0])]
        for name in inits:
            f = sub[sub.init == name]
            rows.append({"spectrum": spectrum, "init": LABELS[name], "gap to D(R) (dB)": _ci(f, "gap_start_db"),
                         "gap to best (dB)": _ci(f, "best_gap_start_db"), "dead codes": _ci(f, "dead_start")})
    return pd.DataFrame(rows)


def trained_table(study: pd.DataFrame, spectra: list[str], regime_names: list[str], inits: list[str], K: int) -> pd.DataFrame:
    """After codebook-only training, per regime and init: gaps, dead codes and steps to k-means' distortion, per spectrum."""
    rows = []
    for regime in regime_names:
        for name in inits:
            row = {"regime": regime, "init": LABELS[name]}
            for spectrum in spectra:
                f = study[(study.spectrum == spectrum) & (study.K == K) & (study.regime == regime) & (study.init == name)]
                tag = "geom." if spectrum == "geometric" else spectrum
                row[f"{tag}: gap to D(R) (dB)"] = _ci(f, "gap_db")
                row[f"{tag}: gap to best (dB)"] = _ci(f, "best_gap_db")
                row[f"{tag}: dead"] = _ci(f, "dead_end")
                reached = f.steps_to_kmeans.notna()
                row[f"{tag}: steps to k-means"] = ((stats.mean_ci(f.steps_to_kmeans[reached]).format(3)
                                                    + ("" if reached.all() else f" ({int(reached.sum())}/{len(f)})"))
                                                   if reached.any() else f"never (0/{len(f)})")
            rows.append(row)
    return pd.DataFrame(rows)


def regimes_figure(study: pd.DataFrame, spectra: list[str], regime_names: list[str], inits: list[str]):
    """Gap to the best codebook found against K: step 0 and after training per regime, one row per spectrum."""
    import matplotlib.pyplot as plt

    from vqlib import plotting

    gap_K = study.groupby(["spectrum", "regime", "init", "K"]).agg(start=("best_gap_start_db", "mean"), end=("best_gap_db", "mean")).reset_index()
    panels = ["step 0"] + list(regime_names)
    fig, axes = plt.subplots(len(spectra), len(panels), figsize=(2.4 * len(panels), 2.6 * len(spectra)), sharex=True, sharey=True, squeeze=False)
    for r, spectrum in enumerate(spectra):
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            for name in inits:
                g = gap_K[(gap_K.spectrum == spectrum) & (gap_K.init == name) & (gap_K.regime == (regime_names[0] if panel == "step 0" else panel))]
                ax.plot(g.K, g.start if panel == "step 0" else g.end, "o-", ms=3, color=plotting.COLORS[name], label=LABELS[name])
            ax.axhline(0, color="k", lw=0.8, ls=":")
            ax.set_xscale("log", base=2)
            ax.set_yscale("symlog", linthresh=1.0)
            ax.set_title(f"{spectrum}, {panel}", fontsize=8)
            if r == len(spectra) - 1:
                ax.set_xlabel("codebook size K", fontsize=8)
        axes[r, 0].set_ylabel("gap to best codebook (dB)", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def _per_seed(frame, regime, name, col):
    return frame[(frame.regime == regime) & (frame.init == name)].sort_values("seed")[col].to_numpy()


def regime_values(study: pd.DataFrame, inits: list[str], regime_names: list[str], K: int) -> dict:
    """The values the regime section glues beside its claims (the verdicts come from vqlib.claims): the transform code
    against the best codebook found, and the gaps to it after training."""
    tb_K, values = study[(study.spectrum == "geometric") & (study.K == K)], {}
    if "transform_coding" in inits:
        tc = _per_seed(tb_K, regime_names[0], "transform_coding", "dist_start")
        best_col = tb_K[(tb_K.regime == regime_names[0]) & (tb_K.init == "transform_coding")].sort_values("seed").best.to_numpy()
        tc_text = f"transform code (exact closed form) relative to the best codebook found: {_rel(stats.paired(best_col, tc).relative)}"
    else:
        tc_text = "transform_coding not in inits"
    values["initialization_tc_text"] = tc_text + f" (K = {K}, geometric spectrum)"
    others_K = tb_K[tb_K.init != "kmeans"].groupby(["regime", "init"]).best_gap_db.mean()
    values["initialization_regime_gap_ranges"] = "; ".join(f"{r}: {others_K.loc[r].min():.2f} to {others_K.loc[r].max():.2f} dB" for r in regime_names)
    for spec_name, key in (("geometric", "geo"), ("flat", "flat")):
        f = study[(study.spectrum == spec_name) & (study.K == K) & (study.regime == regime_names[0])]
        if "transform_coding" in inits and len(f):
            g0 = f.groupby("init").best_gap_start_db.mean().drop("kmeans")
            values[f"initialization_tc_{key}"] = (f"{g0['transform_coding']:.2f} dB, rank {int(g0.rank().loc['transform_coding'])} of {len(g0)} "
                                                  "starts other than k-means")
        else:
            values[f"initialization_tc_{key}"] = "not measured"
    return values
