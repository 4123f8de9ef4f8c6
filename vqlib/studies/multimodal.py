"""Multi-modal data (book/multimodal.md): every method on a Gaussian mixture, PCA + k-means beside them; one task per regime."""

from __future__ import annotations

import pandas as pd
import torch

from vqlib import data
from vqlib.studies.common import pca_lloyd, regime_grids

PARAMS = ("seeds", "seed", "D", "m", "K", "n_clusters", "center_scale", "cluster_std", "sigma", "steps", "batch_size", "lr",
          "beta", "n_train", "n_eval", "kmeans_iters", "methods", "regimes", "restart_window")
#: Columns that move with the last bits: dead codes are integers decided by argmin near-ties.
SPREAD = ("dead_codes", "stop_step", "met_rule")


def mixture_data(seeds: int, D: int, m: int, n_clusters: int, center_scale: float, cluster_std: float, sigma: float,
                 n_train: int, n_eval: int, seed: int, device: torch.device) -> data.GaussianMixture:
    """The chapter's Gaussian mixture (one draw per seed) with its evaluation labels, on `device`.

    2·n_eval held-out vectors are drawn and split in two: the evaluation set (every reported number) and `x_val`, the
    validation set the converged regime's stop rule reads (never the evaluation set), drawn in every regime alike.
    """
    mix = data.gaussian_mixture(seeds, D, m, n_clusters, center_scale, cluster_std, sigma, n_train, 2 * n_eval, seed)
    mix.x_val = mix.x_eval[:, n_eval:].to(device)
    mix.x_eval, mix.labels_eval = mix.x_eval[:, :n_eval], mix.labels_eval[:, :n_eval]
    mix.x_train, mix.x_eval, mix.labels_eval, mix.A = (t.to(device) for t in (mix.x_train, mix.x_eval, mix.labels_eval, mix.A))
    return mix


def tasks(p: dict) -> list[dict]:
    """One task per regime (each regime trains its own batched model on the same data and starts)."""
    return [{**{k: v for k, v in p.items() if k != "regimes"}, "regime": r} for r in p["regimes"]]


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """final: every method × seed of one regime, then PCA + k-means (which trains nothing: the same in every regime)."""
    mix = mixture_data(t["seeds"], t["D"], t["m"], t["n_clusters"], t["center_scale"], t["cluster_std"], t["sigma"], t["n_train"],
                       t["n_eval"], t["seed"], device)
    r = t["regime"]
    run = regime_grids([mix], t["K"], t["methods"], [t["beta"]], [r], t["steps"], t["batch_size"], t["lr"], t["seed"], 0,
                       t["restart_window"])[r]
    km = pca_lloyd(mix, t["K"], t["kmeans_iters"], t["seed"]).assign(regime=r)
    return {"final": pd.concat([run.final, km], ignore_index=True)}
