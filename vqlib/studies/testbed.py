"""The testbed (book/testbed.md): every estimator in every regime, PCA + Lloyd beside them; one task per regime."""

from __future__ import annotations

import pandas as pd
import torch

from vqlib import metrics, rd
from vqlib.studies.common import bound, pca_lloyd, regime_grids, testbed_data

PARAMS = ("seeds", "seed", "D", "m", "K", "steps", "batch_size", "lr", "beta", "sigma", "lambda_1", "decay", "n_train",
          "n_eval", "eval_every", "kmeans_iters", "estimators", "regimes")
#: Columns that move with the last bits: dead codes are integers decided by argmin near-ties.
SPREAD = ("dead_codes", "usage", "usage_pct")


def tasks(p: dict) -> list[dict]:
    """One task per regime (each regime trains its own batched model on the same data and starts)."""
    return [{**{k: v for k, v in p.items() if k != "regimes"}, "regime": r} for r in p["regimes"]]


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """final (regime, method, seed), history (learning curves) and steps_run of one regime, PCA + Lloyd included."""
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
    return {"final": final, "history": run.history, "steps_run": pd.DataFrame({"regime": [r], "steps": [run.steps_run]})}
