"""The published methods as their authors ship them: DiVeQ, NSVQ (with their codebook replacement), SimVQ and FSQ.

Each function follows the authors' released code (read, not copied; the tests in tests/test_published.py write
the authors' formulas independently and compare forward values and gradients):

- **DiVeQ** (Vali, Bäckström and Solin 2025; package ``diveq``, class ``DIVEQ``): q̃ = z + ‖q − z‖ · sg(d/‖d‖),
  d = q − z + v, v ~ N(0, σ²I) with σ = 1e-3 (the package's ``noise_var`` is passed to ``Normal`` as its
  *standard deviation*). No auxiliary loss; the codebook learns through ‖q − z‖. Codebook start uniform on
  [0, 1/K); every 100 steps, codes used in fewer than 1 % of the steps' batches are replaced by used codes drawn
  with probability ∝ their use, plus 1e-9 · N(0, I).
- **NSVQ** (Vali and Bäckström 2022; ``NSVQ.py``): q̃ = z + (‖z − q‖/‖v‖ + 1e-12) v, v ~ N(0, I); no auxiliary
  loss; codebook start N(0, I); every `every` steps codes used in fewer than 1 % of the batches are replaced by
  used codes (each used code repeated, shuffled) plus 1e-12 · N(0, I).
- **SimVQ** (Zhu et al. 2025; youngsheen/SimVQ ``SimVQ``): a frozen codebook C ~ N(0, 1/m) mapped by a linear
  layer *with bias*, codes C Wᵀ + b (W, b at torch's ``nn.Linear`` start, uniform ±1/√m); STE; the "legacy" loss
  the repository uses by default, ‖sg(q) − z‖² + β‖q − sg(z)‖² (β = 0.25: weight 1 on the encoder term).
- **FSQ** (Mentzer et al. 2023, the paper's listing): bound each of d channels to L_i levels by
  tanh(z + tan(o/h)) h − o, h = (L_i − 1)(1 − 1e-3)/2, o = ½ for even L_i, round with a straight-through
  gradient, divide by ⌊L_i/2⌋. No codebook, no auxiliary loss; ∏L_i codes.

Two details of the authors' code that matter and are kept: their usage counters are ``usage[idx] += 1``, which
with repeated indices adds 1 once per batch, so "used less than 1 %" of 100 steps means "picked in no batch of the
window"; and DiVeQ's replacement samples ∝ that per-batch count. Everything works on a leading slice axis L.
"""

from __future__ import annotations

import math

import torch

from vqlib.checks import check_float, check_int
from vqlib.estimators import _check_pair

#: DiVeQ's noise standard deviation (the package's default ``noise_var = 0.001``, used as the std of N(0, ·)).
DIVEQ_SIGMA = 1e-3
#: The authors' replacement settings: DiVeQ (interval, threshold, perturbation) and NSVQ (threshold, perturbation).
DIVEQ_REPLACE = {"every": 100, "threshold": 0.01, "eps": 1e-9}
NSVQ_REPLACE = {"every": 100, "threshold": 0.01, "eps": 1e-12}
#: NSVQ's guard added to ‖z − q‖/‖v‖ (``self.eps``).
NSVQ_EPS = 1e-12
#: SimVQ's commitment weight (the repository's β) and FSQ's bound margin (the paper's eps).
SIMVQ_BETA = 0.25
FSQ_EPS = 1e-3
#: FSQ levels the paper recommends per target of 2^b codes (Mentzer et al. 2023, Table 1), for reference.
FSQ_PAPER_LEVELS = {8: (8, 6, 5), 10: (8, 5, 5, 5), 12: (7, 5, 5, 5, 5), 14: (8, 8, 8, 6, 5), 16: (8, 8, 8, 5, 5, 5)}


def _noise(shape: torch.Size, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """N(0, I) drawn in float64 on the CPU (the same on every machine), cast to like's dtype and device."""
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(device=like.device, dtype=like.dtype)


def diveq(z: torch.Tensor, q: torch.Tensor, generator: torch.Generator | None = None, sigma: float = DIVEQ_SIGMA) -> torch.Tensor:
    """DiVeQ as shipped: z + ‖q − z‖ · sg(d/‖d‖), d = (q − z) + σ v, v ~ N(0, I).

    Gradients (v, d held constant): z receives g − e (d̂·g) and q receives e (d̂·g), e = (q − z)/‖q − z‖, so the
    codebook learns through the error's length. At q = z, ‖·‖'s gradient is torch's 0 (as in the authors' code).
    """
    _check_pair(z, q)
    check_float("sigma", sigma, 0.0)
    d = (q - z).detach() + sigma * _noise(z.shape, generator, z)
    direction = d / torch.linalg.vector_norm(d, dim=-1, keepdim=True).clamp_min(1e-12)
    return z + torch.linalg.vector_norm(q - z, dim=-1, keepdim=True) * direction


def nsvq(z: torch.Tensor, q: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """NSVQ as shipped: z + (‖z − q‖/‖v‖ + 1e-12) v, v ~ N(0, I); gradients to z and q through ‖z − q‖."""
    _check_pair(z, q)
    v = _noise(z.shape, generator, z)
    scale = torch.linalg.vector_norm(z - q, dim=-1, keepdim=True) / torch.linalg.vector_norm(v, dim=-1, keepdim=True) + NSVQ_EPS
    return z + scale * v


class Seeded:
    """A noisy estimator (:func:`diveq` or :func:`nsvq`) with its own seeded noise stream, so a run repeats bit for bit."""

    def __init__(self, fn, seed: int = 0, **kw) -> None:
        self.fn, self.kw = fn, kw
        self.generator = torch.Generator().manual_seed(int(seed))

    def __call__(self, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return self.fn(z, q, self.generator, **self.kw)


def diveq_start(n: int, K: int, m: int, seed: int = 0) -> torch.Tensor:
    """DiVeQ's codebook start (``uniform_init=True``): uniform on [0, 1/K), (n, K, m)."""
    gen = torch.Generator().manual_seed(int(seed))
    return (torch.rand(n, check_int("K", K, 1), check_int("m", m, 1), generator=gen, dtype=torch.float64) / K).float()


def nsvq_start(n: int, K: int, m: int, seed: int = 0) -> torch.Tensor:
    """NSVQ's codebook start (``initialization='normal'``): N(0, I), (n, K, m)."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, check_int("K", K, 1), check_int("m", m, 1), generator=gen, dtype=torch.float64).float()


class UsageReplacement:
    """The authors' codebook replacement, batched over L slices (only `active` ones are touched).

    Call :meth:`observe` with each step's assignments idx (L, N) and :meth:`step` after the step. Every `every`
    steps a code picked in fewer than threshold · every batches is replaced by a used code plus eps · N(0, I):
    rule "diveq" draws the used code with probability ∝ its count; rule "nsvq" repeats the used codes
    ⌊n_unused/n_used⌋ + 1 times when they are fewer, shuffles, and takes them in order. `stop_after`: no
    replacement after that step (NSVQ's example stops 2 intervals before the end). Adam moments are left alone,
    as in the authors' code. Counts restart after every check.
    """

    def __init__(self, L: int, K: int, rule: str = "diveq", every: int = 100, threshold: float = 0.01, eps: float = 1e-9,
                 active: torch.Tensor | None = None, seed: int = 0, stop_after: int | None = None) -> None:
        if rule not in ("diveq", "nsvq"):
            raise ValueError(f"rule must be one of ['diveq', 'nsvq'], got {rule!r}")
        self.rule, self.every = rule, check_int("replace_every", every, 1)
        self.threshold, self.eps = check_float("replace_threshold", threshold, 0.0, 1.0), check_float("eps", eps, 0.0)
        self.active = torch.ones(check_int("L", L, 1), dtype=torch.bool) if active is None else active.bool()
        self.counts = torch.zeros(L, check_int("K", K, 1), dtype=torch.long)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.stop_after = stop_after
        self.replaced = torch.zeros(L, dtype=torch.long)

    @torch.no_grad()
    def observe(self, idx: torch.Tensor) -> None:
        """Count, per slice, the codes picked at least once in this batch (the authors' ``usage[idx] += 1``)."""
        used = torch.zeros_like(self.counts, dtype=torch.bool).scatter_(1, idx.reshape(idx.shape[0], -1).cpu(), True)
        self.counts += used.long()

    @torch.no_grad()
    def step(self, codebook: torch.Tensor, step: int) -> torch.Tensor:
        """After step `step`: replace stale codes of the active slices in place; returns the mask (L, K) replaced."""
        L, K, m = codebook.shape
        mask = torch.zeros(L, K, dtype=torch.bool)
        if step % self.every or (self.stop_after is not None and step > self.stop_after):
            return mask
        ratio = self.counts.double() / self.every
        for slice_ in torch.nonzero(self.active).view(-1).tolist():
            unused = torch.nonzero(ratio[slice_] < self.threshold).view(-1)
            used = torch.nonzero(ratio[slice_] >= self.threshold).view(-1)
            if len(unused) == 0 or len(used) == 0:
                continue
            if self.rule == "diveq":
                weights = self.counts[slice_, used].double()
                pick = used[torch.multinomial(weights / weights.sum(), len(unused), replacement=True, generator=self.generator)]
            else:
                pool = used.repeat(len(unused) // len(used) + 1) if len(used) < len(unused) else used
                pick = pool[torch.randperm(len(pool), generator=self.generator)] if len(used) < len(unused) else pool
                pick = pick[: len(unused)]
            noise = torch.randn(len(unused), m, generator=self.generator, dtype=torch.float64)
            rows = codebook[slice_].detach()
            new = rows[pick.to(codebook.device)] + (self.eps * noise).to(codebook.device, codebook.dtype)
            codebook.data[slice_, unused.to(codebook.device)] = new
            mask[slice_, unused] = True
        self.replaced += mask.sum(-1)
        self.counts.zero_()
        return mask


def simvq_start(n: int, K: int, m: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SimVQ's start: frozen C ~ N(0, 1/m) (n, K, m); W (n, m, m) and b (n, 1, m) uniform ±1/√m (``nn.Linear``'s start)."""
    check_int("K", K, 1)
    check_int("m", m, 1)
    gen = torch.Generator().manual_seed(int(seed))
    C = torch.randn(n, K, m, generator=gen, dtype=torch.float64) / math.sqrt(m)
    bound = 1.0 / math.sqrt(m)
    W = (2 * torch.rand(n, m, m, generator=gen, dtype=torch.float64) - 1) * bound
    b = (2 * torch.rand(n, 1, m, generator=gen, dtype=torch.float64) - 1) * bound
    return C.float(), W.float(), b.float()


def simvq_codebook(C: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SimVQ's codes: the linear layer applied to every frozen code, C Wᵀ + b (``embedding_proj(embedding.weight)``)."""
    return C @ W.transpose(-1, -2) + b


def simvq_loss(z: torch.Tensor, q: torch.Tensor, beta: float = SIMVQ_BETA) -> torch.Tensor:
    """SimVQ's legacy VQ loss per leading index: E‖sg(q) − z‖² + β E‖q − sg(z)‖² (sum over the vector, mean over the batch)."""
    return ((q.detach() - z) ** 2).sum(-1).mean(-1) + beta * ((q - z.detach()) ** 2).sum(-1).mean(-1)


def fsq_levels(K: int) -> tuple[int, ...]:
    """Levels with ∏L_i = K exactly for K a power of two ≥ 4: fours, and a two when log2 K is odd (64 → (4, 4, 4))."""
    check_int("K", K, 4)
    b = int(round(math.log2(K)))
    if 2**b != K:
        raise ValueError(f"K must be a power of two for FSQ's levels to match it, got {K}")
    return (4,) * (b // 2) + ((2,) if b % 2 else ())


def _levels(levels, like: torch.Tensor) -> torch.Tensor:
    if not levels or any(isinstance(v, bool) or not isinstance(v, int) or v < 2 for v in levels):
        raise ValueError(f"levels must be a non-empty list of integers ≥ 2, got {levels!r}")
    return torch.tensor(levels, dtype=like.dtype, device=like.device)


def fsq_bound(z: torch.Tensor, levels, eps: float = FSQ_EPS) -> torch.Tensor:
    """FSQ's bound: tanh(z + tan(o/h)) h − o per channel (last axis), h = (L − 1)(1 − eps)/2, o = ½ for even L."""
    L = _levels(levels, z)
    if z.shape[-1] != len(L):
        raise ValueError(f"z must have one channel per level ({len(L)}), got {z.shape[-1]}")
    half = (L - 1) * (1 - eps) / 2
    offset = torch.where(L.remainder(2) == 1, torch.zeros_like(L), torch.full_like(L, 0.5))
    return torch.tanh(z + torch.tan(offset / half)) * half - offset


def fsq(z: torch.Tensor, levels, eps: float = FSQ_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """FSQ: (ẑ = round_ste(bound(z)) / ⌊L/2⌋, the code index Σ_i (r_i + ⌊L_i/2⌋) ∏_{j<i} L_j)."""
    bounded = fsq_bound(z, levels, eps)
    rounded = torch.round(bounded)
    L = _levels(levels, z)
    half_width = torch.div(L, 2, rounding_mode="floor")
    basis = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.long), torch.tensor(levels[:-1], dtype=torch.long)]), 0)
    idx = ((rounded.detach() + half_width).long() * basis.to(z.device)).sum(-1)
    return (bounded + (rounded - bounded).detach()) / half_width, idx


def fsq_codebook(levels) -> torch.Tensor:
    """FSQ's implicit codebook (∏L_i, d): code k's normalized value, so index k decodes to row k."""
    K = math.prod(levels)
    L = torch.tensor(levels, dtype=torch.long)
    basis = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.long), L[:-1]]), 0)
    digits = (torch.arange(K).unsqueeze(-1) // basis) % L
    half_width = L // 2
    return ((digits - half_width).double() / half_width).float()
