"""Convergence (book/convergence.md): long runs at every K of K_list, evaluated every `eval_every` steps; one task
per (K, regime).

`cap_factor` × `steps` caps a converging regime's per-slice stop rule (0: the regime's own cap, 40× `steps`), so
a small `-p steps` run stays small; the fixed-budget regimes ignore it.

Tables: `final` (one row per method and seed at the run's last evaluation, with `lloyd_gain`, the relative drop of
the latent distortion that `lloyd_iters` Lloyd iterations achieve from the trained codebook) and `history` (the
learning curves). Steps to a target and run averages are derived from `history` (vqlib.analysis.convergence).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import torch

from vqlib import grid
from vqlib.regimes import rescale
from vqlib.studies.common import estimator_grid, testbed_data

PARAMS = ("seeds", "seed", "D", "m", "K_list", "steps", "cap_factor", "batch_size", "lr", "beta", "sigma", "lambda_1", "decay", "n_train",
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
    recipe = rescale(r, t["steps"], t["lr"])
    if recipe.converge and t["cap_factor"]:  # the chapter's own cap instead of the regime's 40× steps
        recipe = replace(recipe, steps=t["cap_factor"] * t["steps"])
    run = estimator_grid([tb], K, t["methods"], [t["beta"]], recipe.steps, t["batch_size"], recipe.lr, t["seed"], t["eval_every"],
                         recipe.init, t["restart_window"], regime=recipe, min_steps=t["steps"] if recipe.converge else 0)
    run.history.insert(0, "regime", r)
    final = run.final.assign(K=K, lloyd_gain=grid.lloyd_gain(run, tb.x_eval, t["lloyd_iters"]).cpu().numpy())
    return {"final": final, "history": run.history.assign(K=K)}
