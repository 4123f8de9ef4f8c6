"""Codebook size (book/scale.md): every method at every K in every regime; one task per (K, regime), one timing task per K."""

from __future__ import annotations

import pandas as pd
import torch

from vqlib import metrics, rd
from vqlib.studies.common import bound, regime_grids, testbed_data, time_methods

PARAMS = ("seeds", "seed", "D", "m", "K_list", "steps", "batch_size", "lr", "beta", "sigma", "lambda_1", "decay", "n_train",
          "n_eval", "methods", "regimes", "restart_window", "timing_steps", "timing_repeats")
#: Columns that move with the last bits: dead codes are integers decided by argmin near-ties.
SPREAD = ("dead_codes", "dead_pct")
#: Wall times: machine-local.
UNVERIFIED = ("seconds_per_step",)

_DATA = ("seeds", "D", "m", "sigma", "lambda_1", "decay", "n_train", "n_eval", "seed")  # testbed_data's order
_TRAIN = _DATA + ("steps", "batch_size", "lr", "beta", "methods", "restart_window")


def tasks(p: dict) -> list[dict]:
    """One training task per (K, regime), K-major as the chapter's tables run; then one timing task per K."""
    train = [{**{k: p[k] for k in _TRAIN}, "part": "train", "K": K, "regime": r} for K in p["K_list"] for r in p["regimes"]]
    timing = [{**{k: p[k] for k in _TRAIN}, "part": "timing", "K": K, "timing_steps": p["timing_steps"],
               "timing_repeats": p["timing_repeats"]} for K in p["K_list"]]
    return train + timing


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """final (one row per method × seed; a converging regime adds stop_step and met_rule) and history (steps 0 and last) of
    a training task; times of a timing task.

    Every task returns the three tables; the part it does not compute is an empty frame.
    """
    tb = testbed_data(*(t[k] for k in _DATA), device)
    K = t["K"]
    if t["part"] == "timing":
        times = time_methods(tb, K, t["methods"], t["timing_steps"], t["batch_size"], t["lr"], t["beta"], t["seed"],
                             t["timing_repeats"], t["restart_window"])
        return {"final": pd.DataFrame(), "history": pd.DataFrame(), "times": times.assign(K=K)}
    r = t["regime"]
    run = regime_grids([tb], K, t["methods"], [t["beta"]], [r], t["steps"], t["batch_size"], t["lr"], t["seed"], 0,
                       t["restart_window"])[r]
    final = run.final.assign(K=K)
    final["gap_db"] = rd.gap_db(final.sq_error.to_numpy(), bound(tb, K))
    final["excess_sq_error"] = final.sq_error - metrics.noise_floor(t["D"], t["m"], t["sigma"])
    final["dead_pct"] = 100 * final.dead_codes / final.K
    final["first_3_seeds"] = final.seed < 3
    return {"final": final, "history": run.history.assign(K=K), "times": pd.DataFrame()}
