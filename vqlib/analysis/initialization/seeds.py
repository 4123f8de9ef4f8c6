"""The initialization chapter: the seeds' utilization table, the uniform scale, theory-based starts and β (claims)."""

from __future__ import annotations

import pandas as pd

from vqlib import rd, stats
from vqlib.analysis.initialization.common import BETA_MARGIN, FX, LN, SEED_RANGES, SRC_BETA, SRC_TABLE, start_end
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


def seed_table_claims(per_seed: pd.DataFrame, adopted: pd.Series, written: pd.Series, K: int) -> tuple[list[dict], dict]:
    """The claims on the seeds' uniform and k-means rows and on 'uniform leaves the most dead codes', with glued values."""
    claims, values = [], {}
    for name, label in [("uniform", "Uniform [−1/n, 1/n]"), ("kmeans", "K-means")]:
        (lo_s, hi_s), (lo_e, hi_e) = SEED_RANGES[name]
        v_s, v_e = adopted[f"{name}_initial"], adopted[f"{name}_final"]
        w_s, w_e = written[f"{name}_initial"], written[f"{name}_final"]
        ok = lo_s <= v_s <= hi_s and lo_e <= v_e <= hi_e
        claims.append(dict(
            id=f"init-seed-table-{name}", source=SRC_TABLE,
            claim=f"{label} initialization: {lo_s:g}–{hi_s:g} initial and {lo_e:g}–{hi_e:g} final dead codes (K = 32)",
            seed_value=f"{lo_s:g}–{hi_s:g} / {lo_e:g}–{hi_e:g}",
            measured=f"adopted reading ({adopted.reading}, {adopted.setting}): {v_s:.3g} / {v_e:.3g}; as written (K = {K}): {w_s:.3g} / {w_e:.3g}",
            verdict="holds" if ok else "does not hold",
            why="holds if, under the best-fitting reading of the table, both mean counts fall in the seed's ranges", section="initialization-seed-table"))
        values[f"initialization_verdict_seed_{name}"] = claims[-1]["verdict"]
    at_K = per_seed[per_seed.K == K]
    worst = {s: stats.paired_against(at_K[at_K.setting == s], "init", "uniform", "dead_end") for s in (FX, LN)}
    worst_ok = all((w[w.init != "uniform"].diff_high < 0).all() for w in worst.values())
    uniform_dead = {s: stats.mean_ci(at_K[(at_K.setting == s) & (at_K.init == "uniform")].dead_end).format() for s in (FX, LN)}
    other_dead_max = {s: at_K[(at_K.setting == s) & (at_K.init != "uniform")].groupby("init").dead_end.mean().max() for s in (FX, LN)}
    claims.append(dict(
        id="init-uniform-dead", source=SRC_TABLE, claim="Standard uniform initialization causes many dead codes (more than the alternatives)",
        seed_value="", measured="; ".join(f"{s}: uniform {uniform_dead[s]}, others at most {other_dead_max[s]:.3g}" for s in (FX, LN)) + f" (final, K = {K})",
        verdict="holds" if worst_ok else "does not hold",
        why="holds if, in both settings, every other initializer ends with fewer dead codes than uniform (paired 95 % CI below 0)",
        section="initialization-seed-table"))
    asw = at_K[at_K.setting == FX]
    values["initialization_uniform_dead_fixed"] = uniform_dead[FX]
    values["initialization_uniform_dead_learned"] = uniform_dead[LN]
    values["initialization_uniform_start_fixed"] = stats.mean_ci(asw[asw.init == "uniform"].dead_start).format()
    values["initialization_verdict_uniform_worst"] = claims[-1]["verdict"]
    return claims, values


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


def root_cause(scale: pd.DataFrame, steps: int, K: int) -> tuple[dict, dict]:
    """The root-cause claim (widening the uniform range removes dead codes) as report.claim arguments, and glued values."""
    std, default_ratio = float(scale["std"].iloc[0]), float(scale.default_ratio.iloc[0])
    sw = scale_sweep(scale, steps)
    means = sw.groupby("ratio")[["dead_start", "dead_end", "dist_end"]].mean()
    best_ratio = means.sort_values(["dead_start", "dist_end"]).index[0]
    vs_default = stats.paired_against(sw, "ratio", default_ratio, "dead_start").set_index("ratio")
    vs_default_end = stats.paired_against(sw, "ratio", default_ratio, "dead_end").set_index("ratio")
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
    cause_ok = vs_default.loc[best_ratio, "diff_high"] < 0 and vs_default_end.loc[best_ratio, "diff_high"] < 0
    claim = dict(
        id="init-root-cause", source="000 §3 (Root Cause)",
        claim="Uniform initialization variance ~1/n² is too small compared to data variance (the cause of the dead codes)", seed_value="",
        measured=f"dead codes (initial / final, K = {K}): {means.loc[default_ratio, 'dead_start']:.3g} / {means.loc[default_ratio, 'dead_end']:.3g} "
        f"at the default scale (ratio {default_ratio:.3g}) vs {means.loc[best_ratio, 'dead_start']:.3g} / {means.loc[best_ratio, 'dead_end']:.3g} "
        f"at ratio {best_ratio:g}; {means.loc[smallest, 'dead_start']:.3g} initial at ratio {smallest:g}",
        verdict="holds" if cause_ok else "does not hold",
        why="holds if widening the uniform range to the sweep's best scale removes dead codes, initially and after training (paired 95 % CI below 0)",
        section="initialization-root-cause")
    values["initialization_verdict_root_cause"] = claim["verdict"]
    return claim, values


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


def theory_claim(per_seed: pd.DataFrame, K_list: list[int], K: int) -> tuple[dict, dict]:
    """The claim 'theory-based initialization: 0–5 dead codes' at K, both settings, and glued values."""
    at_K = per_seed[per_seed.K == K]
    rd_K = at_K[at_K.init == "rd_optimal"]
    rd_ci = {(s, c): stats.mean_ci(rd_K[rd_K.setting == s][c]) for s in (FX, LN) for c in ("dead_start", "dead_end")}
    theory_ok = all(ci.high <= 5 for ci in rd_ci.values())
    claim = dict(
        id="init-theory-dead", source=SRC_TABLE, claim="Theory-based (R(D)) initialization: expected 0–5 dead codes, initially and after training (K = 32)",
        seed_value="0–5 / 0–5",
        measured="; ".join(f"{s}: {rd_ci[(s, 'dead_start')].format()} / {rd_ci[(s, 'dead_end')].format()}" for s in (FX, LN)),
        verdict="holds" if theory_ok else "does not hold",
        why=f"holds if the upper end of the 95 % CI of the dead codes at step 0 and after training is at most 5, in both settings, at K = {K}",
        section="initialization-theory")
    rd_all = per_seed[per_seed.init == "rd_optimal"].groupby(["setting", "K"]).dead_end.mean()
    values = {
        "initialization_rd_dead_by_K_learned": ", ".join(f"{rd_all.loc[(LN, k)]:.3g} (K = {k})" for k in K_list),
        "initialization_rd_dead_by_K_fixed": ", ".join(f"{rd_all.loc[(FX, k)]:.3g} (K = {k})" for k in K_list),
        "initialization_rd_dead_K_fixed": f"{rd_ci[(FX, 'dead_start')].format()} / {rd_ci[(FX, 'dead_end')].format()}",
        "initialization_rd_dead_K_learned": f"{rd_ci[(LN, 'dead_start')].format()} / {rd_ci[(LN, 'dead_end')].format()}",
        "initialization_verdict_theory": claim["verdict"],
    }
    return claim, values


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


def beta_claims(bf: pd.DataFrame, beta_list: list[float], beta: float) -> tuple[list[dict], dict]:
    """The five parts of the seeds' β advice as report.claim arguments, and the glued values."""
    vs_ref = stats.paired_against(bf, "beta", beta, "sq_error", group="init")
    vs_ref_dead = stats.paired_against(bf, "beta", beta, "dead_codes", group="init")
    beta_inits = list(dict.fromkeys(bf.init))
    others_b = vs_ref[vs_ref.beta != beta]
    in_range = others_b[(others_b.beta >= 0.1) & (others_b.beta <= 0.5)]
    low_b, high_b = others_b[others_b.beta < 0.1], others_b[others_b.beta > 0.5]

    def measured(frame):
        return "distortion vs β = 0.25: " + "; ".join(f"{LABELS[r.init]} β = {r.beta:g}: {r.rel_text}" for r in frame.itertuples())

    common = dict(source=SRC_BETA, section="initialization-beta")
    claims = {}
    claims["beta_robust"] = dict(
        id="init-beta-robust", claim="β ∈ [0.1, 0.5] gives robust performance", seed_value="", measured=measured(in_range),
        verdict=("not testable" if in_range.empty else
                 "holds" if ((in_range.rel_low >= -BETA_MARGIN) & (in_range.rel_high <= BETA_MARGIN)).all() else "does not hold"),
        why=f"holds if, for both initializers, every β in [0.1, 0.5] changes the final distortion by less than ±{100 * BETA_MARGIN:g} % "
        f"against β = {beta} (paired 95 % CI inside the margin)", **common)
    claims["beta_low"] = dict(
        id="init-beta-low", claim="β < 0.1: risk of encoder–codebook mismatch (worse results)", seed_value="", measured=measured(low_b),
        verdict="not testable" if low_b.empty else "holds" if (low_b.rel_low > 0).all() else "does not hold",
        why=f"holds if every β < 0.1 gives a higher final distortion than β = {beta} for both initializers (paired 95 % CI above 0)", **common)
    claims["beta_high"] = dict(
        id="init-beta-high", claim="β > 0.5 overly constrains the encoder (worse results)", seed_value="", measured=measured(high_b),
        verdict="not testable" if high_b.empty else "holds" if (high_b.rel_low > 0).all() else "does not hold",
        why=f"holds if every β > 0.5 gives a higher final distortion than β = {beta} for both initializers (paired 95 % CI above 0)", **common)
    better = others_b[others_b.rel_high < 0]
    claims["beta_sweet"] = dict(
        id="init-beta-sweet", claim="β = 0.25 is the sweet spot", seed_value="0.25",
        measured=("no β beats 0.25" if better.empty else
                  "lower distortion than β = 0.25: " + "; ".join(f"{LABELS[r.init]} β = {r.beta:g}: {r.rel_text}" for r in better.itertuples())),
        verdict="holds" if better.empty else "does not hold",
        why=f"holds if no β in {beta_list} gives a lower final distortion than β = {beta} for either initializer (paired 95 % CI below 0)", **common)
    dead_ref = vs_ref_dead[(vs_ref_dead.beta != beta)]
    moves = dead_ref[(dead_ref.diff_high < 0) | (dead_ref.diff_low > 0)]
    dead_means = bf.groupby(["init", "beta"]).dead_codes.mean()
    claims["beta_dead"] = dict(
        id="init-beta-dead", claim="Start with β = 0.25 and adjust β by the dead-code fraction", seed_value="",
        measured="final dead codes by β: " + "; ".join(
            f"{LABELS[i]} " + ", ".join(f"{dead_means.loc[(i, b)]:.3g}" for b in beta_list) for i in beta_inits) + f" (β = {beta_list})",
        verdict="holds" if not moves.empty else "does not hold",
        why=f"holds if β moves the dead-code count: some β changes it against β = {beta} for some initializer (paired 95 % CI excluding 0)", **common)
    best_beta = bf.groupby(["init", "beta"]).sq_error.mean().groupby("init").idxmin()
    values = {
        "initialization_best_beta": ", ".join(f"{LABELS[i]}: β = {best_beta.loc[i][1]:g}" for i in beta_inits),
        "initialization_beta_dead_uniform": ", ".join(f"{dead_means.loc[('uniform', b)]:.3g}" for b in beta_list),
        "initialization_beta_list": ", ".join(f"{b:g}" for b in beta_list),
    }
    for key in ["beta_robust", "beta_low", "beta_sweet", "beta_high", "beta_dead"]:
        values[f"initialization_verdict_{key}"] = claims[key]["verdict"]
    return list(claims.values()), values
