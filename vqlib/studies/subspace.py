"""Linear subspace recovery (book/subspace.md): the testbed at D = 256 with learning curves; one task per regime."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from vqlib import data, grid, init, metrics, rd
from vqlib.studies.common import bound, regime_grids, testbed_data

PARAMS = ("seeds", "seed", "D", "m", "K", "steps", "batch_size", "lr", "beta", "sigma", "lambda_1", "decay", "n_train",
          "n_eval", "eval_every", "methods", "regimes", "restart_window")
#: Columns that move with the last bits: dead codes are integers decided by argmin near-ties.
SPREAD = ("dead_codes", "stop_step", "met_rule")


def leakage_pct(run: grid.GridRun, tb: data.LinearGaussian) -> np.ndarray:
    """Per slice of a one-data-set grid: the signal energy outside the encoder's row span, in % of the signal's energy.

    metrics.signal_leakage weighted by the latent variances λ_i, so a lost weak direction costs little and a lost
    strong one much (the largest principal angle weighs them alike). Order: run.slices.
    """
    seeds = torch.tensor(run.slices.seed.to_list())
    A = tb.A[seeds.to(tb.A.device)]
    leak = metrics.signal_leakage(run.model.encoder.detach(), A, tb.eigenvalues)
    return (100 * leak / tb.eigenvalues.sum()).cpu().numpy()


def pca_angles(tb: data.LinearGaussian) -> pd.DataFrame:
    """Per seed: the largest principal angle (degrees) between the true subspace and the training set's PCA subspace."""
    enc, _ = init.pca(tb.x_train.cpu(), tb.A.shape[-1])
    angle = metrics.principal_angles_deg(enc.transpose(1, 2), tb.A.cpu()).max(-1).values
    return pd.DataFrame({"seed": range(len(angle)), "angle_deg": angle.numpy()})


def tasks(p: dict) -> list[dict]:
    """One task per regime (each regime trains its own batched model on the same data and starts)."""
    return [{**{k: v for k, v in p.items() if k != "regimes"}, "regime": r} for r in p["regimes"]]


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """final (method × seed, with signal leakage and gap to D(R)), history (learning curves) and the PCA reference of one regime."""
    tb = testbed_data(t["seeds"], t["D"], t["m"], t["sigma"], t["lambda_1"], t["decay"], t["n_train"], t["n_eval"], t["seed"], device)
    r = t["regime"]
    run = regime_grids([tb], t["K"], t["methods"], [t["beta"]], [r], t["steps"], t["batch_size"], t["lr"], t["seed"],
                       t["eval_every"], t["restart_window"])[r]
    final = run.final.assign(leakage_pct=leakage_pct(run, tb))
    final["gap_db"] = rd.gap_db(final.sq_error.to_numpy(), bound(tb, t["K"]))
    return {"final": final, "history": run.history, "pca": pca_angles(tb).assign(regime=r)}
