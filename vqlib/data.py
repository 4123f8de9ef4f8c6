"""Synthetic data: the linear Gaussian model x = A s + σ ε, batched over seeds."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vqlib.checks import check_int, check_float


def spectrum(m: int, lambda_1: float = 4.0, decay: float = 0.5) -> torch.Tensor:
    """Latent variances λ_i = λ₁ · decay^(i−1), i = 1..m (a geometric spectrum, largest first)."""
    check_int("m", m, 1)
    check_float("lambda_1", lambda_1, 0.0, strict_low=True)
    check_float("decay", decay, 0.0, 1.0, strict_low=True)
    return lambda_1 * decay ** torch.arange(m, dtype=torch.float64)


@dataclass
class LinearGaussian:
    """One draw of the testbed per seed: training and evaluation sets and the true subspace."""

    x_train: torch.Tensor  # (S, N_train, D)
    x_eval: torch.Tensor  # (S, N_eval, D)
    s_eval: torch.Tensor  # (S, N_eval, m) latent of the evaluation set
    A: torch.Tensor  # (S, D, m) orthonormal columns: the true subspace
    eigenvalues: torch.Tensor  # (m,) latent variances λ_i
    sigma: float

    @property
    def covariance_eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of Cov(x): λ_i + σ² on the subspace, σ² on its D − m complement (descending)."""
        D, m = self.A.shape[-2:]
        inside = self.eigenvalues + self.sigma**2
        outside = torch.full((D - m,), self.sigma**2, dtype=torch.float64)
        return torch.cat([inside, outside])


def normal(*shape: int, generator: torch.Generator) -> torch.Tensor:
    """Standard normal draws (float64), the same on every x86-64 machine.

    torch's float32 sampler takes a vectorized path whose last bits depend on the CPU's instruction set
    (AVX-512 vs older: measured by `python -m vqlib.divergence`); its float64 sampler does not. Draw in
    float64 and round once at the end, so every machine starts from the same data.
    """
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def random_orthonormal(n_seeds: int, D: int, m: int, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A (S, D, m) tensor of matrices with orthonormal columns (Haar-distributed via QR, computed in float64)."""
    Q, R = torch.linalg.qr(normal(n_seeds, D, m, generator=generator))
    return (Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2)).to(dtype)


def linear_gaussian(
    n_seeds: int,
    D: int,
    eigenvalues: torch.Tensor,
    sigma: float,
    n_train: int,
    n_eval: int,
    seed: int = 0,
) -> LinearGaussian:
    """Sample x = A s + σ ε with s ~ N(0, diag λ), ε ~ N(0, I_D), a fresh A for every seed."""
    check_int("n_seeds", n_seeds, 1)
    check_int("D", D, 1)
    check_int("n_train", n_train, 1)
    check_int("n_eval", n_eval, 1)
    check_float("sigma", sigma, 0.0)
    eigenvalues = torch.as_tensor(eigenvalues, dtype=torch.float64)
    m = eigenvalues.numel()
    if m > D:
        raise ValueError(f"m (the latent dimension, {m}) must be at most D ({D})")
    if not torch.all(eigenvalues > 0):
        raise ValueError("eigenvalues must all be > 0")
    gen = torch.Generator().manual_seed(int(seed))
    A = random_orthonormal(n_seeds, D, m, gen, torch.float64)
    std = eigenvalues.sqrt()

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        # float64 throughout, rounded to float32 once: the data are the same bits on every machine
        s = normal(n_seeds, n, m, generator=gen) * std
        x = s @ A.transpose(-1, -2) + sigma * normal(n_seeds, n, D, generator=gen)
        return x.float(), s.float()

    x_train, _ = sample(n_train)
    x_eval, s_eval = sample(n_eval)
    return LinearGaussian(x_train, x_eval, s_eval, A.float(), eigenvalues, float(sigma))


@dataclass
class GaussianMixture:
    """A mixture of Gaussian clusters in an m-dimensional subspace, one draw per seed, with cluster labels."""

    x_train: torch.Tensor  # (S, N_train, D)
    x_eval: torch.Tensor  # (S, N_eval, D)
    labels_train: torch.Tensor  # (S, N_train) cluster of each training vector
    labels_eval: torch.Tensor  # (S, N_eval) cluster of each evaluation vector
    A: torch.Tensor  # (S, D, m) orthonormal columns: the subspace holding the clusters
    centers: torch.Tensor  # (S, C, m) cluster centres in latent coordinates
    sigma: float


def gaussian_mixture(
    n_seeds: int,
    D: int,
    m: int,
    n_clusters: int,
    center_scale: float,
    cluster_std: float,
    sigma: float,
    n_train: int,
    n_eval: int,
    seed: int = 0,
) -> GaussianMixture:
    """x = A (μ_c + τ s) + σ ε: cluster c uniform, centres μ_c ~ N(0, center_scale² I_m), s ~ N(0, I_m), ε ~ N(0, I_D)."""
    for name, v in (("n_seeds", n_seeds), ("D", D), ("m", m), ("n_clusters", n_clusters), ("n_train", n_train), ("n_eval", n_eval)):
        check_int(name, v, 1)
    check_float("center_scale", center_scale, 0.0)
    check_float("cluster_std", cluster_std, 0.0, strict_low=True)
    check_float("sigma", sigma, 0.0)
    if m > D:
        raise ValueError(f"m (the latent dimension, {m}) must be at most D ({D})")
    gen = torch.Generator().manual_seed(int(seed))
    A = random_orthonormal(n_seeds, D, m, gen, torch.float64)
    centers = center_scale * normal(n_seeds, n_clusters, m, generator=gen)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(n_clusters, (n_seeds, n), generator=gen)
        s = torch.gather(centers, 1, labels.unsqueeze(-1).expand(-1, -1, m)) + cluster_std * normal(n_seeds, n, m, generator=gen)
        x = s @ A.transpose(-1, -2) + sigma * normal(n_seeds, n, D, generator=gen)
        return x.float(), labels  # float64 until here, as in linear_gaussian

    x_train, labels_train = sample(n_train)
    x_eval, labels_eval = sample(n_eval)
    return GaussianMixture(x_train, x_eval, labels_train, labels_eval, A.float(), centers.float(), float(sigma))
