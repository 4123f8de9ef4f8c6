"""Commitment and noise (book/commitment_noise.md): a β sweep from three starts and a σ sweep; one task per regime.

Tables (every task, one regime each): `beta_final` and `beta_history` (the β sweep from the standard and the two
collapsed starts, evaluated every `eval_every` steps) and `sigma_final` (the σ sweep from the standard start, with
the recon MSE on the training vectors beside the held-out one, for the train–test gap).
"""

from __future__ import annotations

import pandas as pd
import torch

from vqlib import grid
from vqlib.studies.common import regime_grids, testbed_data

PARAMS = ("seeds", "seed", "D", "m", "K", "steps", "batch_size", "lr", "beta", "beta_list", "sigma", "sigma_list", "lambda_1",
          "decay", "n_train", "n_eval", "eval_every", "collapse_scale", "methods", "regimes", "restart_window")
#: Columns that move with the last bits: dead codes are integers decided by argmin near-ties.
SPREAD = ("dead_codes", "usage", "stop_step", "met_rule")
#: The starts of the β sweep: the testbed's, collapsed at the origin, collapsed away from it (vqlib.claims.COLLAPSED).
STARTS = ("standard", "collapsed", "collapsed_far")


def tasks(p: dict) -> list[dict]:
    """One task per regime (each regime trains its own batched models on the same data and starts)."""
    return [{**{k: v for k, v in p.items() if k != "regimes"}, "regime": r} for r in p["regimes"]]


def evaluate_training_sets(run: grid.GridRun, datasets: list) -> pd.DataFrame:
    """The final metrics of a grid on its training vectors instead of the held-out ones (for overfitting).

    `datasets` must be the list the grid was trained on. One row per slice: slice columns and metrics.
    """
    S = int(run.slices.seed.max()) + 1
    if len(datasets) != int(run.slices.data.max()) + 1 or any(ds.x_train.shape[0] != S for ds in datasets):
        raise ValueError(f"datasets must be the list of {int(run.slices.data.max()) + 1} data set(s) of {S} seeds the grid was trained on")
    x = torch.cat([ds.x_train for ds in datasets])
    beta = torch.tensor(run.slices.beta.to_list(), dtype=torch.float32, device=x.device)
    result = grid.evaluate(run.model, run.layout, x, beta)
    frame = run.slices.copy()
    for k, v in result.items():
        frame[k] = v.cpu().numpy()
    return frame


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """beta_final, beta_history and sigma_final of one regime."""
    r = t["regime"]
    shape = (t["D"], t["m"])
    spec = (t["lambda_1"], t["decay"], t["n_train"], t["n_eval"], t["seed"], device)
    args = (t["steps"], t["batch_size"], t["lr"], t["seed"])
    tb = testbed_data(t["seeds"], *shape, t["sigma"], *spec)
    beta_run = regime_grids([tb], t["K"], t["methods"], t["beta_list"], [r], *args, t["eval_every"], t["restart_window"],
                            starts=list(STARTS), collapse_scale=t["collapse_scale"])[r]
    noisy = [testbed_data(t["seeds"], *shape, s, *spec) for s in t["sigma_list"]]
    sigma_run = regime_grids(noisy, t["K"], t["methods"], [t["beta"]], [r], *args, 0, t["restart_window"])[r]
    sigma_final = sigma_run.final.assign(train_recon_mse=evaluate_training_sets(sigma_run, noisy).recon_mse.to_numpy())
    return {"beta_final": beta_run.final, "beta_history": beta_run.history, "sigma_final": sigma_final}
