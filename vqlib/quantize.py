"""Nearest-codeword assignment and the VQ-VAE codebook and commitment losses.

Shapes: z is (..., B, m) and the codebook (..., K, m) with the same leading (seed) dimensions,
or an unbatched (K, m) codebook shared by every leading index.
"""

from __future__ import annotations

import torch


def sq_distances(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Squared distances ‖z − c‖² = ‖z‖² − 2 z·c + ‖c‖² through one matmul, shape (..., B, K)."""
    if z.shape[-1] != codebook.shape[-1]:
        raise ValueError(f"z has vectors of size {z.shape[-1]} but the codebook's codes have size {codebook.shape[-1]}")
    cross = z @ codebook.transpose(-1, -2)
    z_sq = (z * z).sum(-1, keepdim=True)
    c_sq = (codebook * codebook).sum(-1).unsqueeze(-2)
    return (z_sq - 2 * cross + c_sq).clamp_min(0)


def nearest(z: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distance to the nearest codeword and its index, each (..., B), in one pass over (..., B, K).

    Minimizes ‖c‖² − 2 z·c and adds ‖z‖² back to the minimum only: ‖z‖² is the same for every code
    of a row, so the argmin is that of :func:`sq_distances` at a fraction of its passes over memory.
    """
    if z.shape[-1] != codebook.shape[-1]:
        raise ValueError(f"z has vectors of size {z.shape[-1]} but the codebook's codes have size {codebook.shape[-1]}")
    scores = z @ (-2 * codebook).transpose(-1, -2)
    scores += (codebook * codebook).sum(-1).unsqueeze(-2)
    values, indices = first_min(scores)
    return (values + (z * z).sum(-1)).clamp_min(0), indices


#: Up to this many scores, :func:`first_min` finds the index by vectorized passes (several times faster than
#: torch.min's index reduction over a short last axis while the scores stay in cache); beyond it, torch.min.
FIRST_MIN_ELEMENTS = 1 << 23


def first_min(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.min(scores, -1) (values, index of the first minimum) bit for bit, faster on CPU for cached sizes.

    The minimum by amin; the first index where scores − min is exactly 0 (exact for finite floats) as
    K − max over k of (K − k)·[scores_k = min]. Rows with a NaN or infinite minimum take torch.min.
    """
    if scores.numel() > FIRST_MIN_ELEMENTS or scores.shape[-1] < 2:
        return scores.min(-1)
    K = scores.shape[-1]
    values = scores.amin(-1, keepdim=True)
    if not bool(torch.isfinite(values).all()):
        return scores.min(-1)
    weights = torch.arange(K, 0, -1, dtype=scores.dtype, device=scores.device)
    hit = (scores - values).sign_()  # 0 at the minima, 1 elsewhere
    indices = K - torch.addcmul(weights, hit, weights, value=-1).amax(-1).long()
    return values.squeeze(-1), indices


def assign(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codeword for every vector of z, shape (..., B)."""
    return nearest(z, codebook)[1]


def lookup(codebook: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Codewords for indices idx (..., B): a differentiable gather, shape (..., B, m)."""
    if codebook.ndim == 2:
        return codebook[idx]
    expanded = idx.unsqueeze(-1).expand(*idx.shape, codebook.shape[-1])
    return torch.gather(codebook, -2, expanded)


def quantize(z: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest codeword q (differentiable in the codebook) and its index."""
    idx = assign(z.detach(), codebook.detach())
    return lookup(codebook, idx), idx


def codebook_loss(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """E‖sg(z) − q‖² (sum over the vector, mean over the batch), per leading index: moves codes to data."""
    return ((z.detach() - q) ** 2).sum(-1).mean(-1)


def commitment_loss(z: torch.Tensor, q: torch.Tensor, beta: float) -> torch.Tensor:
    """β E‖z − sg(q)‖² (VQ-VAE convention, β on the encoder term), per leading index."""
    return beta * ((z - q.detach()) ** 2).sum(-1).mean(-1)
