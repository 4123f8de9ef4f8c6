"""The testbed (book/testbed.md): every estimator in every regime, PCA + Lloyd beside them; one task per regime.

Seeds, fixed before any verdict (vqlib.stats.paired_seeds_for_power): the pilot is the seeds' budget regime at 20
seeds (the store before issue 18), whose widest paired spread is the projection against STE, sd of the paired
squared-error difference 0.108 × STE's mean error. Detecting a difference of 5 % of STE's error with a two-sided
paired t-test at α = 0.05 and power 0.8 takes 39 seeds; the chapter runs 50 (the issue's floor), more than that.

A converging regime's task also trains the first CHECK_SEEDS seeds' data with the stop rule observed but not acted on
(every slice to the cap): table `to_cap` has, per slice, its stop step and its error there and at the cap, so the
chapter shows what training on would have changed.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import torch

from vqlib import metrics, rd, regimes
from vqlib.regimes import rescale
from vqlib.studies.common import bound, pca_lloyd, regime_grids, testbed_data

#: Seeds of the train-on-to-the-cap check of a converging regime (vqlib.trainer.SliceStop, observe=True).
CHECK_SEEDS = 5

PARAMS = ("seeds", "seed", "D", "m", "K", "steps", "batch_size", "lr", "beta", "sigma", "lambda_1", "decay", "n_train",
          "n_eval", "eval_every", "kmeans_iters", "estimators", "regimes")
#: Columns that move with the last bits: dead codes are integers decided by argmin near-ties.
SPREAD = ("dead_codes", "usage", "usage_pct")


def tasks(p: dict) -> list[dict]:
    """One task per regime (each regime trains its own batched model on the same data and starts)."""
    return [{**{k: v for k, v in p.items() if k != "regimes"}, "regime": r} for r in p["regimes"]]


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """final (regime, method, seed), history (learning curves) and steps_run of one regime, PCA + Lloyd included.

    A converging regime's final has each slice's stop_step and met_rule (whether its rule stopped it before the cap),
    steps_run the share of slices that met the rule (met_share, NaN for a fixed budget), and `to_cap` the check.
    """
    tb = testbed_data(t["seeds"], t["D"], t["m"], t["sigma"], t["lambda_1"], t["decay"], t["n_train"], t["n_eval"], t["seed"], device)
    r = t["regime"]
    run = regime_grids([tb], t["K"], t["estimators"], [t["beta"]], [r], t["steps"], t["batch_size"], t["lr"], t["seed"],
                       t["eval_every"])[r]
    pl = pca_lloyd(tb, t["K"], t["kmeans_iters"], t["seed"]).assign(regime=r)
    final = pd.concat([run.final, pl], ignore_index=True)
    final = final.drop(columns=[c for c in ("data", "start", "step") if c in final.columns])
    final["excess_sq_error"] = final.sq_error - metrics.noise_floor(t["D"], t["m"], t["sigma"])
    final["gap_db"] = rd.gap_db(final.sq_error.to_numpy(), bound(tb, t["K"]))
    final["usage_pct"] = 100 * final.usage
    out = {"final": final, "history": run.history,
           "steps_run": pd.DataFrame({"regime": [r], "steps": [run.steps_run],
                                      "met_share": [float(run.met_rule.double().mean()) if run.met_rule is not None else float("nan")]})}
    if run.stop_step is not None:
        lloyd = final.method == "pca_lloyd"  # trains nothing: stop step 0, nothing left to converge
        final["stop_step"] = final.stop_step.where(~lloyd, 0).astype("int64")
        final["met_rule"] = final.met_rule.where(~lloyd, True).astype(bool)
        out["to_cap"] = to_cap(tb, t, r)
    return out


def to_cap(tb, t: dict, r: str) -> pd.DataFrame:
    """The first CHECK_SEEDS seeds trained to the cap with the stop rule observed: per slice, the stop step, whether the
    rule met, and the evaluation error (sq_error, excess) at the stop step and at the cap."""
    n = min(CHECK_SEEDS, t["seeds"])
    sub = dataclasses.replace(tb, **{k: getattr(tb, k)[:n] for k in ("x_train", "x_eval", "s_eval", "A", "x_val")})
    run = regime_grids([sub], t["K"], t["estimators"], [t["beta"]], [r], t["steps"], t["batch_size"], t["lr"], t["seed"],
                       regimes.CONVERGE_EVERY, observe=True)[r]
    h = run.history.set_index(["method", "seed", "step"]).sq_error
    cap = rescale(r, t["steps"], t["lr"]).steps
    floor = metrics.noise_floor(t["D"], t["m"], t["sigma"])
    rows = []
    for s in run.final.itertuples():
        at_stop, at_cap = float(h[s.method, s.seed, int(s.stop_step)]), float(h[s.method, s.seed, run.steps_run])
        rows.append({"regime": r, "method": s.method, "seed": s.seed, "stop_step": int(s.stop_step), "met_rule": bool(s.met_rule),
                     "cap": cap, "sq_error_stop": at_stop, "sq_error_cap": at_cap,
                     "excess_stop": at_stop - floor, "excess_cap": at_cap - floor})
    return pd.DataFrame(rows)
