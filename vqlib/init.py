"""Codebook initializers (uniform, k-means, data samples, R(D)-sampled, point-density-sampled, transform coding) and the PCA encoder, batched over seeds."""

from __future__ import annotations

import math

import numpy as np
import torch

from vqlib import rd
from vqlib.checks import check_finite, check_float, check_int
from vqlib.quantize import assign, nearest, sq_distances


def uniform(n_seeds: int, K: int, m: int, scale: float | None = None, seed: int = 0) -> torch.Tensor:
    """K codes from U[−scale, scale]^m per seed; the seeds' default scale is 1/K ("[−1/n, 1/n]")."""
    check_int("n_seeds", n_seeds, 1)
    check_int("K", K, 1)
    check_int("m", m, 1)
    scale = 1.0 / K if scale is None else check_float("scale", scale, 0.0, strict_low=True)
    gen = torch.Generator().manual_seed(int(seed))
    return (2 * torch.rand(n_seeds, K, m, generator=gen) - 1) * scale


def _check_points(x: torch.Tensor, K: int) -> torch.Tensor:
    check_finite("x", x)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (seeds, N, m), got {tuple(x.shape)}")
    check_int("K", K, 1, x.shape[1])
    return x


def data_samples(x: torch.Tensor, K: int, seed: int = 0) -> torch.Tensor:
    """K distinct points of x (S, N, m) per seed, drawn without replacement: the common practical baseline."""
    _check_points(x, K)
    gen = torch.Generator().manual_seed(int(seed))
    idx = torch.rand(x.shape[0], x.shape[1], generator=gen).argsort(-1)[:, :K]
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1])).clone()


def kmeans_plus_plus(x: torch.Tensor, K: int, seed: int = 0) -> torch.Tensor:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007), batched over the leading seed axis.

    Each new center is the best of 2 + ⌊ln K⌋ candidates drawn ∝ D², as scikit-learn does.
    """
    _check_points(x, K)
    gen = torch.Generator().manual_seed(int(seed))
    S, N, m = x.shape
    rows = torch.arange(S)
    n_trials = 2 + int(math.log(K))
    first = torch.randint(N, (S,), generator=gen)
    centers = [x[rows, first]]
    d2 = sq_distances(x, centers[0].unsqueeze(1)).squeeze(-1)
    for _ in range(1, K):
        weights = d2.double().clamp_min(0)
        weights = torch.where(weights.sum(-1, keepdim=True) > 0, weights, torch.ones_like(weights))
        cand = torch.multinomial(weights, n_trials, replacement=True, generator=gen)  # (S, T)
        cand_x = x[rows.unsqueeze(-1), cand]  # (S, T, m)
        new_d2 = torch.minimum(d2.unsqueeze(1), sq_distances(x, cand_x).transpose(1, 2))  # (S, T, N)
        best = new_d2.sum(-1).argmin(-1)
        centers.append(cand_x[rows, best])
        d2 = new_d2[rows, best]
    return torch.stack(centers, 1)


def lloyd(x: torch.Tensor, codebook: torch.Tensor, iters: int = 50, tol: float = 1e-7) -> torch.Tensor:
    """Lloyd iterations from a starting codebook (S, K, m), each seed stopping on its own; an empty cell keeps its code.

    A seed stops after `iters` iterations or once its own mean error improved by at most `tol` (relative)
    in one iteration; its codebook is then frozen, so its result is the one it gets when run alone.
    """
    check_int("iters", iters, 0)
    S, N, m = x.shape
    K = codebook.shape[1]
    c = codebook.clone()
    prev = None
    active = torch.ones(S, dtype=torch.bool, device=x.device)
    idx = assign(x, c) if iters else None
    for _ in range(iters):
        sums = torch.zeros(S, K, m, dtype=x.dtype, device=x.device).scatter_add_(1, idx.unsqueeze(-1).expand(-1, -1, m), x)
        counts = torch.zeros(S, K, dtype=x.dtype, device=x.device).scatter_add_(1, idx, torch.ones_like(idx, dtype=x.dtype))
        update = (counts > 0) & active.unsqueeze(-1)
        c = torch.where(update.unsqueeze(-1), sums / counts.clamp_min(1).unsqueeze(-1), c)
        dist, idx = nearest(x, c)  # the error of the new codes and the next assignment, in one pass
        err = dist.mean(-1)
        if prev is not None:
            active &= prev - err > tol * prev
            if not active.any():
                break
        prev = err
    return c


def kmeans(x: torch.Tensor, K: int, iters: int = 50, seed: int = 0) -> torch.Tensor:
    """k-means (k-means++ seeding, then Lloyd) on x (S, N, m) per seed, returning (S, K, m); x (N, m) gives (K, m)."""
    if x.ndim == 2:
        return kmeans(x.unsqueeze(0), K, iters, seed)[0]
    return lloyd(x, kmeans_plus_plus(x, K, seed), iters)


def kmeans_restarts(x: torch.Tensor, K: int, restarts: int = 8, iters: int = 50, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`restarts` k-means runs per seed on x (S, N, m), batched: codebooks (R, S, K, m) and their errors on x (R, S).

    Restart r uses k-means++ seed `seed + r`, so restart 0 is :func:`kmeans` with `seed`.
    """
    _check_points(x, K)
    check_int("restarts", restarts, 1)
    S = x.shape[0]
    books = torch.cat([kmeans_plus_plus(x, K, seed + r) for r in range(restarts)])  # restart-major (R·S, K, m)
    books = lloyd(x.repeat(restarts, 1, 1), books, iters).view(restarts, S, K, -1)
    err = torch.stack([nearest(x, books[r])[0].mean(-1) for r in range(restarts)])
    return books, err


def kmeans_best_of(x: torch.Tensor, K: int, restarts: int = 8, iters: int = 50, seed: int = 0) -> torch.Tensor:
    """The best of `restarts` k-means runs per seed (lowest error on x): the best codebook we find, (S, K, m)."""
    books, err = kmeans_restarts(x, K, restarts, iters, seed)
    return books[err.argmin(0), torch.arange(x.shape[0])]


def pca(x: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-m principal directions of x (S, N, D) as encoder rows (S, m, D), and their variances (S, m).

    For x = A s + σε with Gaussian s this is the optimal linear encoder of rank m: it spans A's columns.
    """
    check_finite("x", x)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (seeds, N, D), got {tuple(x.shape)}")
    check_int("m", m, 1, x.shape[-1])
    xc = x.double() - x.double().mean(1, keepdim=True)
    cov = xc.transpose(1, 2) @ xc / x.shape[1]
    evals, evecs = torch.linalg.eigh(cov)
    top = evecs[..., -m:].flip(-1)
    return top.transpose(1, 2).float(), evals[..., -m:].flip(-1).float()


def rd_optimal(eigenvalues, K: int, n_seeds: int | None = None, seed: int = 0) -> torch.Tensor:
    """K codes per seed drawn from the R(D)-optimal reproduction N(0, diag(max(λ_i − θ, 0))) at R = log2 K bits.

    θ is the reverse water-filling level (vqlib.rd), so the codes follow the output of the Gaussian test
    channel that attains D(R): components with λ_i ≤ θ get no bits and no spread. The coordinates are those
    of the eigenvalues (the latent's eigenbasis). `eigenvalues` is (m,) for one spectrum shared by every
    seed, or (S, m) for one spectrum per seed; the result is (S, K, m).
    """
    check_int("K", K, 1)
    try:
        lam = torch.as_tensor(np.asarray(eigenvalues, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"eigenvalues must be numbers > 0, shape (m,) or (seeds, m), got {eigenvalues!r}") from None
    if lam.ndim not in (1, 2) or lam.shape[-1] == 0:
        raise ValueError(f"eigenvalues must have shape (m,) or (seeds, m), got {tuple(lam.shape)}")
    if lam.ndim == 1:
        n_seeds = 1 if n_seeds is None else check_int("n_seeds", n_seeds, 1)
        lam = lam.expand(n_seeds, -1)
    elif n_seeds is not None and check_int("n_seeds", n_seeds, 1) != lam.shape[0]:
        raise ValueError(f"n_seeds ({n_seeds}) must equal the number of spectra in eigenvalues ({lam.shape[0]})")
    rate = rd.bits(K)
    var = torch.stack([torch.from_numpy(rd.reverse_water_filling(row.numpy(), rate).reproduction_variances) for row in lam])
    gen = torch.Generator().manual_seed(int(seed))
    return (torch.randn(lam.shape[0], K, lam.shape[1], generator=gen, dtype=torch.float64) * var.sqrt().unsqueeze(1)).float()


def latent_eigenbasis(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-seed mean (S, m), covariance eigenvalues (S, m, descending) and eigenvectors (S, m, m, columns) of z.

    Eigenvalues are floored at 1e-12 of the largest, so a flat direction gets (numerically) no bits
    instead of failing the water-filling's positivity check.
    """
    check_finite("z", z)
    if z.ndim != 3 or z.shape[1] < 2:
        raise ValueError(f"z must have shape (seeds, N ≥ 2, m), got {tuple(z.shape)}")
    zd = z.detach().cpu().double()
    mean = zd.mean(1)
    zc = zd - mean.unsqueeze(1)
    evals, evecs = torch.linalg.eigh(zc.transpose(1, 2) @ zc / (z.shape[1] - 1))
    evals, evecs = evals.flip(-1), evecs.flip(-1)
    floor = 1e-12 * evals[:, :1].clamp_min(torch.finfo(torch.float64).tiny)
    return mean, evals.clamp_min(floor), evecs


def rd_optimal_from(z: torch.Tensor, K: int, seed: int = 0) -> torch.Tensor:
    """rd_optimal from encoded training vectors z (S, N, m): the latent's spectrum estimated per seed.

    The sample mean and covariance of z stand in for the Gaussian the theory assumes; codes are drawn
    in the sample eigenbasis with the water-filled variances, then rotated back and shifted by the mean.
    """
    check_int("K", K, 1)
    mean, evals, evecs = latent_eigenbasis(z)
    codes = rd_optimal(evals.numpy(), K, seed=seed).double()
    return (mean.unsqueeze(1) + codes @ evecs.transpose(1, 2)).float().to(z.device)


def point_density_from(z: torch.Tensor, K: int, seed: int = 0) -> torch.Tensor:
    """K codes per seed drawn i.i.d. from the high-resolution optimal code density g ∝ p^{k/(k+2)} of the fitted Gaussian.

    For p = N(μ, Σ) in k dimensions that density is N(μ, (k+2)/k · Σ): wider than the data, not narrower
    like the R(D) reproduction (vqlib.rd.random_code_distortion gives the distortion it predicts).
    """
    check_int("K", K, 1)
    mean, evals, evecs = latent_eigenbasis(z)
    k = z.shape[-1]
    gen = torch.Generator().manual_seed(int(seed))
    xi = torch.randn(z.shape[0], K, k, generator=gen, dtype=torch.float64) * ((k + 2) / k * evals).sqrt().unsqueeze(1)
    return (mean.unsqueeze(1) + xi @ evecs.transpose(1, 2)).float().to(z.device)


def transform_coding(z: torch.Tensor, K: int, seed: int = 0) -> torch.Tensor:
    """Transform code of exactly K codes per seed from z (S, N, m): KLT, integer level allocation, Lloyd–Max per axis.

    Per seed: the sample mean and eigenbasis of z (the KLT), levels n_i by vqlib.rd.allocate_levels on the
    sample eigenvalues (Π n_i ≤ K), the product of √λ_i-scaled Lloyd–Max levels, rotated back and shifted
    by the mean. When Π n_i < K (K not reachable as a product) the K − Π n_i leftover codes are distinct
    training vectors drawn at random with `seed` (as data_samples), which any later training absorbs.
    """
    _check_points(z, K)
    mean, evals, evecs = latent_eigenbasis(z)
    books = []
    for s in range(z.shape[0]):
        lam = evals[s].numpy()
        grid = torch.from_numpy(rd.product_codebook(lam, rd.allocate_levels(lam, K)))
        books.append(mean[s] + grid @ evecs[s].T)
    out = torch.stack(books).float().to(z.device)
    if out.shape[1] < K:
        out = torch.cat([out, data_samples(z, K - out.shape[1], seed)], 1)
    return out


def _uniform_from(z: torch.Tensor, K: int, seed: int = 0, scale: float | None = None) -> torch.Tensor:
    return uniform(z.shape[0], K, z.shape[-1], scale, seed).to(z.device)


#: Codebook initializers by name, each called as f(z_train (S, N, m), K, seed=..., **options) -> (S, K, m).
INITIALIZERS = {
    "uniform": _uniform_from,
    "kmeans": kmeans,
    "data_samples": data_samples,
    "rd_optimal": rd_optimal_from,
    "point_density": point_density_from,
    "transform_coding": transform_coding,
}


def codebook(name: str, z: torch.Tensor, K: int, seed: int = 0, **options) -> torch.Tensor:
    """Initialize a codebook by initializer name from encoded training vectors z (S, N, m)."""
    if name not in INITIALIZERS:
        raise ValueError(f"init must be one of {sorted(INITIALIZERS)}, got {name!r}")
    return INITIALIZERS[name](z, K, seed=seed, **options)

#: Names as the book prints them.
LABELS = {
    "uniform": "Uniform [−1/K, 1/K]",
    "kmeans": "k-means",
    "data_samples": "Data samples",
    "rd_optimal": "R(D)-sampled",
    "point_density": "Point-density-sampled",
    "transform_coding": "Transform coding",
}
