"""What a quantization step costs (book/cost.md): every estimator against STE, a bare matmul and vector-quantize-pytorch,
and training 1 against `seeds` seeds in one batched model (vqlib.bench). One task: all timings on one machine.

Every timing column is UNVERIFIED: timings belong to the machine that computed them (its name is in the stored
meta.json), so they are shown, never checked against another machine's; `make book` reads them, it never times.
"""

from __future__ import annotations

import pandas as pd
import torch

from vqlib import bench

PARAMS = ("B_list", "m_list", "K_list", "rounds", "seeds", "steps")
#: Machine-local timings (and the ratios of timings): never verified.
UNVERIFIED = ("seconds", "us_per_step", "vs_ste", "vs_matmul", "vs_vqp", "vs_one_seed")


def tasks(p: dict) -> list[dict]:
    """One task: the methods take turns within each round, so every ratio compares timings taken moments apart."""
    return [dict(p)]


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """times (per shape, round and method), step (medians and within-round ratios per shape and method), scaling."""
    with_vqp = bench.vqp_available()
    times = bench.step_times(bench.grid_shapes(t["B_list"], t["m_list"], t["K_list"]), rounds=t["rounds"], with_vqp=with_vqp)
    step = bench.ratios(times).assign(threads=torch.get_num_threads(), vqp=with_vqp)
    scaling = bench.seed_scaling(seeds=(1, t["seeds"]), steps=t["steps"], rounds=t["rounds"])
    return {"times": times, "step": step, "scaling": scaling}
