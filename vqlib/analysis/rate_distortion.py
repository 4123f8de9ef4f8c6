"""What book/rate_distortion.md derives from its closed forms and its study's tables (vqlib.studies.rate_distortion).

Every reading function returns {glue key: value} for the prose; table builders return (shown, numbers).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vqlib import rd, stats
from vqlib.claim_registry import LEAK_LIMIT

#: PCA "loses nothing" if the signal energy it leaves out costs less than this fraction of D(R) (upper 95 % bound).
#: Published optimal N-level quantizer MSEs of N(0, 1): N -> (value, source).
PUBLISHED = {2: (0.3634, "Max 1960"), 4: (0.1175, "Max 1960"), 8: (0.03454, "Max 1960"),
             16: (0.009497, "commonly cited"), 32: (0.002499, "commonly cited")}
SAMPLER_LABELS = {"data_samples": "data samples", "rd_optimal": "R(D)-sampled", "point_density": "point density"}


def waterfill_readings(lam: np.ndarray, cov_eigs: np.ndarray, wf, R: float, R_star: float, D: int, m: int, K: int, sigma: float) -> dict:
    """The testbed's reverse water-filling as the prose states it."""
    return {
        "rd_spectrum": ", ".join(f"{v:g}" for v in lam), "rd_sigma": sigma, "rd_D": D, "rd_m": m, "rd_K": K, "rd_R": float(R),
        "rd_theta": float(wf.theta), "rd_dr": float(wf.distortion), "rd_dr_signal": float(wf.distortions[:m].sum()),
        "rd_noise_floor": (D - m) * sigma**2, "rd_R_star": float(R_star), "rd_K_star": f"{2 ** R_star:.3g}",
        "rd_active": int((wf.rates > 0).sum()),
    }


def waterfill_figure(cov_eigs: np.ndarray, wf, R: float, R_star: float, D: int, m: int, K: int):
    """Left: variances and distortions at rate R; right: each component's distortion against the rate."""
    import matplotlib.pyplot as plt

    rates = np.linspace(0.0, math.ceil(R_star) + 2, 241)
    per_comp = np.array([rd.reverse_water_filling(cov_eigs, r).distortions for r in rates])
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.3))
    show = m + 4
    idx = np.arange(1, show + 1)
    axes[0].bar(idx, cov_eigs[:show], color="#d9d9d9", edgecolor="k", label=r"variance $\lambda_i$")
    axes[0].bar(idx, wf.distortions[:show], color="#6baed6", label=r"distortion $D_i=\min(\theta,\lambda_i)$")
    axes[0].axhline(wf.theta, color="#08519c", ls="--", label=rf"water level $\theta$ = {wf.theta:.3f}")
    axes[0].set(xlabel=f"eigen-component i (first {show} of {D})", ylabel="variance", yscale="log",
                title=f"R = log2 {K} = {R:g} bits per vector")
    axes[0].legend(fontsize=7, loc="upper right")
    for i, name in [(0, r"$\lambda_1+\sigma^2$"), (m - 1, rf"$\lambda_{m}+\sigma^2$"), (m, rf"noise $\sigma^2$ (×{D - m})")]:
        axes[1].plot(rates, per_comp[:, i], label=name)
    axes[1].axvline(R, color="k", ls=":", label=f"K = {K}")
    axes[1].axvline(R_star, color="#08519c", ls="--", label=r"$\theta=\sigma^2$")
    axes[1].set(xlabel="rate R (bits per vector)", ylabel=r"distortion $D_i$", yscale="log")
    axes[1].legend(fontsize=7)
    return fig


def _per_axis(rep: pd.DataFrame, column: str) -> np.ndarray:
    """(seeds, m) array of one per-axis column of the reproduction table."""
    return rep.pivot(index="seed", columns="axis", values=column).to_numpy()


def reproduction(rep: pd.DataFrame, variances: np.ndarray, wf_sig, K: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per-axis budget of k-means codebooks against reverse water-filling: (shown, numbers, readings)."""
    axis_mse, spread, code_var = _per_axis(rep, "distortion"), _per_axis(rep, "spread"), _per_axis(rep, "code_var")
    m = axis_mse.shape[1]
    total = rep.groupby("seed", sort=True).total.first().to_numpy()
    axis_means, spread_means = axis_mse.mean(0), spread.mean(0)
    ratio = spread_means / wf_sig.reproduction_variances
    readings = {
        "rd_kmeans_sig_gap_db": stats.mean_ci(rd.gap_db(total, wf_sig.distortion)).format(),
        "rd_centroid_dev": f"{float(np.abs(spread - (np.asarray(variances, dtype=np.float64) - axis_mse)).max()):.2g}",
        "rd_km_axis_lo": float(axis_means.min()), "rd_km_axis_hi": float(axis_means.max()),
        "rd_spread_ratio_first": float(ratio[0]), "rd_spread_ratio_last": float(ratio[-1]),
        "rd_uniform_ratio": f"{float(spread_means.min()) * 3 * K**2:.3g}",
    }
    shown = pd.DataFrame({
        "axis i": np.arange(1, m + 1),
        "variance λᵢ + σ²": [stats.sig(v) for v in variances],
        "R(D): distortion Dᵢ": [stats.sig(v) for v in wf_sig.distortions],
        "R(D): reproduction var. λᵢ + σ² − θ": [stats.sig(v) for v in wf_sig.reproduction_variances],
        "k-means: distortion": [stats.mean_ci(axis_mse[:, i]).format() for i in range(m)],
        "k-means: reproduction var. Var Q(X) (use-weighted)": [stats.mean_ci(spread[:, i]).format() for i in range(m)],
        "k-means: code-point var. (unweighted)": [stats.mean_ci(code_var[:, i]).format() for i in range(m)],
        "uniform init var. 1/(3K²)": stats.sig(1 / (3 * K**2)),
    })
    numbers = pd.DataFrame({"axis": np.arange(1, m + 1), "variance": variances, "rd_distortion": wf_sig.distortions,
                            "rd_reproduction_var": wf_sig.reproduction_variances,
                            "kmeans_distortion_mean": axis_means, "kmeans_spread_mean": spread_means})
    return shown, numbers, readings


def pca_frame(pca: pd.DataFrame, dr: float, R: float, R_star: float) -> pd.DataFrame:
    """The frame the registry's PCA claims (rd-pca-optimal, init-exact-encoder) are judged on: method "pca", leak_rel =
    leakage / D(R) per seed, and the premise below_R_star (R < R*: noise gets no bits, so the top-m eigenspace is all the
    optimal code describes; above R* the claim is not testable here)."""
    return pca.assign(method="pca", leak_rel=pca.leak / dr, below_R_star=bool(R < R_star))


def pca_readings(pca: pd.DataFrame, dr: float, n_train: int) -> dict:
    """The glued readings of the PCA section: largest principal angle, leakage per vector and as % of D(R)."""
    return {"rd_pca_max_angle": stats.mean_ci(pca.max_angle).format(), "rd_pca_leak": stats.mean_ci(pca.leak).format(),
            "rd_pca_leak_pct": stats.mean_ci(100 * pca.leak.to_numpy() / dr).format(), "rd_n_train": n_train,
            "rd_leak_limit_pct": 100 * LEAK_LIMIT}


def _last_digit(printed: float) -> float:
    """The value of one unit in the last printed digit of a published value (0.03454 -> 1e-5)."""
    return 10.0 ** -len(f"{printed:g}".split(".")[1])


def lloyd_max(n_levels_list: list[int]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The exact N-level Lloyd–Max quantizers of N(0, 1) beside the published values: (shown, numbers, readings)."""
    rows = []
    for N in n_levels_list:
        r, pub = math.log2(N), PUBLISHED.get(N)
        rows.append({"N": N, "R": r, "mse": rd.lloyd_max(N).mse, "published": pub[0] if pub else np.nan,
                     "source": pub[1] if pub else "", "dr": rd.gaussian_dr([1.0], r), "panter_dite": rd.panter_dite(r)})
    lm = pd.DataFrame(rows)
    lm["published_minus_exact_pct"] = 100 * (lm.published - lm.mse) / lm.mse
    lm["gap_db"] = rd.gap_db(lm.mse.to_numpy(), lm.dr.to_numpy())
    readings = {}
    for N in (16, 32):
        row = lm[lm.N == N].iloc[0]
        readings.update({f"rd_lm{N}_exact": stats.sig(row.mse, 7), f"rd_lm{N}_cited": f"{row.published:g}",
                         f"rd_lm{N}_diff_pct": stats.sig(abs(row.published_minus_exact_pct), 2),
                         f"rd_lm{N}_diff_abs": f"{row.mse - row.published:.2e}"})
    small = lm[(lm.source == "Max 1960")]
    readings["rd_max_units"] = f"{max(abs(p - e) / _last_digit(p) for p, e in zip(small.published, small.mse)):.2f}"
    for N in (16, 32):
        row = lm[lm.N == N].iloc[0]
        readings[f"rd_lm{N}_units"] = f"{(row.mse - row.published) / _last_digit(row.published):.1f}"
    row8 = lm[lm.N == 8].iloc[0]
    readings.update({"rd_lm8_exact": stats.sig(row8.mse, 7), "rd_lm8_rounded": stats.sig(row8.mse, 4),
                     "rd_pd_limit_db": 10 * math.log10(rd.PANTER_DITE), "rd_sf_loss_db": 10 * math.log10(math.pi * math.e / 6)})
    shown = pd.DataFrame({
        "N": lm.N,
        "R (bits)": [stats.sig(v) for v in lm.R],
        "Lloyd–Max MSE (exact)": [stats.sig(v, 7) for v in lm.mse],
        "published": [f"{v:g} ({s})" if s else "–" for v, s in zip(lm.published, lm.source)],
        "published − exact": [f"{stats.sig(v, 2)} %" if s else "–" for v, s in zip(lm.published_minus_exact_pct, lm.source)],
        "D(R) = 2^(−2R)": [stats.sig(v, 4) for v in lm.dr],
        "gap to D(R) (dB)": [stats.sig(v) for v in lm.gap_db],
        "Panter–Dite": [stats.sig(v, 4) for v in lm.panter_dite],
    })
    return shown, lm, readings


def panter_dite_figure(max_rate_bits: int):
    """Left: Lloyd–Max MSE against D(R) and Panter–Dite in dB; right: the gap of Lloyd–Max to D(R)."""
    import matplotlib.pyplot as plt

    n_curve = [2**b for b in range(max_rate_bits + 1)]
    curve = pd.DataFrame({"R": [math.log2(n) for n in n_curve], "mse": [rd.lloyd_max(n).mse for n in n_curve]})
    r_line = np.linspace(0.0, max_rate_bits, 200)
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2))
    axes[0].plot(r_line, 10 * np.log10(rd.panter_dite(r_line)), color="#ff7f0e", label="Panter–Dite (√3π/2)·2^(−2R)")
    axes[0].plot(r_line, 10 * np.log10(2.0 ** (-2 * r_line)), color="k", ls=":", label="D(R) = 2^(−2R)")
    axes[0].plot(curve.R, 10 * np.log10(curve.mse), "o", color="#1f77b4", label="Lloyd–Max (exact)")
    axes[0].set(xlabel="rate R (bits per sample)", ylabel="MSE (dB)")
    axes[0].legend(fontsize=7)
    axes[1].plot(curve.R, rd.gap_db(curve.mse.to_numpy(), 2.0 ** (-2 * curve.R.to_numpy())), "o-", color="#1f77b4", label="Lloyd–Max")
    axes[1].axhline(10 * math.log10(rd.PANTER_DITE), color="#ff7f0e", label="Panter–Dite limit")
    axes[1].axhline(10 * math.log10(math.pi * math.e / 6), color="#7f7f7f", ls="--", label="space-filling loss πe/6")
    axes[1].set(xlabel="rate R (bits per sample)", ylabel="gap to D(R) (dB)", ylim=(0, 5))
    axes[1].legend(fontsize=7, loc="lower right")
    return fig


def kmeans(km: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The k-means calibration with its derived columns, and its table: (km, shown, numbers)."""
    km = km.copy()
    km["gap_db"] = rd.gap_db(km.fresh_mse.to_numpy(), km.dr.to_numpy())
    km["optimism_pct"] = 100 * (km.fresh_mse - km.train_mse) / km.fresh_mse
    one = km.d == 1
    km.loc[one, "gap_lm_pct"] = 100 * (km.exact_mse[one] / km.lloyd_max[one] - 1)
    km.loc[one, "gap_lm_from_lm_pct"] = 100 * (km.from_lm_exact_mse[one] / km.lloyd_max[one] - 1)
    km["config"] = [f"{d}|{k}" for d, k in zip(km.d, km.K)]
    shown, numbers = stats.summarize(km, "config", ["train_mse", "fresh_mse", "gap_db", "optimism_pct"])
    extra, extra_numbers = stats.summarize(km[one], "config", ["gap_lm_pct", "gap_lm_from_lm_pct"])
    shown = shown.merge(extra, on="config", how="left").fillna("–")
    numbers = numbers.merge(extra_numbers, on="config", how="left")
    first = km.drop_duplicates("config").set_index("config")
    shown.insert(1, "K", [int(first.K[c]) for c in shown.config])
    shown.insert(2, "bits / dim", [stats.sig(first.rate_per_dim[c]) for c in shown.config])
    shown.insert(3, "D(R) / dim", [stats.sig(first.dr[c]) for c in shown.config])
    shown.insert(0, "d", [int(first.d[c]) for c in shown.config])
    shown = shown.drop(columns="config").rename(columns={
        "train_mse": "MSE / dim, training points", "fresh_mse": "MSE / dim, fresh", "gap_db": "gap to D(R) (dB, fresh)",
        "optimism_pct": "training optimism (%)", "gap_lm_pct": "above Lloyd–Max (%, exact)",
        "gap_lm_from_lm_pct": "Lloyd from L–M start (%, exact)"})
    return km, shown, numbers


def kmeans_readings(km: pd.DataFrame, dims: list[int], K_list: list[int], n_train: int, n_eval: int) -> dict:
    """What the prose says about the k-means calibration (km as returned by :func:`kmeans`)."""
    g1 = km[km.d == 1].groupby("K")
    lm_ci = {k: stats.mean_ci(v.gap_lm_pct) for k, v in g1}
    within = [k for k in K_list if lm_ci[k].high < 1.0]
    worst = max(K_list)
    start_cost = stats.paired(g1.get_group(worst).gap_lm_from_lm_pct, g1.get_group(worst).gap_lm_pct).difference
    one_bit = {d: stats.mean_ci(km[(km.d == d) & (km.rate_per_dim == 1.0)].gap_db) for d in dims
               if ((km.d == d) & (km.rate_per_dim == 1.0)).any()}
    ref_d = min(one_bit)
    compare = []
    for d, ci in one_bit.items():
        if d != ref_d:
            word = "smaller" if ci.high < one_bit[ref_d].low else "larger" if ci.low > one_bit[ref_d].high else "not distinguishable"
            compare.append(f"in {d} dimensions {word}")
    return {
        "rd_km_n_train": n_train, "rd_km_n_eval": n_eval,
        "rd_km_dims": "{" + ", ".join(map(str, dims)) + "}", "rd_km_K_list": "{" + ", ".join(map(str, K_list)) + "}",
        "rd_km_within_1pct": "{" + ", ".join(map(str, within)) + "}" if within else "no K of the list",
        "rd_km_worst_K": worst, "rd_km_worst_gap": lm_ci[worst].format(),
        "rd_km_worst_from_lm": stats.mean_ci(g1.get_group(worst).gap_lm_from_lm_pct).format(),
        "rd_km_opt_max": stats.sig(km.groupby("config").optimism_pct.mean().max(), 2),
        "rd_km_start_cost": start_cost.format(),
        "rd_km_one_bit": "; ".join(f"d = {d}: {ci.format()} dB" for d, ci in one_bit.items()),
        "rd_km_one_bit_compare": f"compared with d = {ref_d} (non-overlapping 95 % intervals), the gap is " + ", ".join(compare),
    }


def penalty(pen_k: list[int] = (1, 2, 3, 4, 8)) -> pd.DataFrame:
    """Γ(2 + 2/k), the random-coding penalty at the best density, against the ratio of the two closed forms (K = 256)."""
    lam_check = np.linspace(2.0, 0.5, 8)
    return pd.DataFrame({
        "k": list(pen_k),
        "Γ(2 + 2/k)": [stats.sig(rd.random_code_penalty(k), 4) for k in pen_k],
        "ratio of the closed forms": [stats.sig(rd.random_code_distortion(lam_check[:k], rd.point_density_variances(lam_check[:k]), 256)
                                                / rd.sphere_bound(lam_check[:k], 256), 4) for k in pen_k],
        "penalty (dB)": [stats.sig(10 * math.log10(rd.random_code_penalty(k))) for k in pen_k],
    })


def random_codes(rc: pd.DataFrame) -> pd.DataFrame:
    """The random-codebook table with distortions per dimension (<col>_pd) and measured over predicted in dB."""
    rc = rc.copy()
    for c in ["predicted", "predicted_subspace", "measured_start", "measured_lloyd", "dr", "sphere", "transform"]:
        rc[c + "_pd"] = rc[c] / rc.m
    rc["err_db"] = 10 * np.log10(rc.measured_start / rc.predicted.where(np.isfinite(rc.predicted)))
    rc["err_sub_db"] = 10 * np.log10(rc.measured_start / rc.predicted_subspace.where(np.isfinite(rc.predicted_subspace)))
    return rc


def _pred(v: float) -> str:
    return "∞" if not np.isfinite(v) else stats.sig(v)


def random_codes_table(rc: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predicted and measured step-0 distortion per (k, K) and sampler: (shown, numbers)."""
    rows = []
    for (mm, kk), sub in rc.groupby(["m", "K"], sort=False):
        row = {"k": int(mm), "K": int(kk), "bits / dim": stats.sig(sub.bits_per_dim.iloc[0])}
        for name, label in SAMPLER_LABELS.items():
            s = sub[sub.sampler == name]
            pred = _pred(s.predicted_pd.iloc[0])
            if name == "rd_optimal" and not np.isfinite(s.predicted_pd.iloc[0]):
                pred += f" (active {int(s.active.iloc[0])}: {_pred(s.predicted_subspace_pd.iloc[0])})"
            row[f"{label}: predicted"] = pred
            row[f"{label}: measured"] = stats.mean_ci(s.measured_start_pd).format()
        rows.append(row)
    numbers = rc.groupby(["m", "K", "sampler"], sort=False)[["predicted_pd", "predicted_subspace_pd", "measured_start_pd",
                                                            "measured_lloyd_pd"]].mean().reset_index()
    return pd.DataFrame(rows), numbers


def _range(values, fmt: str = "+.2f", unit: str = " dB") -> str:
    return f"{values.min():{fmt}} to {values.max():{fmt}}{unit}"


def random_codes_readings(rc: pd.DataFrame) -> dict:
    """Measured against predicted, and which density gives the lowest step-0 distortion at low and at high rate."""
    pd_rows = rc[rc.sampler == "point_density"].groupby(["m", "K"]).agg(err=("err_db", "mean"), bpd=("bits_per_dim", "first"))
    low, high = pd_rows[pd_rows.bpd <= 1.0], pd_rows[pd_rows.bpd >= 2.0]
    top = pd_rows.bpd.idxmax()
    at1 = rc[(rc.sampler == "point_density") & np.isclose(rc.bits_per_dim, 1.0)].groupby("m").err_db.mean()
    finite_data = rc[(rc.sampler == "data_samples") & np.isfinite(rc.predicted)].groupby(["m", "K"]).err_db.mean()
    out = {
        "rd_rc_err_low": _range(low.err) if len(low) else "not measured",
        "rd_rc_err_high": _range(high.err) if len(high) else "not measured",
        "rd_rc_err_top": f"{pd_rows.err[top]:+.2f} dB at k = {top[0]}, K = {top[1]} ({pd_rows.bpd[top]:g} bits per dimension)",
        "rd_rc_err_one_bit": "; ".join(f"k = {m}: {v:+.2f} dB" for m, v in at1.items()) if len(at1) else "not measured",
        "rd_rc_err_data": _range(finite_data) if len(finite_data) else "no finite prediction",
    }
    order = rc.groupby(["m", "K", "sampler"]).measured_start.mean().unstack()
    bpd = rc.groupby(["m", "K"]).bits_per_dim.first()
    winner = order.idxmin(axis=1)
    for tag, sel in (("low", bpd <= 1.0), ("high", bpd >= 3.0)):
        counts = winner[sel].value_counts()
        out[f"rd_rc_best_{tag}"] = ", ".join(f"{SAMPLER_LABELS[n]} in {int(c)}" for n, c in counts.items()) + f" of {int(sel.sum())}"
    rd_vs_data = 10 * np.log10(order.rd_optimal / order.data_samples)
    pd_vs_data = 10 * np.log10(order.point_density / order.data_samples)
    out["rd_rc_rd_vs_data_low"] = _range(rd_vs_data[bpd <= 1.0])
    out["rd_rc_pd_vs_data_high"] = _range(pd_vs_data[bpd >= 3.0])
    out["rd_rc_rd_vs_data_high"] = _range(rd_vs_data[bpd >= 3.0])
    return out


def allocation_gap(variances, K: int) -> dict:
    """The greedy level allocation (rd.allocate_levels) against an exhaustive search over every allocation with Π n_i ≤ K:
    the transform code's exact distortion of each, and how far the greedy one lies above the best (glued values)."""
    lam = np.asarray(variances, dtype=np.float64)
    lm = {n: rd.lloyd_max(n).mse if n > 1 else 1.0 for n in range(1, K + 1)}

    def best(i: int, budget: int) -> float:
        return 0.0 if i == lam.size else min(lam[i] * lm[n] + best(i + 1, budget // n) for n in range(1, budget + 1))

    greedy = rd.transform_coding_distortion(lam, rd.allocate_levels(lam, K))
    exhaustive = best(0, K)
    return {"rd_alloc_greedy_gap": f"{100 * (greedy / exhaustive - 1):.2g} %", "rd_alloc_k": lam.size, "rd_alloc_K": K}


def transform(rc: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Transform coding's exact distortion against D(R), the sphere bound and the Lloyd codebooks: (shown, readings)."""
    cfg = rc.drop_duplicates(["m", "K"]).set_index(["m", "K"])
    after = rc.groupby(["m", "K", "sampler"]).measured_lloyd.mean().unstack()
    rows = []
    for (mm, kk), r in cfg.iterrows():
        sub = rc[(rc.m == mm) & (rc.K == kk)]
        best_lloyd = sub.groupby("sampler").measured_lloyd.mean().min()
        rows.append({
            "k": mm, "K": kk, "levels": r.levels,
            "D(R) / dim": stats.sig(r.dr_pd),
            "sphere bound / dim": stats.sig(r.sphere_pd),
            "transform coding / dim (exact)": stats.sig(r.transform_pd),
            **{f"Lloyd from {SAMPLER_LABELS[n]} / dim": stats.mean_ci(sub[sub.sampler == n].measured_lloyd_pd).format() for n in SAMPLER_LABELS},
            "TC vs best Lloyd (dB)": stats.sig(10 * np.log10(r["transform"] / best_lloyd)),
        })
    tc_gap = 10 * np.log10(cfg["transform"] / after.min(axis=1))
    by = rc.groupby(["m", "K", "sampler"])
    lloyd_vs_start = 10 * np.log10(by.measured_start.mean() / by.measured_lloyd.mean())
    spread_after = 10 * np.log10(after.max(axis=1) / after.min(axis=1))
    below = cfg[cfg.sphere < cfg.dr]
    return pd.DataFrame(rows), {
        "rd_tc_gap_range": _range(tc_gap), "rd_tc_gap_k4_K32": f"{tc_gap.get((4, 32), float('nan')):+.2f} dB",
        "rd_lloyd_gain_range": _range(lloyd_vs_start, ".2f"), "rd_lloyd_spread": f"{spread_after.max():.2f} dB",
        "rd_sphere_below": ", ".join(f"k = {mm}, K = {kk}" for mm, kk in below.index) if len(below) else "no configuration here",
        "rd_sphere_beaten": "; ".join(f"k = {mm}, K = {kk}: {stats.sig(after.loc[(mm, kk)].min() / mm)} < {stats.sig(cfg.loc[(mm, kk), 'sphere_pd'])}"
                                      for mm, kk in cfg.index if after.loc[(mm, kk)].min() < cfg.loc[(mm, kk), "sphere"]) or "no configuration here",
    }
