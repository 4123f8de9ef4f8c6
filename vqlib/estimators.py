"""Gradient estimators for the nearest-codeword map z -> q, which has zero gradient almost everywhere.

Every estimator returns a tensor equal to ``q`` in value, sends gradient to ``z`` only (the codebook
learns through the codebook loss), and works on any leading batch dimensions (vectors on the last axis).
The exception is NSVQ (:data:`TRAINING_ONLY`): a noisy training-time substitute, evaluated with hard q.
"""

from __future__ import annotations

from typing import Callable

import torch

Estimator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Guard below which a norm counts as zero (the seeds' estimator adds it to ‖q − z‖, as in their code).
EPS = 1e-8


def _check_pair(z: torch.Tensor, q: torch.Tensor) -> None:
    """Fail early with a clear message when z and q cannot be paired."""
    if not isinstance(z, torch.Tensor) or not isinstance(q, torch.Tensor):
        raise TypeError(f"z and q must be torch tensors, got {type(z).__name__} and {type(q).__name__}")
    if z.shape != q.shape:
        raise ValueError(f"z and q must have the same shape, got z {tuple(z.shape)} and q {tuple(q.shape)}")
    if z.ndim < 1:
        raise ValueError("z and q need at least one dimension (the vector axis is the last one)")


def straight_through(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """STE by autograd (van den Oord et al. 2017): value q, gradient g to z (∂q̃/∂z = I).

    Written ``sg(q) + (z − sg(z))`` rather than ``z + sg(q − z)`` so the value is q to the last bit.
    """
    _check_pair(z, q)
    return q.detach() + (z - z.detach())


class _StraightThroughManual(torch.autograd.Function):
    """STE as an explicit autograd.Function: identity backward to z, nothing to q."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return q.detach().clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad, None


def straight_through_manual(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """STE with a hand-written backward; gradients identical to :func:`straight_through`."""
    _check_pair(z, q)
    return _StraightThroughManual.apply(z, q)


def _norm(x: torch.Tensor) -> torch.Tensor:
    """‖x‖ over the last axis, accumulated in float64 so float32 vectors with huge entries do not overflow."""
    return torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=torch.float64).to(x.dtype)


def projection_grad(z: torch.Tensor, q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The seeds' backward: (g·u)u with u = (q − z)/(‖q − z‖ + EPS); zero where q = z."""
    v = q - z
    u = v / (_norm(v) + EPS)
    return (g * u).sum(-1, keepdim=True) * u


def _value_q_function(backward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> type:
    """An autograd.Function whose value is q and whose gradient to z is backward(z, q, g) (none to q)."""

    class _ValueQ(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            ctx.save_for_backward(z, q)
            return q.detach().clone()

        @staticmethod
        def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
            z, q = ctx.saved_tensors
            return backward(z, q, grad), None

    return _ValueQ


_Projection = _value_q_function(projection_grad)


def rotation_projection(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The seeds' "rotation" estimator, ∂q̃/∂z = uuᵀ: a rank-1 projection onto the z→q line.

    At q = z the direction is undefined; the seeds' guard (‖q − z‖ + 1e-8) makes the gradient exactly 0 there.
    """
    _check_pair(z, q)
    return _Projection.apply(z, q)


def rotation_trick_grad(z: torch.Tensor, q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Fifty et al. (2024) backward: λRᵀg, R = I − 2rrᵀ + 2q̂êᵀ, λ = ‖q‖/‖z‖, r = (ê + q̂)/‖ê + q̂‖.

    Rᵀg is applied as g − 2r(r·g) + 2ê(q̂·g), never as a matrix. Guards: where ‖z‖ < EPS the gradient
    is g (STE); where ê = −q̂ the EPS-guarded r is 0 and R = I − 2êêᵀ, a reflection that still maps ê to q̂;
    where q = 0, λ = 0 and the gradient is 0, as the formula says. Norms are accumulated in float64, so
    float32 vectors with entries beyond ~1e19 (whose squares overflow) still give a finite gradient.
    """
    z_norm = _norm(z)
    q_norm = _norm(q)
    tiny = z_norm < EPS
    safe_z_norm = torch.where(tiny, torch.ones_like(z_norm), z_norm)
    e_hat = z / safe_z_norm
    q_hat = q / q_norm.clamp_min(EPS)
    w = e_hat + q_hat
    r = w / torch.linalg.vector_norm(w, dim=-1, keepdim=True).clamp_min(EPS)
    rt_g = g - 2 * r * (r * g).sum(-1, keepdim=True) + 2 * e_hat * (q_hat * g).sum(-1, keepdim=True)
    return torch.where(tiny, g, (q_norm / safe_z_norm) * rt_g)


_RotationTrick = _value_q_function(rotation_trick_grad)


def rotation_trick(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The rotation trick (Fifty et al. 2024): value q, gradient λRᵀg; full rank, tends to STE as z → q."""
    _check_pair(z, q)
    return _RotationTrick.apply(z, q)


def nsvq(z: torch.Tensor, q: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """NSVQ (Vali & Bäckström 2022): z + (‖z − q‖/‖v‖) v, v ~ N(0, I): a noise vector as far from z as q is.

    A training-time substitute for q: its value is not q, and autograd differentiates the formula with v
    held constant, so z receives g + (g·v̂) (z − q)/‖z − q‖ and q receives −(g·v̂) (z − q)/‖z − q‖
    (v̂ = v/‖v‖; both terms 0 at q = z). Evaluate with hard q (``LinearVQ.forward(x, hard=True)``).
    v is drawn in float64 on the CPU from `generator` (a generator seeded 0 when None, so a bare call repeats
    its noise), so float32 and float64 runs see the same directions; norms are accumulated in float64, so
    float32 vectors with huge entries stay finite.
    """
    _check_pair(z, q)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    v = torch.randn(z.shape, generator=gen, dtype=torch.float64)
    v = (v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(EPS)).to(device=z.device, dtype=z.dtype)
    distance = torch.linalg.vector_norm(z - q, dim=-1, keepdim=True, dtype=torch.float64).to(z.dtype)
    return z + distance * v


class NoiseSubstitution:
    """NSVQ with its own noise stream: one seeded generator per model, so a run repeats bit for bit."""

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(int(seed))

    def __call__(self, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return nsvq(z, q, self.generator)


ESTIMATORS: dict[str, Estimator] = {
    "ste": straight_through,
    "ste_manual": straight_through_manual,
    "projection": rotation_projection,
    "rotation_trick": rotation_trick,
    "nsvq": nsvq,
}

#: Estimators whose training-time value is not q (a noisy substitute): models evaluate them with hard q.
TRAINING_ONLY = frozenset({"nsvq"})

#: Estimators that draw random numbers: get_estimator builds a fresh seeded instance for each model.
_SEEDED: dict[str, Callable[[int], Estimator]] = {"nsvq": NoiseSubstitution}

#: Names as the seeds' tables print them.
LABELS: dict[str, str] = {
    "ste": "Autograd STE",
    "ste_manual": "Manual STE",
    "projection": "Rotation (seeds; a projection)",
    "rotation_trick": "Rotation trick (Fifty et al.)",
    "nsvq": "NSVQ (Vali & Bäckström)",
}


def get_estimator(name: str, seed: int = 0) -> Estimator:
    """Look an estimator up by name; an unknown name lists the known ones. Random ones get a generator seeded `seed`."""
    if not isinstance(name, str) or name not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {sorted(ESTIMATORS)}, got {name!r}")
    return _SEEDED[name](seed) if name in _SEEDED else ESTIMATORS[name]


def mixed(names: list[str], seed: int = 0) -> Estimator:
    """One estimator per index of the leading (slice) axis: several methods trained as one batched model.

    Slices with the same estimator are gathered, passed through it together, and put back in place.
    """
    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"names must be a non-empty list of estimator names, got {names!r}")
    fns = {n: get_estimator(n, seed) for n in dict.fromkeys(names)}
    groups = {n: torch.tensor([i for i, m in enumerate(names) if m == n]) for n in fns}
    inverse = torch.argsort(torch.cat(list(groups.values())))
    # Runs of consecutive slices with one estimator (the grids' method-major order): views and one cat, no gathers;
    # only when each random estimator is one run, so its noise stream is drawn as by the gather below.
    runs = _runs(list(names))
    contiguous = all(sum(r[0] == n for r in runs) == 1 for n in fns if n in _SEEDED)

    def apply(z: torch.Tensor, q: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if rows is not None:  # only the slices `rows` (a trainer's active slices)
            return on_rows(fns, list(names), z, q, rows)
        _check_slices(z, q, len(names))
        if len(fns) == 1:
            return fns[names[0]](z, q)
        if contiguous:
            return torch.cat([fns[n](z[a:b], q[a:b]) for n, a, b in runs])
        parts = [fns[n](z[idx.to(z.device)], q[idx.to(z.device)]) for n, idx in groups.items()]
        return torch.cat(parts)[inverse.to(z.device)]

    return apply


def on_rows(fns: dict[str, Estimator], names: list[str], z: torch.Tensor, q: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Estimator names[r] on z[i], q[i] for r = rows[i]: z, q hold only the slices `rows` (sorted) of len(names).

    A random estimator (one with its own generator) still sees its whole group of slices, the missing ones as zeros
    (value 0, gradient to no one), so it draws the noise a pass over every slice draws: a run that drops stopped slices
    repeats the noise of one that keeps them.
    """
    _check_slices(z, q, len(rows))
    sub = [names[r] for r in rows.tolist()]
    parts, order = [], []
    for n in dict.fromkeys(sub):
        pos = [j for j, m in enumerate(sub) if m == n]
        random = hasattr(fns[n], "generator")
        if len(pos) == len(sub) and not random:
            return fns[n](z, q)
        where = torch.tensor(pos, device=z.device)
        zs, qs = z.index_select(0, where), q.index_select(0, where)
        if random:
            group = torch.tensor([i for i, m in enumerate(names) if m == n])
            at = torch.searchsorted(group, rows[pos].cpu()).to(z.device)
            full = (len(group), *z.shape[1:])
            zs, qs = z.new_zeros(full).index_copy(0, at, zs), q.new_zeros(full).index_copy(0, at, qs)
            parts.append(fns[n](zs, qs).index_select(0, at))
        else:
            parts.append(fns[n](zs, qs))
        order += pos
    return torch.cat(parts)[torch.argsort(torch.tensor(order, device=z.device))]


def _runs(names: list[str]) -> list[tuple[str, int, int]]:
    """(name, first, end) of each run of equal consecutive names."""
    ends = [i + 1 for i in range(len(names)) if i + 1 == len(names) or names[i + 1] != names[i]]
    return [(names[e - 1], b, e) for b, e in zip([0, *ends[:-1]], ends)]


def _check_slices(z: torch.Tensor, q: torch.Tensor, n: int) -> None:
    _check_pair(z, q)
    if z.ndim < 2 or z.shape[0] != n:
        raise ValueError(f"a mixed estimator of {n} slices needs z and q with leading dimension {n}, got {tuple(z.shape)}")


# --- DiVeQ (Vali, Bäckström and Solin 2025): appended for the real-data chapter (book/realdata.md) ------------

#: Default noise scale of DiVeQ's direction: the unit direction u gets N(0, σ² I) added before renormalising.
DIVEQ_SIGMA = 0.01


def diveq(z: torch.Tensor, q: torch.Tensor, generator: torch.Generator | None = None, sigma: float = DIVEQ_SIGMA) -> torch.Tensor:
    """DiVeQ: q̃ = z + ‖q − z‖ · sg(ŝ), ŝ = (u + σ v)/‖u + σ v‖, u = (q − z)/‖q − z‖, v ~ N(0, I).

    Quantization written as z plus an error vector whose *length* ‖q − z‖ is differentiated and whose direction
    ŝ (the true direction, perturbed by a little noise) is a constant. So z receives g − e (ŝ·g) and q receives
    e (ŝ·g), e = (q − z)/‖q − z‖: the codebook learns through the error's length. The value is q up to the
    noise (exactly q at σ = 0); a training-time substitute, evaluated with hard q. Where q = z the error is 0 and
    z receives g (STE). Noise drawn in float64 on the CPU from `generator` (seeded 0 when None), as for NSVQ.
    """
    _check_pair(z, q)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    diff = (q - z).detach()
    dist = _norm(diff)
    u = diff / dist.clamp_min(EPS)
    v = torch.randn(z.shape, generator=gen, dtype=torch.float64).to(device=z.device, dtype=z.dtype)
    s = u + sigma * v
    s = s / _norm(s).clamp_min(EPS)
    live = dist > EPS  # where q = z the length has no gradient (‖·‖ is not differentiable at 0)
    length = torch.linalg.vector_norm(torch.where(live, q - z, torch.ones_like(z)), dim=-1, keepdim=True)
    length = torch.where(live, length, torch.zeros_like(length))
    return z + length * s


class DirectionalNoise:
    """DiVeQ with its own noise stream: one seeded generator per model, so a run repeats bit for bit."""

    def __init__(self, seed: int = 0, sigma: float = DIVEQ_SIGMA) -> None:
        self.generator = torch.Generator().manual_seed(int(seed))
        self.sigma = sigma

    def __call__(self, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return diveq(z, q, self.generator, self.sigma)
