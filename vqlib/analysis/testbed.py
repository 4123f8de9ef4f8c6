"""The testbed chapter's tables, figure and readings (book/testbed.md), from the testbed study's tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vqlib import claims, plotting, stats
from vqlib.grid import LABELS

#: Seed document 000, §5 "Performance Metrics" (D=64, m=4, K=32, 500 steps): MSE and code usage per method.
SEED_TABLE = {
    "ste": ("2.4475", "99.1 %"),
    "projection": ("2.4479", "99.1 %"),
    "ste_manual": ("2.4577", "99.0 %"),
    "pca_lloyd": ("2.4893", "99.0 %"),
}
#: The seeds' testbed claims, in the order the chapter lists them, with the short names of their glued values.
CLAIMS = {"testbed-equal-mse": "equal", "testbed-manual-ste": "manual", "testbed-usage": "usage", "testbed-pca-lloyd": "pca",
          "init-only-codebook": "only"}
NAMES = {**LABELS, "pca_lloyd": "PCA + Lloyd"}
FINAL_COLUMNS = {"recon_mse": "recon MSE (per coord.)", "sq_error": "error per vector", "excess_sq_error": "excess over floor",
                 "usage_pct": "code usage (%)", "dead_codes": "dead codes", "z_norm": "‖z‖", "gap_db": "gap to D(R) (dB)"}


def steps_run(frame: pd.DataFrame) -> dict[str, int]:
    """{regime: steps its run trained} from the study's steps_run table."""
    return {r: int(s) for r, s in zip(frame.regime, frame.steps)}


def regimes_table(recipes: list, steps_run: dict[str, int]) -> pd.DataFrame:
    """The training regimes' recipes (vqlib.regimes.Regime at the chapter's budget), with the steps each ran."""
    out = pd.DataFrame([r.as_row() for r in recipes])
    out["steps run"] = [steps_run[r.name] for r in recipes]
    out = out[["name", "optimizer", "lr", "codebook_lr", "codebook_update", "init", "form", "stop_rule", "steps run", "summary"]]
    return out.rename(columns={"lr": "lr (encoder, decoder)", "codebook_lr": "lr (codebook)", "codebook_update": "codebook update",
                               "init": "codebook start", "form": "codebook form", "stop_rule": "stop rule (budget or cap)"})


def met_shares(frame: pd.DataFrame) -> dict[str, float]:
    """{regime: share of its slices that met the stop rule} for the converging regimes of the steps_run table."""
    if "met_share" not in frame.columns:
        return {}
    return {r: float(v) for r, v in zip(frame.regime, frame.met_share) if pd.notna(v)}


#: The power calculation that fixed the testbed's seeds before any verdict (issue 18): the pilot (the seeds' budget regime
#: at 20 seeds, the store before that issue) had its widest paired spread between the projection and STE, the sd of the
#: paired squared-error difference 0.108 × STE's mean error; the effect to detect is 5 % of STE's error.
PILOT = {"seeds": 20, "sd_rel": 0.108, "delta_rel": 0.05, "alpha": 0.05, "power": 0.8}


def power_values(pilot: dict = PILOT) -> dict[str, str]:
    """The pilot's settings and the paired seeds they require (vqlib.stats.paired_seeds_for_power), for the prose."""
    n = stats.paired_seeds_for_power(pilot["sd_rel"], pilot["delta_rel"], pilot["alpha"], pilot["power"])
    return {"testbed_pilot_seeds": str(pilot["seeds"]), "testbed_pilot_sd": f"{pilot['sd_rel']:g}",
            "testbed_pilot_delta": f"{100 * pilot['delta_rel']:g} %", "testbed_pilot_alpha": f"{pilot['alpha']:g}",
            "testbed_pilot_power": f"{pilot['power']:g}", "testbed_pilot_n": str(n)}


def stops_table(final: pd.DataFrame, estimators: list[str], by: tuple[str, ...] = (), labels: dict[str, str] | None = None,
                key: str = "method") -> pd.DataFrame:
    """Per converging regime (and each column of `by`, e.g. K) and method (the column `key`): the share of slices that
    met the stop rule and their stop steps (median, range); methods named by `labels` (default: the synthetic chapters'
    names). Without a converging regime: a one-row note saying so."""
    f = final[final.met_rule.notna() & final[key].isin(estimators)] if "met_rule" in final.columns else final.iloc[:0]
    if f.empty:
        return pd.DataFrame({"note": ["no converging regime in this run"]})
    labels = NAMES if labels is None else labels
    rows = []
    for keys, g in f.groupby(["regime", *by, key], sort=False):
        steps = g.stop_step.astype(int)
        rows.append({**dict(zip(["regime", *by], keys[:-1])), key: labels.get(keys[-1], keys[-1]), "slices": len(g),
                     "met the rule": f"{100 * g.met_rule.astype(bool).mean():.0f} %", "stop step (median)": int(steps.median()),
                     "range": f"{steps.min()}–{steps.max()}"})
    return pd.DataFrame(rows)


def met_share_text(final: pd.DataFrame) -> str:
    """The share of the converging regimes' slices whose stop rule met before the cap, as "97 %" ("–" without one)."""
    met = final.met_rule.dropna() if "met_rule" in final.columns else pd.Series(dtype=bool)
    return f"{100 * met.astype(bool).mean():.0f} %" if len(met) else "–"


def unmet_text(final: pd.DataFrame, labels: dict[str, str] | None = None) -> str:
    """The methods of the converging regimes whose slices did not all meet the stop rule before the cap, with how many
    did, in words ("none" if all did)."""
    if "met_rule" not in final.columns:
        return "none"
    labels = NAMES if labels is None else labels
    f = final[final.met_rule.notna()]
    rows = [f"{labels.get(m, m)} ({int(g.met_rule.astype(bool).sum())} of {len(g)})" for m, g in f.groupby("method", sort=False)
            if not g.met_rule.astype(bool).all()]
    return ", ".join(rows) or "none"


def to_cap_table(to_cap: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """(table, worst change): per regime and method, the mean error at the slices' stop steps and at the cap, and the
    relative change of the reported (mean) squared error and of its excess over the floor if every slice had trained on."""
    rows = []
    for (r, k), g in to_cap.groupby(["regime", "method"], sort=False):
        sq_stop, sq_cap = g.sq_error_stop.mean(), g.sq_error_cap.mean()
        ex_stop, ex_cap = g.excess_stop.mean(), g.excess_cap.mean()
        rows.append({"regime": r, "method": NAMES.get(k, k), "seeds": len(g), "met the rule": f"{100 * g.met_rule.mean():.0f} %",
                     "error at stop": sq_stop, "error at cap": sq_cap, "change (error)": 100 * (sq_cap - sq_stop) / sq_stop,
                     "change (excess)": 100 * (ex_cap - ex_stop) / ex_stop})
    out = pd.DataFrame(rows)
    worst = float(out["change (error)"].abs().max()) if len(out) else float("nan")
    for c in ("error at stop", "error at cap"):
        out[c] = out[c].map(lambda v: f"{v:.4f}")
    for c in ("change (error)", "change (excess)"):
        out[c] = out[c].map(lambda v: f"{v:+.2f} %")
    return out, worst


def final_table(final: pd.DataFrame, estimators: list[str], regimes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shown, numbers): every regime × method's mean [95 % CI] over seeds, the seed's values beside ours."""
    order = [e for e in estimators if e in SEED_TABLE] + ["pca_lloyd"] + [e for e in estimators if e not in SEED_TABLE]
    ordered = pd.concat([final[(final.regime == r) & (final.method == k)] for r in regimes for k in order])
    shown, numbers = stats.summarize_by(ordered, ["regime", "method"], list(FINAL_COLUMNS))
    shown.insert(3, "MSE (seed)", [SEED_TABLE.get(k, ("–", "–"))[0] for k in shown.method])
    shown.insert(7, "usage (seed)", [SEED_TABLE.get(k, ("–", "–"))[1] for k in shown.method])
    shown["method"] = shown.method.map(NAMES)
    return shown.rename(columns=FINAL_COLUMNS), numbers


def curves_figure(final: pd.DataFrame, history: pd.DataFrame, estimators: list[str], regimes: list[str], bound: float, K: int):
    """Learning curves per regime (columns): squared error per vector (top) and dead codes (bottom)."""
    fig, axes = plt.subplots(2, len(regimes), figsize=(2.3 * len(regimes), 4.6), sharex=False, sharey="row", squeeze=False)
    pl = final[(final.method == "pca_lloyd")]
    for j, r in enumerate(regimes):
        for name in estimators:
            h = history[(history.regime == r) & (history.method == name)]
            plotting.mean_band(axes[0, j], h, "step", "sq_error", LABELS[name], plotting.COLORS[name])
            plotting.mean_band(axes[1, j], h, "step", "dead_codes", LABELS[name], plotting.COLORS[name])
        axes[0, j].axhline(pl.sq_error.mean(), color=plotting.COLORS["pca_lloyd"], ls="--", label="PCA + Lloyd")
        axes[0, j].axhline(bound, color="k", ls=":", label="D(R)")
        axes[0, j].set(title=r, yscale="log")
        axes[1, j].set(xlabel="training step")
    axes[0, 0].set(ylabel="squared error per vector")
    axes[1, 0].set(ylabel=f"dead codes (of {K})")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def verdicts_by_regime(outcomes: pd.DataFrame, regimes: list[str]) -> pd.DataFrame:
    """The claims' verdicts, one row per claim (in :data:`CLAIMS` order), one column per regime."""
    return outcomes.pivot(index="id", columns="regime", values="verdict").loc[list(CLAIMS), regimes]


def claim_values(outcomes: pd.DataFrame, final: pd.DataFrame, estimators: list[str], regimes: list[str]) -> dict:
    """The chapter's glued readings of the claims: verdicts per regime, where they hold, which depend on the regime."""
    by_regime = verdicts_by_regime(outcomes, regimes)
    holds_in = (by_regime == "holds").sum(axis=1)
    out = {}
    for cid, short in CLAIMS.items():
        row = outcomes[outcomes.id == cid].set_index("regime")
        out[f"testbed_verdict_{short}"] = "; ".join(f"{r}: {row.verdict[r]}" for r in regimes)
        out[f"testbed_holds_{short}"] = f"{holds_in[cid]} of {len(regimes)}"
        out[f"testbed_measured_{short}"] = row.measured[regimes[0]]
    depends = [cid for cid in CLAIMS if by_regime.loc[cid].nunique() > 1]
    out["testbed_regime_dependent"] = ", ".join(depends) if depends else "none"
    out["testbed_regime_independent"] = ", ".join(c for c in CLAIMS if c not in depends) or "none"
    out["testbed_first_regime"] = regimes[0]
    out["testbed_dead_by_regime"] = "; ".join(
        f"{r} {stats.mean_ci(final[(final.regime == r) & (final.method == 'ste')].dead_codes.to_numpy()).format()}" for r in regimes)
    out["testbed_znorm_by_method"] = "; ".join(
        f"{short} {stats.mean_ci(final[(final.regime == regimes[0]) & (final.method == k)].z_norm.to_numpy()).format()}"
        for k, short in [("ste", "STE"), ("projection", "rotation (seeds)"), ("rotation_trick", "rotation trick")] if k in estimators)
    gap = float((final[final.method == "ste"].set_index(["regime", "seed"]).recon_mse
                 - final[final.method == "ste_manual"].set_index(["regime", "seed"]).recon_mse).abs().max()) if "ste_manual" in estimators else float("nan")
    out["testbed_ste_manual_gap"] = f"{gap:.1e}"
    return out


def claims_table(outcomes: pd.DataFrame, regimes: list[str]) -> pd.DataFrame:
    """Verdict per claim and regime, in how many regimes each holds, and the widest CI half-width against its margin."""
    by_regime = verdicts_by_regime(outcomes, regimes)
    holds_in = (by_regime == "holds").sum(axis=1)
    shown = by_regime.copy()
    shown.insert(0, "claim", [claims.get(c).quote for c in CLAIMS])
    shown["holds in"] = [f"{holds_in[c]} of {len(regimes)}" for c in CLAIMS]
    shown["CI half-width / margin (worst regime)"] = [
        f"{stats.sig(outcomes[outcomes.id == c].half_width.max())} / "
        + (f"{stats.sig(claims.get(c).margin * claims.get(c).scale)}" if claims.get(c).kind != "directional" else "–")
        for c in CLAIMS]
    return shown.reset_index(names="id")


def per_vector_reading(final: pd.DataFrame, seed_values: dict[str, float], column: str = "sq_error") -> pd.DataFrame:
    """Read a seed's MSE column as per-vector squared error: per regime, our mean beside each seed value.

    A reading search, not tuning: the regimes are fixed; this only asks in which of them our per-vector error
    lies closest to the seed's numbers. One row per regime: each method's mean, and the mean absolute
    relative deviation from the seed's values over the methods (sorted, closest first).
    """
    rows = []
    for regime, sub in final.groupby("regime", sort=False):
        means = {k: float(sub[sub.method == k][column].mean()) for k in seed_values}
        dev = float(np.mean([abs(means[k] - v) / v for k, v in seed_values.items()]))
        rows.append({"regime": regime, **means, "mean_abs_rel_dev": dev})
    return pd.DataFrame(rows).sort_values("mean_abs_rel_dev", kind="stable").reset_index(drop=True)


def reading_table(final: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(shown, reading, values): the seeds' MSE read as error per vector, per regime, closest regime first."""
    seed_numbers = {k: float(v[0]) for k, v in SEED_TABLE.items() if k in set(final.method)}
    reading = per_vector_reading(final, seed_numbers)
    values = {"testbed_closest_regime": reading.regime.iloc[0],
              "testbed_closest_dev": f"{100 * reading.mean_abs_rel_dev.iloc[0]:.3g} %"}
    shown = reading.rename(columns={k: f"{NAMES[k]} (seed {v:g})" for k, v in seed_numbers.items()} | {"mean_abs_rel_dev": "mean |rel. deviation|"})
    shown = shown.map(lambda v: stats.sig(v) if isinstance(v, float) else v)
    return shown, reading, values
