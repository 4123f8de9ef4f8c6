"""The cost of a training step (book/convergence.md): every method timed alone at the first K of K_list; one task.

Timings are machine-local: the stored table records where they were measured and is never verified.
"""

from __future__ import annotations

import pandas as pd
import torch

from vqlib.studies.common import testbed_data, time_methods

PARAMS = ("seeds", "seed", "D", "m", "K_list", "batch_size", "lr", "beta", "sigma", "lambda_1", "decay", "n_train", "n_eval",
          "methods", "restart_window", "timing_steps", "timing_repeats")
UNVERIFIED = ("seconds_per_step",)


def tasks(p: dict) -> list[dict]:
    """One task: the timing at K = K_list[0]."""
    return [{**{k: v for k, v in p.items() if k != "K_list"}, "K": p["K_list"][0]}]


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """times: one row per (method, repeat)."""
    tb = testbed_data(t["seeds"], t["D"], t["m"], t["sigma"], t["lambda_1"], t["decay"], t["n_train"], t["n_eval"], t["seed"], device)
    times = time_methods(tb, t["K"], t["methods"], t["timing_steps"], t["batch_size"], t["lr"], t["beta"], t["seed"],
                         t["timing_repeats"], t["restart_window"])
    return {"times": times.assign(K=t["K"])}
