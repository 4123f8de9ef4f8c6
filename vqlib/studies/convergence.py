"""Convergence (book/convergence.md): long runs at every K of K_list, evaluated every `eval_every` steps; one task
per (K, regime).

Tables: `final` (one row per method and seed at the run's last evaluation, with `lloyd_gain`, the relative drop of
the latent distortion that `lloyd_iters` Lloyd iterations achieve from the trained codebook) and `history` (the
learning curves). Steps to a target and run averages are derived from `history` (vqlib.analysis.convergence).
"""

from __future__ import annotations

import pandas as pd
import torch

from vqlib import grid
from vqlib.studies.common import regime_grids, testbed_data

PARAMS = ("seeds", "seed", "D", "m", "K_list", "steps", "batch_size", "lr", "beta", "sigma", "lambda_1", "decay", "n_train",
          "n_eval", "eval_every", "lloyd_iters", "methods", "regimes", "restart_window")
#: Columns that move with the last bits: dead codes are integers decided by argmin near-ties, and the steps to a
#: target derived from `history` move with them.
SPREAD = ("dead_codes", "usage")


def tasks(p: dict) -> list[dict]:
    """One task per (K, regime), K-major (each trains its own batched model on the same data)."""
    rest = {k: v for k, v in p.items() if k not in ("K_list", "regimes")}
    return [{**rest, "K": K, "regime": r} for K in p["K_list"] for r in p["regimes"]]


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """final (with lloyd_gain; a converging regime adds each slice's stop_step and met_rule) and history of one (K, regime)."""
    tb = testbed_data(t["seeds"], t["D"], t["m"], t["sigma"], t["lambda_1"], t["decay"], t["n_train"], t["n_eval"], t["seed"], device)
    r, K = t["regime"], t["K"]
    run = regime_grids([tb], K, t["methods"], [t["beta"]], [r], t["steps"], t["batch_size"], t["lr"], t["seed"], t["eval_every"],
                       t["restart_window"])[r]
    final = run.final.assign(K=K, lloyd_gain=grid.lloyd_gain(run, tb.x_eval, t["lloyd_iters"]).cpu().numpy())
    if run.stop_step is not None:  # per slice: the step it stopped at and whether its rule met before the cap
        final = final.merge(run.slices[["method", "seed", "stop_step", "met_rule"]], on=["method", "seed"], how="left")
    return {"final": final, "history": run.history.assign(K=K)}
