"""The experiments the chapters run: each maps stated settings to tidy per-seed results (pandas)."""

from __future__ import annotations

import pandas as pd
import torch

from vqlib import data, init, rd
from vqlib.checks import check_int, resolve_device
from vqlib.models import LinearVQ
from vqlib.plotting import style
from vqlib.train import train


def setup(device: str = "cpu") -> torch.device:
    """Start a chapter: one CPU thread (results repeat bit for bit on a machine), the figure style, the device."""
    torch.set_num_threads(1)
    style()
    return resolve_device(device)


def testbed_data(seeds: int, D: int, m: int, sigma: float, lambda_1: float, decay: float, n_train: int, n_eval: int, seed: int, device: torch.device) -> data.LinearGaussian:
    """The linear Gaussian testbed with a geometric latent spectrum, one draw per seed, on `device`."""
    if m > D:
        raise ValueError(f"m (the latent dimension, {m}) must be at most D ({D})")
    tb = data.linear_gaussian(seeds, D, data.spectrum(m, lambda_1, decay), sigma, n_train, n_eval, seed)
    tb.x_train, tb.x_eval, tb.s_eval, tb.A = (t.to(device) for t in (tb.x_train, tb.x_eval, tb.s_eval, tb.A))
    return tb


def bound(tb: data.LinearGaussian, K: int) -> float:
    """Shannon's D(R) at R = log2 K bits for the full data covariance (squared error per vector)."""
    return rd.gaussian_dr(tb.covariance_eigenvalues, rd.bits(K))


def train_estimators(
    tb: data.LinearGaussian,
    K: int,
    estimators: list[str],
    steps: int,
    batch_size: int,
    lr: float,
    beta: float,
    seed: int,
    eval_every: int = 0,
    init_name: str = "uniform",
    callback=None,
) -> pd.DataFrame:
    """Train one learned-encoder model per estimator from the same start (encoder, codebook, batches).

    Returns the evaluation history: one row per (method, step, seed). `callback(model, step)` is handed
    to :func:`vqlib.train.train` (e.g. a :class:`vqlib.train.CodebookRecorder`).
    """
    check_int("K", K, 1)
    S, _, D = tb.x_train.shape
    m = tb.A.shape[-1]
    device = tb.x_train.device
    enc = data.random_orthonormal(S, D, m, torch.Generator().manual_seed(seed + 1)).transpose(1, 2).to(device)
    z0 = tb.x_train @ enc.transpose(1, 2)
    cb = init.codebook(init_name, z0, K, seed=seed + 2).to(device)
    frames = []
    for name in estimators:
        model = LinearVQ(enc, cb, enc.transpose(1, 2), name).to(device)
        hist = train(model, tb.x_train, tb.x_eval, steps, batch_size, lr, beta, seed + 3, eval_every, tb.A, callback)
        hist.insert(0, "method", name)
        frames.append(hist)
    return pd.concat(frames, ignore_index=True)


def pca_lloyd(tb: data.LinearGaussian, K: int, iters: int, seed: int) -> pd.DataFrame:
    """No gradient training: PCA encoder, decoder its transpose, codebook by k-means on encoded training data."""
    m = tb.A.shape[-1]
    enc, _ = init.pca(tb.x_train.cpu(), m)
    enc = enc.to(tb.x_train.device)
    cb = init.kmeans(tb.x_train @ enc.transpose(1, 2), K, iters, seed=seed + 2)
    model = LinearVQ(enc, cb, enc.transpose(1, 2), "ste", learn_encoder=False, learn_decoder=False)
    frame = pd.DataFrame({k: v.cpu().numpy() for k, v in model.evaluate(tb.x_eval, tb.A).items()})
    frame.insert(0, "seed", range(len(frame)))
    frame.insert(0, "method", "pca_lloyd")
    return frame


def kmeans_vs_bound(dims: list[int], K_list: list[int], seeds: int, n_train: int, n_eval: int, iters: int, seed: int) -> pd.DataFrame:
    """k-means on N(0, I_d) samples for each (d, K): MSE per dimension on its training points and on fresh ones.

    In 1-D the codebook is also scored on the exact density (rd.scalar_mse), next to the Lloyd–Max optimum and
    to Lloyd run on the same samples from the Lloyd–Max levels (what the samples allow near the optimum).
    Returns one row per (d, K, seed); distortions are per dimension, bounds are D(R) = 2^(−2 log2(K)/d).
    """
    from vqlib.quantize import sq_distances

    rows = []
    gen = torch.Generator().manual_seed(int(seed))
    for d in dims:
        for K in K_list:
            check_int("K", K, 1, n_train)
            x = torch.randn(seeds, n_train, d, generator=gen, dtype=torch.float64)
            fresh = torch.randn(seeds, n_eval, d, generator=gen, dtype=torch.float64)
            cb = init.kmeans(x, K, iters, seed=seed + 1000 * d + K)
            frame = pd.DataFrame(
                {
                    "d": d,
                    "K": K,
                    "seed": range(seeds),
                    "rate_per_dim": rd.bits(K) / d,
                    "train_mse": (sq_distances(x, cb).min(-1).values.mean(-1) / d).numpy(),
                    "fresh_mse": (sq_distances(fresh, cb).min(-1).values.mean(-1) / d).numpy(),
                    "dr": rd.gaussian_dr([1.0] * d, rd.bits(K)) / d,
                }
            )
            if d == 1:
                lm = rd.lloyd_max(K)
                from_lm = init.lloyd(x, torch.as_tensor(lm.levels).reshape(1, K, 1).expand(seeds, K, 1).clone(), iters)
                frame["exact_mse"] = [rd.scalar_mse(c[:, 0].numpy()) for c in cb]
                frame["lloyd_max"] = lm.mse
                frame["from_lm_exact_mse"] = [rd.scalar_mse(c[:, 0].numpy()) for c in from_lm]
            rows.append(frame)
    return pd.concat(rows, ignore_index=True)
