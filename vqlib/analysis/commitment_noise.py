"""What the commitment and noise chapter derives from its stored runs (vqlib.studies.commitment_noise): the frame its
claims read, its tables, figures and glued readings."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vqlib import plotting, stats
from vqlib.analysis.convergence import recovery
from vqlib.claims import COLLAPSED
from vqlib.grid import LABELS

#: "Recovered": at most this fraction of the codes dead.
RECOVERED = 0.1
RUN = ["data", "start", "beta", "method", "seed"]


def claim_frame(res: dict[str, pd.DataFrame], K: int, sigma: float, sigma_list: list[float], regimes: list[str]) -> pd.DataFrame:
    """Every row the commitment and noise claims read, per regime: the β sweep's final values with the recovery from
    the collapsed starts (sweep "beta"), the range of the final dead codes over β per method and seed from the
    standard start ("beta_range"), and the σ sweep with its train–test gap `overfit` ("sigma"); dead_pct = % of K."""
    bf, bh, sf_all = res["beta_final"], res["beta_history"], res["sigma_final"]
    parts = []
    for r in regimes:
        h = bh[bh.regime == r].reset_index(drop=True)
        rec = recovery(h[h.start.isin(COLLAPSED)].drop(columns="regime"), K, RECOVERED)
        f = bf[bf.regime == r].reset_index(drop=True).merge(rec, on=RUN, how="left")
        parts.append(f.assign(sweep="beta", sigma=sigma))
        rng = f[f.start == "standard"].groupby(["method", "seed"], sort=False).dead_codes.agg(np.ptp).rename("dead_range").reset_index()
        parts.append(rng.assign(regime=r, sweep="beta_range", start="standard"))
        sf = sf_all[sf_all.regime == r].reset_index(drop=True)
        sf["overfit"] = sf.recon_mse.to_numpy() / sf.train_recon_mse.to_numpy() - 1
        sf = sf.drop(columns="train_recon_mse")
        parts.append(sf.assign(sweep="sigma", start="standard", sigma=sf.data.map(dict(enumerate(sigma_list)))))
    frame = pd.concat(parts, ignore_index=True)
    frame["dead_pct"] = 100 * frame.dead_codes / K
    return frame


def readings(res: dict[str, pd.DataFrame], beta_final: pd.DataFrame, regime: str, seeds: int, rot: str) -> dict[str, str]:
    """Dead codes at step 0 from each collapsed start (cn_start_dead, cn_start_dead_far) and in how many seeds
    method `rot` ends with the same dead codes at every β from the collapsed start (cn_bimodal), in `regime`."""
    hist = res["beta_history"]
    h0 = hist[(hist.regime == regime) & (hist.step == 0) & (hist.method == "ste")]
    col0 = beta_final[(beta_final.regime == regime) & (beta_final.start == "collapsed") & (beta_final.method == rot)]
    same = int((col0.groupby("seed").dead_codes.nunique() == 1).sum())
    return {"cn_start_dead": stats.mean_ci(h0[h0.start == "collapsed"].dead_codes.to_numpy()).format(),
            "cn_start_dead_far": stats.mean_ci(h0[h0.start == "collapsed_far"].dead_codes.to_numpy()).format(),
            "cn_bimodal": f"{same} of {seeds}", "cn_recovered_pct": f"{100 * RECOVERED:g} %"}


def recovery_figure(hist: pd.DataFrame, beta_final: pd.DataFrame, regime: str, methods: list[str], K: int, beta: float):
    """Dead codes during training at β = `beta` from both collapsed starts, and final dead codes against β from the
    standard start, in `regime`."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    for ax, st in zip(axes[:2], COLLAPSED):
        for name in methods:
            h = hist[(hist.regime == regime) & (hist.start == st) & (hist.beta == beta) & (hist.method == name)]
            plotting.mean_band(ax, h, "step", "dead_codes", LABELS[name], plotting.COLORS[name])
        ax.set(xlabel="training step", ylabel=f"dead codes (of {K})", title=f"{st} start, β = {beta:g}")
    std0 = beta_final[(beta_final.regime == regime) & (beta_final.start == "standard")]
    for name in methods:
        plotting.mean_ci_errorbar(axes[2], std0[std0.method == name], "beta", "dead_codes", LABELS[name], plotting.COLORS[name])
    axes[2].set(xscale="log", xlabel="commitment β", ylabel=f"final dead codes (of {K})", title="standard start")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def commitment_table(beta_final: pd.DataFrame, seeds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """tbl-commitment: final dead codes and recon MSE per (regime, β, start, method), and from the collapsed starts
    the mean dead fraction, the recovered runs and their median recovery step."""
    keys = ["regime", "beta", "start", "method"]
    shown, numbers = stats.summarize_by(beta_final, keys, ["dead_codes", "recon_mse"])
    recovered = beta_final.groupby(keys, sort=False).recovery_step.agg(["count", "median"]).reset_index()
    collapsed_rows = shown.start != "standard"
    shown["mean_dead_fraction"] = [stats.mean_ci(sub.mean_dead_fraction.to_numpy()).format() if st != "standard" else "–"
                                   for (_, sub), st in zip(beta_final.groupby(keys, sort=False), shown.start)]
    shown["recovered runs"] = [f"{c} of {seeds}" if col else "–" for c, col in zip(recovered["count"], collapsed_rows)]
    shown["median recovery step"] = [f"{v:.0f}" if col and np.isfinite(v) else "–" for v, col in zip(recovered["median"], collapsed_rows)]
    shown["method"] = shown.method.map(LABELS)
    shown = shown.rename(columns={"dead_codes": "final dead codes", "recon_mse": "recon MSE", "mean_dead_fraction": "mean dead fraction"})
    return shown, numbers


def noise_table(sig_final: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """tbl-noise: dead codes, entropy, recon MSE and the train–test gap (%) per (regime, σ, method)."""
    shown, numbers = stats.summarize_by(sig_final, ["regime", "sigma", "method"], ["dead_codes", "entropy_bits", "recon_mse"])
    shown["overfit"] = [stats.mean_ci(100 * sig_final[(sig_final.regime == r) & (sig_final.sigma == s) & (sig_final.method == n)].overfit.to_numpy()).format()
                        for r, s, n in zip(shown.regime, shown.sigma, shown.method)]
    shown["method"] = shown.method.map(LABELS)
    shown = shown.rename(columns={"sigma": "σ", "dead_codes": "dead codes", "entropy_bits": "entropy (bits)", "recon_mse": "recon MSE",
                                  "overfit": "held-out vs training MSE (%)"})
    return shown, numbers


def noise_figure(sig_final: pd.DataFrame, regimes: list[str], methods: list[str], K: int):
    """Entropy (with log2 K) and recon MSE against σ, mean over seeds, one line style per regime."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for r, ls in zip(regimes, ["-", "--", ":", "-."] * len(regimes)):
        for name in methods:
            f = sig_final[(sig_final.method == name) & (sig_final.regime == r)]
            g = f.groupby("sigma").agg(entropy_bits=("entropy_bits", "mean"), recon_mse=("recon_mse", "mean")).reset_index()
            axes[0].plot(g.sigma, g.entropy_bits, ls=ls, color=plotting.COLORS[name], label=f"{LABELS[name]}, {r}")
            axes[1].plot(g.sigma, g.recon_mse, ls=ls, color=plotting.COLORS[name], label=f"{LABELS[name]}, {r}")
    axes[0].axhline(np.log2(K), color="k", lw=0.8, label="log2 K")
    axes[0].set(xlabel="noise σ", ylabel="entropy (bits)")
    axes[1].set(xlabel="noise σ", ylabel="recon MSE", yscale="log")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig
