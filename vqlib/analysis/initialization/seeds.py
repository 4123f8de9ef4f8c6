"""The initialization chapter: the seeds' utilization table, the uniform scale, theory-based starts and β (claims)."""

from __future__ import annotations

import pandas as pd

from vqlib import rd, stats
from vqlib.analysis.initialization.common import FX, LN, SEED_RANGES, start_end
from vqlib.init import LABELS

# --- the seeds' utilization table -----------------------------------------------------------------------------


def utilization_readings(
    per_seed: pd.DataFrame, K: int, ranges: dict[str, tuple[tuple[float, float], tuple[float, float]]], mid: float | None = None
) -> pd.DataFrame:
    """Score readings of a dead-code table (initial, final per initializer) against the seed's ranges.

    per_seed: one row per (setting, init, K, seed) with dead_start, dead_end and, where measured,
    batch_start, batch_end (per-batch counts). Readings: as written (K, one quantizer, per set); a larger
    K'; a sum over n quantizers at K, n fitted so the first initializer's initial count meets the middle of
    its range (`mid`); a per-batch count at K'. For each, the mean per cell and how many cells fall in range.
    """
    inits = list(ranges)
    first_lo, first_hi = ranges[inits[0]][0]
    mid = (first_lo + first_hi) / 2 if mid is None else mid
    rows = []

    def add(setting, family, reading, k, n, start_col, end_col):
        sub = per_seed[(per_seed.setting == setting) & (per_seed.K == k)]
        if sub.empty or start_col not in sub or sub[start_col].isna().all():
            return
        row = {"setting": setting, "family": family, "reading": reading, "K": k, "n": n}
        inside = 0
        for name in inits:
            s = sub[sub.init == name]
            for phase, col, (lo, hi) in (("initial", start_col, ranges[name][0]), ("final", end_col, ranges[name][1])):
                v = n * float(s[col].mean()) if len(s) else float("nan")
                row[f"{name}_{phase}"] = v
                inside += bool(lo <= v <= hi)
        row["cells_in_range"] = inside
        rows.append(row)

    for setting in dict.fromkeys(per_seed.setting):
        add(setting, "as written", f"K = {K}, one quantizer, held-out set", K, 1, "dead_start", "dead_end")
        for k in sorted(per_seed.K.unique()):
            if k > K:
                add(setting, "larger K", f"K = {k}, one quantizer, held-out set", k, 1, "dead_start", "dead_end")
        first = per_seed[(per_seed.setting == setting) & (per_seed.K == K) & (per_seed.init == inits[0])].dead_start.mean()
        n = max(1, int(round(mid / first))) if first > 0 else 1
        add(setting, "sum over quantizers", f"K = {K}, summed over n = {n} quantizers", K, n, "dead_start", "dead_end")
        for k in sorted(per_seed.K.unique()):
            add(setting, "per batch", f"K = {k}, per batch", k, 1, "batch_start", "batch_end")
    out = pd.DataFrame(rows)
    # within a family, keep the best-scoring reading (ties: the first cell closest to the middle of its range)
    out["_tie"] = -(out[f"{inits[0]}_initial"] - mid).abs()
    out["best_in_family"] = False
    best = out.sort_values(["cells_in_range", "_tie"], ascending=False).groupby(["setting", "family"], sort=False).head(1).index
    out.loc[best, "best_in_family"] = True
    return out.drop(columns="_tie")


def best_readings(per_seed: pd.DataFrame, K: int) -> tuple[pd.DataFrame, pd.Series, pd.Series, dict]:
    """(best reading per family, the adopted reading, the literal reading, glued values)."""
    readings = utilization_readings(per_seed, K, SEED_RANGES)
    best = readings[readings.best_in_family].reset_index(drop=True)
    adopted = best.sort_values("cells_in_range", ascending=False, kind="stable").iloc[0]
    written = best[(best.setting == FX) & (best.family == "as written")].iloc[0]
    values = {
        "initialization_adopted": f"{adopted.reading} ({adopted.setting})",
        "initialization_adopted_cells": int(adopted.cells_in_range),
        "initialization_written_cells": int(written.cells_in_range),
        "initialization_best_cells_per_family": "; ".join(f"{r.family} ({r.setting}): {r.cells_in_range} of 6" for r in best.itertuples()),
    }
    return best, adopted, written, values


def seed_side_table(per_seed: pd.DataFrame, adopted: pd.Series, K: int) -> pd.DataFrame:
    """The seeds' utilization table beside ours, under the adopted reading and as written."""
    use_batch = adopted.family == "per batch"
    col_s, col_e = ("batch_start", "batch_end") if use_batch else ("dead_start", "dead_end")
    sel = per_seed[(per_seed.setting == adopted.setting) & (per_seed.K == adopted.K)]
    asw = per_seed[(per_seed.setting == FX) & (per_seed.K == K)]
    side = []
    for name, ((lo_s, hi_s), (lo_e, hi_e)) in SEED_RANGES.items():
        ours = sel[sel.init == name].sort_values("seed")
        plain = asw[asw.init == name].sort_values("seed")
        side.append({
            "init": LABELS[name],
            "initial (seed)": f"{lo_s:g}–{hi_s:g}",
            "initial (ours, adopted)": stats.mean_ci(adopted.n * ours[col_s].to_numpy()).format(),
            "initial (ours, as written)": stats.mean_ci(plain.dead_start.to_numpy()).format(),
            "final (seed)": f"{lo_e:g}–{hi_e:g}",
            "final (ours, adopted)": stats.mean_ci(adopted.n * ours[col_e].to_numpy()).format(),
            "final (ours, as written)": stats.mean_ci(plain.dead_end.to_numpy()).format(),
        })
    return pd.DataFrame(side)


def seed_table_values(per_seed: pd.DataFrame, K: int) -> dict:
    """The dead codes of the uniform start the seed-table section glues (its claims are judged by vqlib.claims)."""
    at_K = per_seed[per_seed.K == K]
    uniform_dead = {s: stats.mean_ci(at_K[(at_K.setting == s) & (at_K.init == "uniform")].dead_end).format() for s in (FX, LN)}
    asw = at_K[at_K.setting == FX]
    return {"initialization_uniform_dead_fixed": uniform_dead[FX], "initialization_uniform_dead_learned": uniform_dead[LN],
            "initialization_uniform_start_fixed": stats.mean_ci(asw[asw.init == "uniform"].dead_start).format()}


def readings_table(best: pd.DataFrame) -> pd.DataFrame:
    """The best reading of each family beside the seeds' printed ranges, as shown."""
    cells = [f"{i}_{p}" for i in SEED_RANGES for p in ("initial", "final")]
    shown = best[["setting", "reading"] + cells + ["cells_in_range"]].copy()
    for c in cells:
        shown[c] = shown[c].map("{:.3g}".format)
    seed_row = {"setting": "seed 000 §3", "reading": "as printed",
                **{f"{i}_{p}": f"{lo:g}–{hi:g}" for i, r in SEED_RANGES.items() for p, (lo, hi) in zip(("initial", "final"), r)},
                "cells_in_range": "–"}
    shown = pd.concat([pd.DataFrame([seed_row]), shown.astype(str)], ignore_index=True)
    return shown.rename(columns={**{f"{i}_{p}": f"{LABELS[i]}, {p}" for i in SEED_RANGES for p in ("initial", "final")},
                                 "cells_in_range": "cells in the seed's range (of 6)"})


# --- the uniform scale -----------------------------------------------------------------------------------------


def scale_sweep(scale: pd.DataFrame, steps: int) -> pd.DataFrame:
    """Per (ratio, seed): dead codes and latent distortion at step 0 and after training."""
    return start_end(scale, {"dead_codes": "dead", "latent_distortion": "dist"}, steps, ["ratio"])


def root_cause(scale: pd.DataFrame, steps: int) -> dict:
    """The uniform-scale sweep's glued values (the root-cause claim itself is judged by vqlib.claims on frames.scale_frame)."""
    std, default_ratio = float(scale["std"].iloc[0]), float(scale.default_ratio.iloc[0])
    sw = scale_sweep(scale, steps)
    means = sw.groupby("ratio")[["dead_start", "dead_end", "dist_end"]].mean()
    best_ratio = means.sort_values(["dead_start", "dist_end"]).index[0]
    vs_default = stats.paired_against(sw, "ratio", default_ratio, "dead_start").set_index("ratio")
    smallest, largest = float(sw.ratio.min()), float(sw.ratio.max())
    values = {
        "initialization_std": std,
        "initialization_default_ratio": f"{default_ratio:.3g}",
        "initialization_best_ratio": f"{best_ratio:g}",
        "initialization_dead_default": f"{means.loc[default_ratio, 'dead_start']:.3g} / {means.loc[default_ratio, 'dead_end']:.3g}",
        "initialization_dead_best": f"{means.loc[best_ratio, 'dead_start']:.3g} / {means.loc[best_ratio, 'dead_end']:.3g}",
        "initialization_smallest_ratio": f"{smallest:g}",
        "initialization_dead_smallest": f"{means.loc[smallest, 'dead_start']:.3g}",
        "initialization_dead_smallest_end": f"{means.loc[smallest, 'dead_end']:.3g}",
        "initialization_smallest_vs_default": (f"{vs_default.loc[smallest, 'diff_mean']:+.3g} [{vs_default.loc[smallest, 'diff_low']:+.3g}, "
                                               f"{vs_default.loc[smallest, 'diff_high']:+.3g}]"),
        "initialization_largest_ratio": f"{largest:g}",
        "initialization_dead_largest": f"{means.loc[largest, 'dead_start']:.3g} / {means.loc[largest, 'dead_end']:.3g}",
    }
    return values


def scale_figure(scale: pd.DataFrame, per_seed: pd.DataFrame, steps: int, K: int):
    """Dead codes (left) and final latent distortion (right) against the uniform half-width over the latent's RMS std."""
    import matplotlib.pyplot as plt

    from vqlib import plotting

    sw, default_ratio = scale_sweep(scale, steps), float(scale.default_ratio.iloc[0])
    fixed_K = per_seed[(per_seed.setting == FX) & (per_seed.K == K)]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    plotting.mean_band(axes[0], sw, "ratio", "dead_start", "step 0", plotting.COLORS["uniform"])
    plotting.mean_band(axes[0], sw, "ratio", "dead_end", f"after {steps} steps", plotting.COLORS["rd_optimal"])
    plotting.mean_band(axes[1], sw, "ratio", "dist_end", f"uniform, after {steps} steps", plotting.COLORS["uniform"])
    axes[1].axhline(fixed_K[fixed_K.init == "kmeans"].dist_start.mean(), color=plotting.COLORS["pca_lloyd"], ls="--", label="Lloyd optimum")
    axes[1].axhline(fixed_K.bound.iloc[0], color="k", ls=":", label="D(R)")
    for ax in axes:
        ax.axvline(default_ratio, color="0.5", lw=0.8, ls="-.", label="seeds' default 1/K")
        ax.set_xscale("log")
        ax.set_xlabel("uniform half-width / latent RMS std")
    axes[0].set_ylabel(f"dead codes (of {K})")
    axes[1].set(ylabel="latent distortion E‖z − q‖²", yscale="log")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- theory-based initialization ----------------------------------------------------------------------------


def theory_values(per_seed: pd.DataFrame, K_list: list[int], K: int) -> dict:
    """The R(D) start's dead codes the theory section glues (its claim is judged by vqlib.claims on frames.setting_frame)."""
    rd_K = per_seed[(per_seed.K == K) & (per_seed.init == "rd_optimal")]
    rd_ci = {(s, c): stats.mean_ci(rd_K[rd_K.setting == s][c]) for s in (FX, LN) for c in ("dead_start", "dead_end")}
    rd_all = per_seed[per_seed.init == "rd_optimal"].groupby(["setting", "K"]).dead_end.mean()
    return {
        "initialization_rd_dead_by_K_learned": ", ".join(f"{rd_all.loc[(LN, k)]:.3g} (K = {k})" for k in K_list),
        "initialization_rd_dead_by_K_fixed": ", ".join(f"{rd_all.loc[(FX, k)]:.3g} (K = {k})" for k in K_list),
        "initialization_rd_dead_K_fixed": f"{rd_ci[(FX, 'dead_start')].format()} / {rd_ci[(FX, 'dead_end')].format()}",
        "initialization_rd_dead_K_learned": f"{rd_ci[(LN, 'dead_start')].format()} / {rd_ci[(LN, 'dead_end')].format()}",
    }


# --- commitment weight β --------------------------------------------------------------------------------------


def beta_final(beta_runs: pd.DataFrame, steps: int) -> pd.DataFrame:
    """The β sweep after training: one row per (init, β, seed) with the gap to D(R)."""
    bf = beta_runs[beta_runs.step == steps].copy()
    bf["gap_db"] = rd.gap_db(bf.sq_error, bf.bound.iloc[0])
    return bf.drop(columns="bound")


def beta_table(bf: pd.DataFrame, beta_list: list[float], beta: float, seeds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shown, numbers): final distortion, gap and dead codes per (init, β), and the paired change against the reference β."""
    vs_ref = stats.paired_against(bf, "beta", beta, "sq_error", group="init")
    beta_inits = list(dict.fromkeys(bf.init))
    bkey = bf.assign(key=bf.init + "|" + bf.beta.astype(str))
    order = [f"{i}|{b}" for i in beta_inits for b in beta_list]
    shown, numbers = stats.summarize(bkey, "key", ["sq_error", "gap_db", "dead_codes"], order=order)
    rel = vs_ref.set_index(["init", "beta"])
    shown.insert(0, "init", [LABELS[k.split("|")[0]] for k in order])
    shown.insert(1, "β", [k.split("|")[1] for k in order])
    shown[f"vs β = {beta} (%)"] = [stats.Interval(100 * r.rel_mean, 100 * r.rel_low, 100 * r.rel_high, seeds).format()
                                   for r in (rel.loc[(k.split('|')[0], float(k.split('|')[1]))] for k in order)]
    shown = shown.drop(columns="key").rename(columns={"sq_error": "distortion E‖x − x̂‖²", "gap_db": "gap to D(R) (dB)", "dead_codes": "dead codes"})
    return shown, numbers


def beta_values(bf: pd.DataFrame, beta_list: list[float]) -> dict:
    """The β sweep's glued values (the five parts of the seeds' β advice are judged by vqlib.claims on frames.beta_frame)."""
    beta_inits = list(dict.fromkeys(bf.init))
    dead_means = bf.groupby(["init", "beta"]).dead_codes.mean()
    best_beta = bf.groupby(["init", "beta"]).sq_error.mean().groupby("init").idxmin()
    return {
        "initialization_best_beta": ", ".join(f"{LABELS[i]}: β = {best_beta.loc[i][1]:g}" for i in beta_inits),
        "initialization_beta_dead_uniform": ", ".join(f"{dead_means.loc[('uniform', b)]:.3g}" for b in beta_list),
        "initialization_beta_list": ", ".join(f"{b:g}" for b in beta_list),
    }
