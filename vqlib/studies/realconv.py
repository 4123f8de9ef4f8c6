"""The convolutional real-data study: vqlib.realconv on the wheels' photographs with whole images held out.

One task per (regime, K) in a fixed budget, per (regime, K, method) in a converging one: the methods of `conv_methods`
(the VQ methods as one model, FSQ as another), `conv_seeds` seeds, 16×16 crops → a 4×4 grid of m = 8 latents.
Tables: final and initial (one row per method × seed: held-out PSNR, dead codes, usage, index entropy, bits per pixel
as log2 K and as entropy), dropped (methods a regime leaves out, and why), runs (cost).
"""

from __future__ import annotations

import time
from dataclasses import replace

import pandas as pd
import torch

from vqlib import images, realconv, regimes

PARAMS = ("conv_seeds", "seed", "conv_K_list", "conv_methods", "conv_regimes", "conv_batch", "conv_hidden", "conv_m", "conv_split",
          "conv_cap", "conv_converged_K", "conv_converged_methods")
#: Code counts move with argmin near-ties.
SPREAD = ("dead_codes", "usage", "entropy_bits", "bpp_entropy", "stop_step", "met_rule")
UNVERIFIED = ("seconds_per_step", "cpu_seconds_per_step", "cpu_seconds", "wall_seconds")


def tasks(p: dict) -> list[dict]:
    """A fixed-budget regime: one task per K of conv_K_list. A converging one (its cap conv_cap): one task per method
    of conv_converged_methods at the K of conv_converged_K only, so that workers share it and a method's task ends
    when its own slices have stopped.

    Every draw but the estimators' noise is a per-seed stream (starting network, codebook starts, validation crops,
    minibatches), so a method trained alone starts and trains as it would beside the others: still paired by seed.
    """
    shared = {k: p[k] for k in PARAMS if k not in ("conv_K_list", "conv_regimes", "conv_converged_K", "conv_cap", "conv_converged_methods")}
    out = []
    for r in p["conv_regimes"]:
        if regimes.get(r).converge:
            out += [{**shared, "regime": r, "K": k, "conv_cap": p["conv_cap"], "conv_methods": [mt]}
                    for k in p["conv_converged_K"] for mt in p["conv_converged_methods"]]
        else:
            out += [{**shared, "regime": r, "K": k} for k in p["conv_K_list"]]
    return out


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """Tables final, initial, dropped and runs of one (regime, K)."""
    tic, cpu_tic = time.perf_counter(), time.process_time()
    data = images.crops(t["conv_split"], 16, 8)
    regime = regimes.get(t["regime"])
    regime = replace(regime, steps=t["conv_cap"]) if regime.converge else regime
    run = realconv.train(data, t["K"], list(t["conv_methods"]), regime, t["conv_seeds"], t["seed"], t["conv_hidden"],
                         t["conv_m"], batch_size=t["conv_batch"], device=device)
    tags = {"regime": t["regime"], "K": t["K"]}
    dropped = pd.DataFrame({"regime": t["regime"], "method": list(run.dropped), "why": list(run.dropped.values())},
                           columns=["regime", "method", "why"])
    runs = pd.DataFrame([{**tags, "n_train": data.x_train.shape[0], "n_eval": data.x_eval.shape[0], "seconds_per_step": run.seconds_per_step,
                          "cpu_seconds_per_step": run.cpu_seconds_per_step, "cpu_seconds": time.process_time() - cpu_tic,
                          "wall_seconds": time.perf_counter() - tic}])
    return {"final": run.final.assign(**tags), "initial": run.initial.assign(**tags), "dropped": dropped, "runs": runs}
