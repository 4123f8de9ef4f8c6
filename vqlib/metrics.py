"""Codebook and reconstruction metrics, one convention for the whole book (all per seed, shape (S,)).

Counts are taken on a fixed held-out evaluation set whose size every chapter states: usage and dead
codes are per-set figures, not per-batch ones.
"""

from __future__ import annotations

import math

import torch


def code_counts(idx: torch.Tensor, K: int) -> torch.Tensor:
    """How many evaluation vectors each code receives: idx (S, N) -> counts (S, K)."""
    counts = torch.zeros(idx.shape[0], K, dtype=torch.float64, device=idx.device)
    return counts.scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float64))


def dead_codes(counts: torch.Tensor) -> torch.Tensor:
    """Codes assigned no evaluation vector: K − used."""
    return (counts == 0).sum(-1).double()


def usage(counts: torch.Tensor) -> torch.Tensor:
    """Fraction of codes assigned at least once on the evaluation set."""
    return (counts > 0).double().mean(-1)


def entropy_bits(counts: torch.Tensor) -> torch.Tensor:
    """Entropy of the code histogram in bits (at most log2 K)."""
    p = counts / counts.sum(-1, keepdim=True)
    return -(p * torch.log2(torch.where(p > 0, p, torch.ones_like(p)))).sum(-1)


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp of the code entropy (in nats) = 2^(entropy in bits): the effective number of codes."""
    return 2.0 ** entropy_bits(counts)


def recon_mse(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Reconstruction MSE per coordinate, E‖x − x̂‖² / D (torch's mse_loss convention)."""
    return ((x - x_hat) ** 2).double().mean((-1, -2))


def sq_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Squared error per vector, E‖x − x̂‖²: the quantity D(R) bounds."""
    return ((x - x_hat) ** 2).double().sum(-1).mean(-1)


def subspace_distortion(x: torch.Tensor, x_hat: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """In-subspace distortion per vector, E‖Aᵀ(x − x̂)‖², A (S, D, m) the true subspace's basis."""
    return ((x - x_hat) @ A).double().pow(2).sum(-1).mean(-1)


def principal_angles_deg(U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Principal angles (degrees) between the column spans of U and V, each (S, D, m)."""
    qu = torch.linalg.qr(U.double())[0]
    qv = torch.linalg.qr(V.double())[0]
    cos = torch.linalg.svdvals(qu.transpose(-1, -2) @ qv).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cos))


def signal_leakage(encoder: torch.Tensor, A: torch.Tensor, eigenvalues: torch.Tensor) -> torch.Tensor:
    """E‖(I − P) A s‖², s ~ N(0, diag λ): signal energy outside the row span P of an encoder (S, m', D); A (S, D, m)."""
    basis = torch.linalg.qr(encoder.double().transpose(-1, -2))[0]  # (S, D, m') orthonormal span of the rows
    resid = A.double() - basis @ (basis.transpose(-1, -2) @ A.double())
    return (resid.pow(2).sum(-2) * torch.as_tensor(eigenvalues, dtype=torch.float64, device=A.device)).sum(-1)


def cluster_purity(idx: torch.Tensor, labels: torch.Tensor, K: int, n_clusters: int) -> torch.Tensor:
    """Share of each code's points from its majority cluster, weighted by code counts: idx, labels (S, N)."""
    joint = torch.zeros(idx.shape[0], K * n_clusters, dtype=torch.float64, device=idx.device)
    joint.scatter_add_(1, idx * n_clusters + labels, torch.ones_like(idx, dtype=torch.float64))
    joint = joint.view(idx.shape[0], K, n_clusters)
    return joint.max(-1).values.sum(-1) / idx.shape[1]


def max_entropy_bits(K: int) -> float:
    """log2 K, the entropy of a perfectly balanced codebook."""
    return math.log2(K)


def dead_codes_per_batch(idx: torch.Tensor, K: int, batch_size: int) -> torch.Tensor:
    """Codes unused within one batch of `batch_size` evaluation vectors, averaged over the set's consecutive batches.

    A per-batch count, as some code reports it: it is far above the per-set count, but never above K either.
    """
    from vqlib.checks import check_int

    S, N = idx.shape
    check_int("batch_size", batch_size, 1, N)
    n = N // batch_size
    counts = code_counts(idx[:, : n * batch_size].reshape(S * n, batch_size), K)
    return dead_codes(counts).view(S, n).mean(-1)


def noise_floor(D: int, m: int, sigma: float) -> float:
    """(D − m)σ²: the squared error per vector no m-dimensional linear code can remove (the noise off the signal subspace).

    Every method pays it alike, so differences are read on the excess E‖x − x̂‖² − (D − m)σ².
    """
    from vqlib.checks import check_float, check_int

    check_int("D", D, 1)
    check_int("m", m, 1, D)
    check_float("sigma", sigma, 0.0)
    return (D - m) * sigma**2


def cluster_agreement(idx: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """NMI and ARI between code assignments and true cluster labels per row (scikit-learn): idx, labels (S, N) -> (S,), (S,).

    Unlike purity, which rises mechanically with the number of live codes (one code per point has purity 1),
    both are corrected for the number of codes: NMI normalises the mutual information by the entropies,
    ARI subtracts the agreement expected by chance.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    a, b = idx.cpu().numpy(), labels.cpu().numpy()
    nmi = [normalized_mutual_info_score(b[s], a[s]) for s in range(a.shape[0])]
    ari = [adjusted_rand_score(b[s], a[s]) for s in range(a.shape[0])]
    return torch.tensor(nmi, dtype=torch.float64), torch.tensor(ari, dtype=torch.float64)


def psnr_db(mse: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio 10 log10(peak² / MSE) in dB, MSE per pixel (images in [0, peak])."""
    mse = torch.as_tensor(mse, dtype=torch.float64)
    return 10.0 * torch.log10(peak**2 / mse)


def bits_per_pixel(K: int, pixels: int) -> float:
    """Rate of a K-code quantizer of vectors of `pixels` pixels: log2 K / pixels (fixed-rate indices)."""
    from vqlib.checks import check_int

    return math.log2(check_int("K", K, 1)) / check_int("pixels", pixels, 1)


def usage_per_batch(idx: torch.Tensor, K: int, batch_size: int = 256) -> torch.Tensor:
    """Share of codes used within each batch of `batch_size` evaluation vectors, averaged over the set's batches.

    The rotation-trick paper's "codebook usage" (batches of 256 validation inputs); per-set usage is :func:`usage`.
    """
    return 1.0 - dead_codes_per_batch(idx, K, batch_size) / K
