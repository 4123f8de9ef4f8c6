"""What book/initialization.md derives from the stored initialization study: per-seed readings, tables, figures,
glued values and the frames the registry's claims are judged on (frames; no training here)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vqlib import rd, stats
from vqlib.claim_registry import BETA_MARGIN, INIT_SEED_RANGES  # noqa: F401 - read by the chapter
from vqlib.init import LABELS
from vqlib.studies.initialization import start_end

FX, LN = "fixed PCA encoder", "learned encoder"
#: seed document 000, §3 "Codebook Utilization Patterns" (K = 32): (initial, final) dead codes (written in the registry).
SEED_RANGES = INIT_SEED_RANGES


# --- generic readings ---------------------------------------------------------------------------------------


def settle_steps(history: pd.DataFrame, column: str, by: list[str], db: float = 0.5) -> pd.DataFrame:
    """Per group and seed: the first evaluated step from which `column` stays within `db` dB of its final value.

    The resolution is the evaluation interval; 0 means it starts there. Returns by + [seed, settle_step].
    """
    if not db > 0:
        raise ValueError(f"db must be a finite number in (0.0, inf], got {db}")
    rows = []
    for key, g in history.groupby(by + ["seed"], sort=True):
        g = g.sort_values("step")
        off = np.abs(10 * np.log10(g[column].to_numpy() / g[column].to_numpy()[-1])) > db
        steps = g.step.to_numpy()
        last_off = np.flatnonzero(off)
        settle = steps[0] if last_off.size == 0 else steps[last_off[-1] + 1]
        rows.append((*key, int(settle)))
    return pd.DataFrame(rows, columns=by + ["seed", "settle_step"])


def _rel(ci) -> str:
    """A relative interval in percent, signed: '+1.2 % [+0.3, +2.1]'."""
    return f"{100 * ci.mean:+.1f} % [{100 * ci.low:+.1f}, {100 * ci.high:+.1f}]"


# --- the per-seed table of both settings ------------------------------------------------------------------


def fixed_curves(res: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Learning curves of the seeds' setting (geometric spectrum, seeds-budget regime), fixed PCA encoder."""
    c = res["codebook_curves"]
    return c[(c.spectrum == "geometric") & (c.regime == "seeds-budget")].drop(columns=["spectrum", "regime"])


def learned_inits(res: dict[str, pd.DataFrame]) -> list[str]:
    """The initializers the learned-encoder runs trained, in the chapter's order."""
    return list(dict.fromkeys(res["learned_ends"].init))


def pca_residual(res: dict[str, pd.DataFrame]) -> np.ndarray:
    """Per seed (in seed order), the held-out PCA residual E‖x − EᵀE x‖² of the geometric testbed."""
    return res["learned_ends"].groupby("seed").pca_residual.first().to_numpy()


def per_seed(res: dict[str, pd.DataFrame], steps: int) -> pd.DataFrame:
    """One row per (setting, K, init, seed): distortion and dead codes at step 0 and after training, the bound,
    the Lloyd optimum, the gap in dB to each and the settling step."""
    by = ["K", "init"]
    study = res["codebook"]
    per_fixed = study[(study.spectrum == "geometric") & (study.regime == "seeds-budget")].drop(columns=["spectrum", "regime"])
    per_fixed = per_fixed[["K", "init", "seed", "dist_start", "dead_start", "batch_start", "dist_end", "dead_end", "batch_end", "bound", "lloyd"]]
    per_fixed = per_fixed.merge(settle_steps(fixed_curves(res), "latent_distortion", by), on=by + ["seed"])
    lloyd = per_fixed[per_fixed.init == "kmeans"].set_index(["K", "seed"]).dist_start
    per_fixed.insert(0, "setting", FX)

    ends = res["learned_ends"]
    residual = pca_residual(res)
    per_learned = start_end(ends, {"sq_error": "dist", "dead_codes": "dead"}, steps, by)
    per_learned = per_learned.merge(settle_steps(res["learned_curves"], "sq_error", by), on=by + ["seed"])
    per_learned["bound"] = per_learned.K.map(ends.groupby("K").bound.first())
    per_learned["lloyd"] = lloyd.loc[list(zip(per_learned.K, per_learned.seed))].to_numpy() + residual[per_learned.seed.to_numpy()]
    per_learned.insert(0, "setting", LN)

    out = pd.concat([per_fixed, per_learned], ignore_index=True)
    out["gap_db"] = rd.gap_db(out.dist_end, out.bound)
    out["lloyd_gap_db"] = rd.gap_db(out.dist_end, out.lloyd)
    return out


# --- the estimator/β invariance check -----------------------------------------------------------------------


def invariance_table(inv: pd.DataFrame) -> pd.DataFrame:
    """The invariance check as shown: estimator names, β and the largest differences formatted."""
    return inv.assign(
        estimator=inv.estimator.map({"ste": "STE", "rotation_trick": "rotation trick", "projection": "seeds' rotation (projection)"}),
        beta=inv.beta.map("{:g}".format),
        max_diff_first=inv.max_diff_first.map("{:.1e}".format),
        max_diff_codebook_only=inv.max_diff_codebook_only.map("{:.1e}".format),
    ).rename(columns={"beta": "β", "max_diff_first": "largest difference from the first run",
                      "max_diff_codebook_only": "largest difference from codebook-loss-only training"})


# --- distortion and dead codes per initializer ----------------------------------------------------------


def main_tables(per_seed: pd.DataFrame, inits: list[str], learned: list[str], K_list: list[int]) -> dict[str, tuple]:
    """Per setting: (shown, numbers) of dead codes, distortion, gaps and settling step per (init, K)."""
    out = {}
    for setting in [FX, LN]:
        sub = per_seed[per_seed.setting == setting].copy()
        sub["key"] = sub.init + "|" + sub.K.astype(str)
        order = [f"{i}|{k}" for i in (inits if setting == FX else learned) for k in K_list]
        cols = ["dead_start", "dead_end", "dist_start", "dist_end", "gap_db", "lloyd_gap_db", "settle_step"]
        shown, numbers = stats.summarize(sub, "key", cols, order=order)
        shown.insert(0, "init", [LABELS[k.split("|")[0]] for k in order])
        shown.insert(1, "K", [k.split("|")[1] for k in order])
        shown = shown.drop(columns="key").rename(columns={
            "dead_start": "dead codes, step 0", "dead_end": "dead codes, final", "dist_start": "distortion, step 0",
            "dist_end": "distortion, final", "gap_db": "gap to D(R) (dB)", "lloyd_gap_db": "gap to Lloyd (dB)",
            "settle_step": "steps to 0.5 dB"})
        out[setting] = (shown, numbers)
    return out


def curves_figure(res: dict[str, pd.DataFrame], per_seed: pd.DataFrame, inits: list[str], K_list: list[int]):
    """Held-out distortion against training step, fixed encoder (top) and learned encoder (bottom), one column per K."""
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    from vqlib import plotting

    learned = learned_inits(res)
    curves = {FX: (fixed_curves(res), "latent_distortion"), LN: (res["learned_curves"], "sq_error")}
    fig, axes = plt.subplots(2, len(K_list), figsize=(2.3 * len(K_list), 5.2), sharex=True, squeeze=False)
    for r, (setting, (hist, col)) in enumerate(curves.items()):
        ref = per_seed[per_seed.setting == setting]
        for c, k in enumerate(K_list):
            ax = axes[r, c]
            for name in (inits if r == 0 else learned):
                plotting.mean_band(ax, hist[(hist.K == k) & (hist.init == name)], "step", col, LABELS[name], plotting.COLORS[name])
            ax.axhline(ref[ref.K == k].bound.iloc[0], color="k", ls=":", label="D(R)")
            ax.axhline(ref[ref.K == k].lloyd.mean(), color=plotting.COLORS["pca_lloyd"], ls="--", label="Lloyd optimum")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
            ax.tick_params(axis="y", which="both", labelsize=7)
            ax.set_title(f"{setting}, K = {k}", fontsize=7)
            ax.set_xlabel("training step", fontsize=8)
        axes[r, 0].set_ylabel("latent distortion E‖z − q‖²" if r == 0 else "distortion E‖x − x̂‖²", fontsize=8)
    axes[0, 0].legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return fig


def main_values(per_seed: pd.DataFrame, inits: list[str], learned: list[str], K_list: list[int], K: int, std: float) -> dict:
    """The glued readings of the main section: paired R(D) comparisons, gap ranges, settling, dead codes, best start."""
    at_K = per_seed[per_seed.K == K]
    out = {}
    vs_kmeans = stats.paired_against(at_K, "init", "kmeans", "dist_end", group="setting").set_index(["setting", "init"])
    out["initialization_rd_vs_kmeans"] = _rel_row(vs_kmeans.loc[(FX, "rd_optimal")])
    out["initialization_rd_vs_kmeans_learned"] = _rel_row(vs_kmeans.loc[(LN, "rd_optimal")])
    if "data_samples" in inits:
        vs_data = stats.paired_against(at_K, "init", "data_samples", "dist_end", group="setting").set_index(["setting", "init"])
        out["initialization_rd_vs_data"] = _rel_row(vs_data.loc[(FX, "rd_optimal")])
    else:
        out["initialization_rd_vs_data"] = "not measured (data_samples is not in inits)"
    gaps = per_seed.groupby(["setting", "init", "K"]).agg(gap=("gap_db", "mean"), lloyd_gap=("lloyd_gap_db", "mean"), settle=("settle_step", "mean"))
    out["initialization_kmeans_gap_range"] = f"{gaps.loc[(FX, 'kmeans')].gap.min():.2f} to {gaps.loc[(FX, 'kmeans')].gap.max():.2f} dB"
    out["initialization_uniform_lloyd_gap_range"] = (f"{gaps.loc[(FX, 'uniform')].lloyd_gap.min():.1f} to "
                                                     f"{gaps.loc[(FX, 'uniform')].lloyd_gap.max():.1f} dB")
    out["initialization_rd_lloyd_gap_range"] = (f"{gaps.loc[(FX, 'rd_optimal')].lloyd_gap.min():.2f} to "
                                                f"{gaps.loc[(FX, 'rd_optimal')].lloyd_gap.max():.2f} dB")
    out["initialization_uniform_settle"] = f"{gaps.loc[(FX, 'uniform')].settle.min():.0f} to {gaps.loc[(FX, 'uniform')].settle.max():.0f}"
    dead_end = per_seed.groupby(["setting", "init", "K"]).dead_end.mean()
    out["initialization_learned_dead_largeK"] = ", ".join(f"{LABELS[i]} {dead_end.loc[(LN, i, max(K_list))]:.3g}" for i in learned)
    out["initialization_K_max"] = max(K_list)
    final_K = at_K.groupby(["setting", "init"]).dist_end.mean()
    out["initialization_best_init"] = "; ".join(f"{LABELS[final_K.loc[s].idxmin()]} ({s})" for s in (FX, LN))
    out["initialization_std_text"] = f"{std:.3g}"
    kl = per_seed[(per_seed.setting == LN) & (per_seed.init == "kmeans") & (per_seed.K == K)]
    out["initialization_learned_kmeans_lloyd_gap"] = stats.mean_ci(kl.lloyd_gap_db).format() + " dB"
    return out


def _rel_row(row) -> str:
    return f"{100 * row.rel_mean:+.1f} % [{100 * row.rel_low:+.1f}, {100 * row.rel_high:+.1f}]"


