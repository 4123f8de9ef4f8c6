"""What the convergence chapter derives from its stored runs (vqlib.studies.convergence, convergence_cost), and the
readings of learning curves that other chapters share: recovery from collapse, steps to a target, verdict texts."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from vqlib import plotting, stats
from vqlib.checks import check_float, check_int
from vqlib.grid import LABELS

KEYS = ["regime", "K", "data", "start", "beta", "method", "seed"]


def recovery(history: pd.DataFrame, K: int, threshold: float = 0.1) -> pd.DataFrame:
    """Recovery from a collapsed start, per run: the dead-code fraction averaged over all evaluations, and the
    first evaluation step with at most `threshold`·K dead codes (NaN if never reached).

    One row per run (every column of `history` except step and the metrics identifies a run).
    """
    check_int("K", K, 1)
    check_float("threshold", threshold, 0.0, 1.0)
    keys = [c for c in ("data", "start", "beta", "method", "seed") if c in history.columns]
    rows = []
    for values, run in history.sort_values("step").groupby(keys, sort=False):
        frac = run.dead_codes.to_numpy() / K
        hit = run.step.to_numpy()[frac <= threshold]
        rows.append({**dict(zip(keys, values)), "mean_dead_fraction": float(frac.mean()),
                     "recovery_step": float(hit[0]) if hit.size else float("nan")})
    return pd.DataFrame(rows)


def steps_to_target(history: pd.DataFrame, reference: str = "ste", tolerance: float = 0.05, common: bool = False) -> pd.DataFrame:
    """Time to a common target: the first evaluation step at which a run's held-out squared error is within
    `tolerance` of the final squared error of the `reference` method on the same seed (and setting).

    Runs that never get there are censored at the last step (column reached False). One row per run.
    With `common`, the target is `tolerance` above the *worst* final value among all methods of the same
    seed (and setting): every run reaches it by its last step, so nothing is censored and a method that ends
    worse than the reference is not counted at the budget (which pulls a comparison of speeds towards
    "similar"); all methods of a seed share the one target.
    """
    check_float("tolerance", tolerance, 0.0)
    keys = [c for c in ("data", "start", "beta", "seed") if c in history.columns]
    last = history.step.max()
    at_last = history[history.step == last]
    ref = at_last[at_last.method == reference].set_index(keys).sq_error
    if common:
        ref = at_last.groupby(keys).sq_error.max()
    if ref.empty:
        raise ValueError(f"reference method {reference!r} is not in the history; methods: {sorted(set(history.method))}")
    rows = []
    for values, run in history.sort_values("step").groupby(keys + ["method"], sort=False):
        target = (1 + tolerance) * ref.loc[values[:-1] if len(keys) > 1 else values[0]]
        hit = run.step.to_numpy()[run.sq_error.to_numpy() <= target]
        rows.append({**dict(zip(keys + ["method"], values)), "steps_to_target": float(hit[0] if hit.size else last),
                     "reached": bool(hit.size)})
    return pd.DataFrame(rows)


def regime_verdict_values(outcomes: pd.DataFrame, verdict_grid: pd.DataFrame, ids: list[str], regimes: list[str], prefix: str,
                          strip: str = "") -> dict[str, str]:
    """The glued texts of a chapter's claims judged per regime (vqlib.claims.record_all, by_regime), by key.

    `<prefix>_v_<id>`: the verdict in each regime and in how many it holds; `<prefix>_m_<id>`: the measured value
    in the first regime; `<prefix>_depends` / `_independent`: the claims whose verdict does / does not change
    between regimes. The key of a claim is its id without `strip`, dashes as underscores.
    """
    out = {}
    for cid in ids:
        key = cid.removeprefix(strip).replace("-", "_")
        row = outcomes[outcomes.id == cid].set_index("regime")
        out[f"{prefix}_v_{key}"] = "; ".join(f"{r}: {row.verdict[r]}" for r in regimes) + f" (holds in {verdict_grid.loc[cid, 'holds in']})"
        out[f"{prefix}_m_{key}"] = row.measured[regimes[0]]
    depends = [c for c in ids if verdict_grid.loc[c, regimes].nunique() > 1]
    out[f"{prefix}_depends"] = ", ".join(depends) or "none"
    out[f"{prefix}_independent"] = ", ".join(c for c in ids if c not in depends) or "none"
    return out


def final_table(res: dict[str, pd.DataFrame], tolerance: float = 0.05) -> pd.DataFrame:
    """One row per (regime, K, method, seed): the stored final values with the steps to the common target
    (`tolerance` above the worst final squared error of the seed) and the perplexity averaged over the run."""
    history = res["history"]
    parts = []
    for (K, regime), f in res["final"].groupby(["K", "regime"], sort=False):
        h = history[(history.K == K) & (history.regime == regime)].reset_index(drop=True)
        stt = steps_to_target(h.drop(columns=["regime", "K"]), "ste", tolerance, common=True).assign(regime=regime, K=K)
        parts.append(f.reset_index(drop=True).merge(stt, on=KEYS))
    final = pd.concat(parts, ignore_index=True)
    diversity = history.groupby(["regime", "K", "method", "seed"], sort=False).perplexity.mean().rename("mean_perplexity").reset_index()
    return final.merge(diversity, on=["regime", "K", "method", "seed"])


def steps_run_text(history: pd.DataFrame) -> str:
    """'<regime>, K = <K>: <last step>' for every run of the chapter."""
    return "; ".join(f"{r}, K = {K}: {int(v)}" for (r, K), v in history.groupby(["regime", "K"]).step.max().items())


def curves_figure(history: pd.DataFrame, K_list: list[int], methods: list[str], regime: str):
    """Held-out objective, dead codes and perplexity against steps in `regime`, one row per K."""
    fig, axes = plt.subplots(len(K_list), 3, figsize=(10, 3.0 * len(K_list)), squeeze=False)
    for row, K in zip(axes, K_list):
        for name in methods:
            h = history[(history.K == K) & (history.method == name) & (history.regime == regime)]
            for ax, col in zip(row, ("objective", "dead_codes", "perplexity")):
                plotting.mean_band(ax, h, "step", col, LABELS[name], plotting.COLORS[name])
        row[0].set(xlabel="training step", ylabel=f"held-out objective (K = {K})", yscale="log")
        row[1].set(xlabel="training step", ylabel=f"dead codes (of {K})")
        row[2].set(xlabel="training step", ylabel="perplexity")
    axes[0][2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def summary_table(final: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """tbl-convergence: mean [95 % CI] per (regime, K, method) of the final values, speed and Lloyd gain (%)."""
    cols = ["recon_mse", "dead_codes", "entropy_bits", "mean_perplexity", "steps_to_target", "lloyd_gain"]
    shown, numbers = stats.summarize_by(final, ["regime", "K", "method"], cols)
    shown["lloyd_gain"] = [stats.mean_ci(100 * final[(final.regime == r) & (final.K == K) & (final.method == n)].lloyd_gain.to_numpy()).format()
                           for r, K, n in zip(shown.regime, shown.K, shown.method)]
    shown["method"] = shown.method.map(LABELS)
    shown = shown.rename(columns={"recon_mse": "recon MSE", "dead_codes": "dead codes", "entropy_bits": "entropy (bits)",
                                  "mean_perplexity": "perplexity, run average", "steps_to_target": "steps to common target",
                                  "lloyd_gain": "Lloyd gain (%)"})
    return shown, numbers


def cost_table(times: pd.DataFrame, methods: list[str], rot: str) -> tuple[pd.DataFrame, str]:
    """tbl-convergence-cost (ms per step, overhead against STE as the geometric mean of per-repeat ratios minus one)
    and the overhead of method `rot` as text."""
    per_repeat = times.pivot(index="repeat", columns="method", values="seconds_per_step")[methods]
    ratio = {name: stats.ratio_ci(per_repeat[name], per_repeat["ste"]) for name in methods if name != "ste"}
    overhead = {name: stats.Interval(r.mean - 1, r.low - 1, r.high - 1, r.n) for name, r in ratio.items()}
    ms = {name: stats.mean_ci(1000 * per_repeat[name]) for name in methods}
    cost = pd.DataFrame({"method": [LABELS[n] for n in methods], "ms per step": [ms[n].format() for n in methods],
                         "overhead vs STE (%)": ["–" if n == "ste" else overhead[n].scaled(100).format() for n in methods]})
    return cost, overhead[rot].scaled(100).format() + " %"


def readings(history: pd.DataFrame, regimes: list[str], K_list: list[int], steps: int, lr: float,
             final: pd.DataFrame | None = None, cap_factor: int = 0) -> dict[str, str]:
    """The chapter's setting as glued text: its regimes, K values, the converged regime's cap (`cap_factor` × `steps`,
    else the regime's own), the steps each run ran and the share of converging slices that met their stop rule (from `final`'s met_rule)."""
    from vqlib.regimes import rescale

    met = "–"
    if final is not None and "met_rule" in final.columns:
        f = final[final.met_rule.notna()]
        met = ", ".join(f"{100 * g.met_rule.astype(bool).mean():.0f} % at K = {K}" for K, g in f.groupby("K")) or "–"
    return {"conv_cap": cap_factor * steps or rescale("converged", steps, lr).steps, "conv_regimes": ", ".join(regimes),
            "conv_steps_run": steps_run_text(history), "conv_K_list": " and ".join(str(K) for K in K_list), "conv_met_share": met}
