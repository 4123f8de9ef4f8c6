"""The cost of a training step (book/convergence.md): every method timed alone at the first K of K_list; one task.

Timings are machine-local: the stored table records where they were measured and is never verified.
"""

from __future__ import annotations

import pandas as pd
import torch

from vqlib.checks import check_int
from vqlib.studies.common import estimator_grid, testbed_data

PARAMS = ("seeds", "seed", "D", "m", "K_list", "batch_size", "lr", "beta", "sigma", "lambda_1", "decay", "n_train", "n_eval",
          "methods", "restart_window", "timing_steps", "timing_repeats")
UNVERIFIED = ("seconds_per_step",)


def tasks(p: dict) -> list[dict]:
    """One task: the timing at K = K_list[0]."""
    return [{**{k: v for k, v in p.items() if k != "K_list"}, "K": p["K_list"][0]}]


def time_methods(
    tb, K: int, methods: list[str], steps: int, batch_size: int, lr: float, beta: float, seed: int, repeats: int, restart_window: int = 50
) -> pd.DataFrame:
    """Wall time of one training step per method (all seeds of `tb` in one batched model), `repeats` times.

    Methods are timed in turn, in a rotated order on each repeat so slow phases of a shared machine spread
    over all of them. Returns columns method, repeat, seconds_per_step.
    """
    check_int("repeats", repeats, 1)
    rows = []
    for r in range(repeats):
        for name in methods[r % len(methods):] + methods[: r % len(methods)]:
            run = estimator_grid([tb], K, [name], [beta], steps, batch_size, lr, seed, 0, "uniform", restart_window, evaluation=False)
            rows.append({"method": name, "repeat": r, "seconds_per_step": run.seconds_per_step})
    return pd.DataFrame(rows)


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """times: one row per (method, repeat)."""
    tb = testbed_data(t["seeds"], t["D"], t["m"], t["sigma"], t["lambda_1"], t["decay"], t["n_train"], t["n_eval"], t["seed"], device)
    times = time_methods(tb, t["K"], t["methods"], t["timing_steps"], t["batch_size"], t["lr"], t["beta"], t["seed"],
                         t["timing_repeats"], t["restart_window"])
    return {"times": times.assign(K=t["K"])}
