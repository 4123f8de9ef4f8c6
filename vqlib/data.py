"""Synthetic data: the linear Gaussian model x = A s + σ ε, batched over seeds."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vqlib.checks import check_float, check_int


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
    x_val: torch.Tensor | None = None  # (S, N_val, D) validation set (stop rules), drawn after the others

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
    n_val: int = 0,
) -> LinearGaussian:
    """Sample x = A s + σ ε with s ~ N(0, diag λ), ε ~ N(0, I_D), a fresh A for every seed.

    n_val > 0 adds a validation set, drawn from the same stream after the training and evaluation sets (which are
    therefore the same with or without it)."""
    check_int("n_seeds", n_seeds, 1)
    check_int("D", D, 1)
    check_int("n_train", n_train, 1)
    check_int("n_eval", n_eval, 1)
    check_int("n_val", n_val, 0)
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
    x_val = sample(n_val)[0] if n_val > 0 else None
    return LinearGaussian(x_train, x_eval, s_eval, A.float(), eigenvalues, float(sigma), x_val)


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


# --- Real data that ships with scikit-learn (book/realdata.md) -------------------------------------------


@dataclass
class RealImages:
    """Vectors cut from real images, split at random into training and held-out sets, one split per seed.

    Every vector is a small image (`shape` pixels, grey levels in [0, 1]) flattened row by row. `pool` holds
    every vector of the data set; idx_train / idx_eval (S, N) say which ones each seed trains and evaluates on
    (disjoint within a seed). For patches, `images` holds the greyscale photographs cropped to whole blocks,
    so a model's reconstruction can be shown as a picture (:func:`blocks_to_image`).
    """

    name: str
    x_train: torch.Tensor  # (S, N_train, D) in [0, 1]
    x_eval: torch.Tensor  # (S, N_eval, D) in [0, 1]
    idx_train: torch.Tensor  # (S, N_train) rows of pool
    idx_eval: torch.Tensor  # (S, N_eval) rows of pool
    pool: torch.Tensor  # (N_all, D) every vector of the data set
    shape: tuple[int, int]  # pixels of one vector as an image (rows, columns)
    images: torch.Tensor | None = None  # (n_images, H, W) greyscale photographs (patches only)

    @property
    def pixels(self) -> int:
        """Pixels per vector (D)."""
        return self.shape[0] * self.shape[1]


def _split(pool: torch.Tensor, n_seeds: int, n_train: int | None, n_eval: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh random partition of the pool's rows for every seed: n_eval held-out rows, n_train (default: the rest) training rows."""
    check_int("n_seeds", n_seeds, 1)
    N = pool.shape[0]
    check_int("n_eval", n_eval, 1, N - 1)
    n_train = N - n_eval if n_train is None else check_int("n_train", n_train, 1, N - n_eval)
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.stack([torch.randperm(N, generator=gen) for _ in range(n_seeds)])
    return perm[:, n_eval : n_eval + n_train], perm[:, :n_eval]


def _real(name: str, pool: torch.Tensor, shape: tuple[int, int], n_seeds: int, n_train: int | None, n_eval: int, seed: int,
          images: torch.Tensor | None = None) -> RealImages:
    idx_train, idx_eval = _split(pool, n_seeds, n_train, n_eval, seed)
    return RealImages(name, pool[idx_train], pool[idx_eval], idx_train, idx_eval, pool, shape, images)


def digits(n_seeds: int, n_train: int | None = None, n_eval: int = 500, seed: int = 0) -> RealImages:
    """scikit-learn's 1,797 handwritten digits (8×8 pixels, grey levels 0–16 scaled to [0, 1]): 64-D vectors.

    Per seed, a random `n_eval` digits are held out and the rest (or `n_train` of them) train; no download.
    """
    from sklearn.datasets import load_digits

    pool = torch.from_numpy(load_digits().data).float() / 16.0
    return _real("digits", pool, (8, 8), n_seeds, n_train, n_eval, seed)


def greyscale(rgb: torch.Tensor) -> torch.Tensor:
    """Luma of 8-bit RGB pixels (..., 3) in [0, 1]: 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601)."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
    return ((rgb.double() @ weights) / 255.0).float()


def image_to_blocks(image: torch.Tensor, block: int) -> torch.Tensor:
    """Non-overlapping block×block tiles of an (H, W) image, row by row: (⌊H/b⌋·⌊W/b⌋, b²); edge rows/columns dropped."""
    check_int("block", block, 1)
    H, W = (image.shape[0] // block) * block, (image.shape[1] // block) * block
    tiles = image[:H, :W].reshape(H // block, block, W // block, block).permute(0, 2, 1, 3)
    return tiles.reshape(-1, block * block)


def blocks_to_image(blocks: torch.Tensor, H: int, W: int, block: int) -> torch.Tensor:
    """Inverse of :func:`image_to_blocks` for an image of H×W pixels (both multiples of block)."""
    tiles = blocks.reshape(H // block, W // block, block, block).permute(0, 2, 1, 3)
    return tiles.reshape(H, W)


def patches(n_seeds: int, block: int = 4, n_train: int | None = None, n_eval: int = 4096, seed: int = 0) -> RealImages:
    """Non-overlapping block×block tiles of scikit-learn's two sample photographs (427×640, RGB → greyscale in [0, 1]).

    With block = 4: 2 × 106 × 160 = 33,920 16-D vectors, the classic image-coding setting of VQ (Linde, Buzo and
    Gray 1980). Per seed, a random `n_eval` tiles are held out and the rest (or `n_train` of them) train.
    """
    from sklearn.datasets import load_sample_images

    check_int("block", block, 1, 64)
    photos = [greyscale(torch.tensor(img)) for img in load_sample_images().images]
    H = min(p.shape[0] for p in photos) // block * block
    W = min(p.shape[1] for p in photos) // block * block
    images = torch.stack([p[:H, :W] for p in photos])
    pool = torch.cat([image_to_blocks(img, block) for img in images])
    return _real("patches", pool, (block, block), n_seeds, n_train, n_eval, seed, images)
