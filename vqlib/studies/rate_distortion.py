"""Rate–distortion calibrations (book/rate_distortion.md): k-means and Lloyd against the bound, random codebooks.

One task per part of the chapter, each with only the parameters that part depends on (so changing, say,
`lloyd_iters` recomputes the random-codebook part alone), each giving one table named after its part:

- reproduction: k-means codebooks of the testbed's m-dimensional signal, per-axis distortion, use-weighted spread and the
  unweighted variance of the code points;
- pca: the PCA encoder of the testbed estimated from n_train vectors, principal angles and signal leakage;
- kmeans: k-means on N(0, I_d) against D(R) (and, in 1-D, against Lloyd–Max on the exact density);
- random_codes: codebooks drawn i.i.d. from three densities, before and after Lloyd, beside the closed forms.

Each part draws from its own generator exactly as the chapter did, so the tables are those it computed itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from vqlib import data, init, metrics, quantize, rd
from vqlib.checks import check_int
from vqlib.studies.common import testbed_data

PARAMS = ("seeds", "seed", "D", "m", "K", "sigma", "lambda_1", "decay", "dims", "K_list", "n_train", "n_eval",
          "kmeans_iters", "code_dims", "code_K_list", "code_n_train", "code_n_eval", "lloyd_iters")

#: The parameters of each part (its task holds these and the part's name).
PARTS = {
    "reproduction": ("seeds", "seed", "m", "K", "sigma", "lambda_1", "decay", "n_train", "n_eval", "kmeans_iters"),
    "pca": ("seeds", "seed", "D", "m", "sigma", "lambda_1", "decay", "n_train"),
    "kmeans": ("dims", "K_list", "seeds", "n_train", "n_eval", "kmeans_iters", "seed"),
    "random_codes": ("code_dims", "code_K_list", "lambda_1", "decay", "sigma", "seeds", "code_n_train", "code_n_eval",
                     "lloyd_iters", "seed"),
}


def tasks(p: dict) -> list[dict]:
    """One task per part, holding only that part's parameters."""
    return [{"part": part, **{k: p[k] for k in names}} for part, names in PARTS.items()]


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """The one table of the task's part, named after it."""
    args = {k: v for k, v in t.items() if k != "part"}
    if t["part"] == "pca":
        args["device"] = device
    return {t["part"]: globals()[t["part"]](**args)}


def reproduction(seeds: int, seed: int, m: int, K: int, sigma: float, lambda_1: float, decay: float, n_train: int,
                 n_eval: int, kmeans_iters: int) -> pd.DataFrame:
    """k-means on N(0, diag(λ + σ²)) in m dimensions: per (seed, axis) its distortion and its reproduction's variance."""
    lam = data.spectrum(m, lambda_1, decay).numpy()
    gen = torch.Generator().manual_seed(seed)
    std = torch.as_tensor(np.sqrt(lam + sigma**2))
    z_train = torch.randn(seeds, n_train, m, generator=gen, dtype=torch.float64) * std
    z_eval = torch.randn(seeds, n_eval, m, generator=gen, dtype=torch.float64) * std
    cb = init.kmeans(z_train, K, kmeans_iters, seed=seed + 1)
    q_eval = quantize.lookup(cb, quantize.assign(z_eval, cb))
    spread = q_eval.var(1)  # (S, m): variance of the reproduction on each axis (use-weighted: Var Q(X))
    code_var = cb.var(1, unbiased=False)  # (S, m): variance of the K code points themselves (each code counted once)
    axis_mse = (z_eval - q_eval).pow(2).mean(1)  # (S, m)
    return pd.DataFrame({
        "seed": np.repeat(np.arange(seeds), m), "axis": np.tile(np.arange(1, m + 1), seeds),
        "distortion": axis_mse.reshape(-1).numpy(), "spread": spread.reshape(-1).numpy(), "code_var": code_var.reshape(-1).numpy(),
        "total": axis_mse.sum(-1).repeat_interleave(m).numpy(),  # the seed's distortion per vector, summed as before
    })


def pca(seeds: int, seed: int, D: int, m: int, sigma: float, lambda_1: float, decay: float, n_train: int,
        device: torch.device | None = None) -> pd.DataFrame:
    """PCA of the testbed from n_train vectors per seed: largest principal angle to the true subspace, signal leakage."""
    tb = testbed_data(seeds, D, m, sigma, lambda_1, decay, n_train, 1, seed, device or torch.device("cpu"))
    enc, _ = init.pca(tb.x_train.cpu(), m)
    angles = metrics.principal_angles_deg(enc.transpose(1, 2), tb.A.cpu())  # (S, m)
    leak = metrics.signal_leakage(enc, tb.A.cpu(), tb.eigenvalues)
    return pd.DataFrame({"seed": range(seeds), "max_angle": angles.max(-1).values.numpy(), "leak": np.asarray(leak)})


def kmeans(dims: list[int], K_list: list[int], seeds: int, n_train: int, n_eval: int, kmeans_iters: int, seed: int) -> pd.DataFrame:
    """k-means on N(0, I_d) samples for each (d, K): MSE per dimension on its training points and on fresh ones.

    In 1-D the codebook is also scored on the exact density (rd.scalar_mse), next to the Lloyd–Max optimum and
    to Lloyd run on the same samples from the Lloyd–Max levels (what the samples allow near the optimum).
    Returns one row per (d, K, seed); distortions are per dimension, bounds are D(R) = 2^(−2 log2(K)/d).
    """
    rows = []
    gen = torch.Generator().manual_seed(int(seed))
    for d in dims:
        for K in K_list:
            check_int("K", K, 1, n_train)
            x = torch.randn(seeds, n_train, d, generator=gen, dtype=torch.float64)
            fresh = torch.randn(seeds, n_eval, d, generator=gen, dtype=torch.float64)
            cb = init.kmeans(x, K, kmeans_iters, seed=seed + 1000 * d + K)
            frame = pd.DataFrame({
                "d": d, "K": K, "seed": range(seeds), "rate_per_dim": rd.bits(K) / d,
                "train_mse": (quantize.sq_distances(x, cb).min(-1).values.mean(-1) / d).numpy(),
                "fresh_mse": (quantize.sq_distances(fresh, cb).min(-1).values.mean(-1) / d).numpy(),
                "dr": rd.gaussian_dr([1.0] * d, rd.bits(K)) / d,
            })
            if d == 1:
                lm = rd.lloyd_max(K)
                from_lm = init.lloyd(x, torch.as_tensor(lm.levels).reshape(1, K, 1).expand(seeds, K, 1).clone(), kmeans_iters)
                frame["exact_mse"] = [rd.scalar_mse(c[:, 0].numpy()) for c in cb]
                frame["lloyd_max"] = lm.mse
                frame["from_lm_exact_mse"] = [rd.scalar_mse(c[:, 0].numpy()) for c in from_lm]
            rows.append(frame)
    return pd.concat(rows, ignore_index=True)


#: The densities random codebooks are drawn from: their per-axis variances γ for source variances λ at K codes.
SAMPLERS = {
    "data_samples": lambda lam, K: np.asarray(lam, dtype=np.float64),
    "rd_optimal": lambda lam, K: rd.reverse_water_filling(lam, rd.bits(K)).reproduction_variances,
    "point_density": lambda lam, K: rd.point_density_variances(lam),
}


def geometric_spectrum(m: int, lambda_1: float, decay: float, sigma: float) -> np.ndarray:
    """The testbed latent's variances λ_i + σ² with λ_i = λ₁ decay^(i−1), i = 1..m."""
    return data.spectrum(m, lambda_1, decay).double().numpy() + sigma**2


def nearest_error(x: torch.Tensor, codebook: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Mean squared distance from each x (S, N, m) to its nearest code (S, K, m), per leading index, in chunks."""
    total = sum(quantize.nearest(x[:, i:i + chunk], codebook)[0].double().sum(-1) for i in range(0, x.shape[1], chunk))
    return total / x.shape[1]


def random_codes(
    code_dims: list[int], code_K_list: list[int], lambda_1: float, decay: float, sigma: float,
    seeds: int, code_n_train: int, code_n_eval: int, lloyd_iters: int, seed: int,
) -> pd.DataFrame:
    """Random codebooks from each density of :data:`SAMPLERS` on N(0, diag(λ + σ²)) in m dimensions, before and after Lloyd.

    Per (m, K, sampler, seed): the high-resolution prediction (vqlib.rd.random_code_distortion as written and
    on the active subspace), the measured distortion of the drawn codebook on code_n_eval fresh vectors (step 0)
    and after at most `lloyd_iters` Lloyd iterations on code_n_train training vectors; beside them per (m, K) D(R),
    the sphere bound and the exact transform-coding distortion. Distortions are per vector; samples and codes
    are float32 (drawn in float64), distances are summed per chunk in float64.
    """
    gen = torch.Generator().manual_seed(int(seed))
    rows = []
    for m in code_dims:
        lam = geometric_spectrum(m, lambda_1, decay, sigma)
        std = torch.from_numpy(np.sqrt(lam))
        x = (torch.randn(seeds, code_n_train, m, generator=gen, dtype=torch.float64) * std).float()
        fresh = (torch.randn(seeds, code_n_eval, m, generator=gen, dtype=torch.float64) * std).float()
        for K in code_K_list:
            check_int("K", K, 1, code_n_train)
            books = []
            for name, law in SAMPLERS.items():
                if name == "data_samples":  # K training vectors: i.i.d. draws from p itself
                    books.append(init.data_samples(x, K, seed=seed + K))
                else:
                    gam = torch.from_numpy(law(lam, K))
                    books.append((torch.randn(seeds, K, m, generator=gen, dtype=torch.float64) * gam.sqrt()).float())
            start = torch.cat(books)  # sampler-major (3·S, K, m)
            trained = init.lloyd(x.repeat(len(SAMPLERS), 1, 1), start, lloyd_iters)
            reps = fresh.repeat(len(SAMPLERS), 1, 1)
            d0 = nearest_error(reps, start)
            d1 = nearest_error(reps, trained)
            levels = rd.allocate_levels(lam, K)
            common = {"m": m, "K": K, "bits_per_dim": rd.bits(K) / m, "dr": rd.gaussian_dr(lam, rd.bits(K)),
                      "sphere": rd.sphere_bound(lam, K), "transform": rd.transform_coding_distortion(lam, levels),
                      "levels": "×".join(map(str, levels))}
            for j, (name, law) in enumerate(SAMPLERS.items()):
                gam = law(lam, K)
                pred = rd.random_code_distortion(lam, gam, K)
                pred_sub = rd.random_code_distortion(lam, gam, K, subspace=True)
                for s in range(seeds):
                    rows.append({**common, "sampler": name, "seed": s, "predicted": pred, "predicted_subspace": pred_sub,
                                 "active": int((gam > 0).sum()), "measured_start": float(d0[j * seeds + s]),
                                 "measured_lloyd": float(d1[j * seeds + s])})
    return pd.DataFrame(rows)
