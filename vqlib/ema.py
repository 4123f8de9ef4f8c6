"""EMA codebook updates (VQ-VAE appendix A.1; Sonnet's VectorQuantizerEMA): codes follow running cluster means.

The codebook is then no gradient parameter: after each step every code becomes the exponential moving
average of the encoder outputs assigned to it, with Laplace smoothing of the counts so an unused code is
not divided by zero. Batched over a leading seed/slice axis: codebook (S, K, m), z (S, B, m), idx (S, B).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vqlib.checks import check_float


@dataclass
class EMAState:
    """Running counts N (S, K) and running sums M (S, K, m); the codebook is M / Ñ (Laplace-smoothed N)."""

    counts: torch.Tensor
    sums: torch.Tensor


def ema_init(codebook: torch.Tensor) -> EMAState:
    """Start with a count of one per code and sums equal to the codes, so the first codebook is the given one.

    (vector-quantize-pytorch starts the same way; Sonnet starts counts at zero with debiasing.)
    """
    S, K, _ = codebook.shape
    return EMAState(torch.ones(S, K, dtype=torch.float64, device=codebook.device), codebook.detach().double().clone())


@torch.no_grad()
def ema_update(state: EMAState, z: torch.Tensor, idx: torch.Tensor, decay: float = 0.99, eps: float = 1e-5) -> torch.Tensor:
    """One EMA step from a minibatch: N ← γN + (1−γ)n, M ← γM + (1−γ)Σz, code = M / Ñ; returns the new codebook (float32).

    Ñ_k = (N_k + ε) / (ΣN + Kε) · ΣN (Laplace smoothing). Accumulated in float64.
    """
    check_float("decay", decay, 0.0, 1.0)
    check_float("eps", eps, 0.0, strict_low=True)
    S, K = state.counts.shape
    onehot = torch.zeros(S, idx.shape[-1], K, dtype=torch.float64, device=z.device).scatter_(-1, idx.unsqueeze(-1), 1.0)
    n = onehot.sum(-2)
    s = onehot.transpose(-1, -2) @ z.detach().double()
    state.counts.mul_(decay).add_((1 - decay) * n)
    state.sums.mul_(decay).add_((1 - decay) * s)
    total = state.counts.sum(-1, keepdim=True)
    smoothed = (state.counts + eps) / (total + K * eps) * total
    return (state.sums / smoothed.unsqueeze(-1)).float()
