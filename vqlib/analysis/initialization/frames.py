"""The frames the registry's initialization claims (vqlib.claim_registry, init-*) are judged on by vqlib.claims: one row per
method (the initializer, the β, or the uniform range) and seed, with the case columns the claims filter on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vqlib.analysis.initialization.common import SEED_RANGES
from vqlib.analysis.initialization.seeds import scale_sweep


def regime_frame(study: pd.DataFrame, K: int) -> pd.DataFrame:
    """The regime study at K on the geometric spectrum (fixed PCA encoder): method = init, one row per regime and seed."""
    f = study[(study.spectrum == "geometric") & (study.K == K)]
    return f.assign(method=f.init).reset_index(drop=True)


def setting_frame(per_seed: pd.DataFrame, K: int) -> pd.DataFrame:
    """The per-seed table of both settings (fixed PCA encoder, learned encoder) at K: method = init."""
    f = per_seed[per_seed.K == K]
    return f.assign(method=f.init).reset_index(drop=True)


def seed_table_frame(per_seed: pd.DataFrame, adopted: pd.Series) -> pd.DataFrame:
    """Per initializer and seed, the dead codes under the adopted reading of the seeds' table minus the middle of the seed's
    range: start_vs_seed and end_vs_seed (an equivalence with half the range as margin tests "falls in the range")."""
    cols = ("batch_start", "batch_end") if adopted.family == "per batch" else ("dead_start", "dead_end")
    f = per_seed[(per_seed.setting == adopted.setting) & (per_seed.K == adopted.K) & per_seed.init.isin(list(SEED_RANGES))].copy()
    mid = {name: [(lo + hi) / 2 for lo, hi in r] for name, r in SEED_RANGES.items()}
    f["start_vs_seed"] = adopted.n * f[cols[0]] - f.init.map(lambda i: mid[i][0])
    f["end_vs_seed"] = adopted.n * f[cols[1]] - f.init.map(lambda i: mid[i][1])
    return f.assign(method=f.init).reset_index(drop=True)


def scale_frame(scale: pd.DataFrame, steps: int) -> pd.DataFrame:
    """The uniform-scale sweep's two ranges the root-cause claim compares: the seeds' default 1/K ("default 1/K") and a
    half-width equal to the latent's RMS standard deviation, ratio 1 ("data scale"), fixed before looking at the results."""
    sw, default = scale_sweep(scale, steps), float(scale.default_ratio.iloc[0])
    names = {default: "default 1/K", 1.0: "data scale"}
    pick = sw[np.isin(sw.ratio, list(names))]
    return pick.assign(method=pick.ratio.map(names)).reset_index(drop=True)


def beta_frame(bf: pd.DataFrame, noise_floor: float) -> pd.DataFrame:
    """The β sweep after training: method = "β = b", with the model's noise floor (D − m)σ² per vector beside sq_error."""
    return bf.assign(method=[f"β = {b:g}" for b in bf.beta], noise_floor=noise_floor).reset_index(drop=True)
