"""The geometry of gradient estimators: their Jacobians ∂q̃/∂z and where their updates point against the Voronoi cells.

Shapes: z, q, g, x are (..., N, m) (x: (..., N, D)); a codebook C is (..., K, m) and a decoder W (..., D, m),
with the same leading (seed) dimensions. The Jacobians here are written from the derivations in the
geometry chapter, independently of the backward passes in :mod:`vqlib.estimators`, so one checks the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats
import torch

from vqlib.checks import check_choice, check_int
from vqlib.data import normal, random_orthonormal
from vqlib.estimators import EPS, ESTIMATORS, get_estimator
from vqlib.quantize import assign, lookup, sq_distances


def jacobian(name: str, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Closed-form ∂q̃/∂z (..., m, m): I (STE), uuᵀ (the seeds' projection), λR (the rotation trick).

    The gradient an estimator sends to z is Jᵀg. Guards as in the estimators: uuᵀ = 0 at q = z; λR = I
    where ‖z‖ < EPS.
    """
    check_choice("name", name, ESTIMATORS)
    if z.shape != q.shape:
        raise ValueError(f"z and q must have the same shape, got {tuple(z.shape)} and {tuple(q.shape)}")
    m = z.shape[-1]
    eye = torch.eye(m, dtype=z.dtype, device=z.device).expand(*z.shape, m)
    if name in ("ste", "ste_manual"):
        return eye.clone()
    if name == "projection":
        v = q - z
        u = v / (torch.linalg.vector_norm(v, dim=-1, keepdim=True) + EPS)
        return u.unsqueeze(-1) * u.unsqueeze(-2)
    z_norm = torch.linalg.vector_norm(z, dim=-1, keepdim=True)
    q_norm = torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    tiny = z_norm < EPS
    e = z / torch.where(tiny, torch.ones_like(z_norm), z_norm)
    qh = q / q_norm.clamp_min(EPS)
    r = (e + qh) / torch.linalg.vector_norm(e + qh, dim=-1, keepdim=True).clamp_min(EPS)
    R = eye - 2 * r.unsqueeze(-1) * r.unsqueeze(-2) + 2 * qh.unsqueeze(-1) * e.unsqueeze(-2)
    lam = (q_norm / torch.where(tiny, torch.ones_like(z_norm), z_norm)).unsqueeze(-1)
    return torch.where(tiny.unsqueeze(-1), eye, lam * R)


def estimator_gradient(name: str, z: torch.Tensor, q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The gradient the estimator `name` sends to z for an upstream gradient g at q̃ (through its backward)."""
    z = z.detach().clone().requires_grad_(True)
    get_estimator(name)(z, q.detach()).backward(g)
    return z.grad


def energy_kept(name: str, z: torch.Tensor, q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """‖Jᵀg‖² / ‖g‖² per vector: the share of the upstream gradient's energy that reaches z."""
    out = estimator_gradient(name, z, q, g)
    return out.pow(2).sum(-1) / g.pow(2).sum(-1)


def kept_fraction_law(m: int):
    """Law of (u·g)²/‖g‖² for a direction g uniform on the sphere in m dimensions: Beta(1/2, (m − 1)/2), mean 1/m."""
    check_int("m", m, 2)
    return scipy.stats.beta(0.5, (m - 1) / 2)


def reconstruction_updates(name: str, z: torch.Tensor, x: torch.Tensor, W: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Descent direction −∂/∂z ‖x − W q̃‖² at each z, q̃ = estimator(z, nearest code of z): (..., N, m)."""
    q = lookup(C, assign(z, C))
    z = z.detach().clone().requires_grad_(True)
    x_hat = get_estimator(name)(z, q.detach()) @ W.transpose(-1, -2)
    ((x - x_hat) ** 2).sum().backward()
    return -z.grad


@dataclass(frozen=True)
class Boundary:
    """For each z: its cell k, the neighbour j across the nearest face, that face's outward unit normal and distance."""

    own: torch.Tensor  # (..., N) index k of z's cell
    neighbour: torch.Tensor  # (..., N) index j of the cell across the nearest face
    normal: torch.Tensor  # (..., N, m) n = (c_j − c_k)/‖c_j − c_k‖
    distance: torch.Tensor  # (..., N) distance from z to that face


def nearest_boundary(z: torch.Tensor, C: torch.Tensor) -> Boundary:
    """Nearest face of z's Voronoi cell: min over j ≠ k of (‖z − c_j‖² − ‖z − c_k‖²)/(2‖c_j − c_k‖).

    A Voronoi cell is the intersection of the half-planes bounded by the bisectors of c_k and each c_j,
    so the distance from an inside point to the cell's boundary is the smallest distance to those bisectors.
    """
    if C.shape[-2] < 2:
        raise ValueError("a codebook needs at least 2 codes to have cell boundaries")
    d2 = sq_distances(z, C)  # (..., N, K)
    own = d2.argmin(-1)
    c_own = lookup(C, own)  # (..., N, m)
    gap = torch.linalg.vector_norm(C.unsqueeze(-3) - c_own.unsqueeze(-2), dim=-1)  # (..., N, K): ‖c_j − c_k‖
    dist = (d2 - d2.gather(-1, own.unsqueeze(-1))) / (2 * gap.clamp_min(EPS))
    dist = dist.masked_fill(gap <= EPS, float("inf"))  # the own code (and exact duplicates) bound nothing
    distance, neighbour = dist.min(-1)
    normal = lookup(C, neighbour) - c_own
    normal = normal / torch.linalg.vector_norm(normal, dim=-1, keepdim=True).clamp_min(EPS)
    return Boundary(own, neighbour, normal, distance)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos∠(a, b) along the last axis (0 where either vector is 0)."""
    na = torch.linalg.vector_norm(a, dim=-1)
    nb = torch.linalg.vector_norm(b, dim=-1)
    return (a * b).sum(-1) / (na * nb).clamp_min(EPS)


def face_angle_deg(dz: torch.Tensor, z: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Angle (degrees) between the update Δz and the nearest face of z's cell: 0 along the face, 90 straight across.

    φ = arcsin |cos∠(Δz, n)| with n the face's normal; a direction drawn uniformly in the plane gives 45° on average.
    """
    cos = cosine(dz, nearest_boundary(z, C).normal).abs().clamp(max=1.0)
    return torch.rad2deg(torch.arcsin(cos))


def best_codes(x: torch.Tensor, W: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """k* = argmin_k ‖x − W c_k‖²: the code whose decoding reconstructs x best (..., N)."""
    return assign(x, C @ W.transpose(-1, -2))


def progress_cosine(dz: torch.Tensor, z: torch.Tensor, x: torch.Tensor, W: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """cos∠(Δz, c_{k*} − c_k) per point whose code k is not its best k*; NaN for points already at their best.

    Positive: to first order the step shrinks ‖z − c_{k*}‖² − ‖z − c_k‖², i.e. moves z towards the better cell.
    """
    own = assign(z, C)
    best = best_codes(x, W, C)
    out = cosine(dz, lookup(C, best) - lookup(C, own))
    return torch.where(best != own, out, torch.full_like(out, float("nan")))


def random_autoencoder(n_seeds: int, D: int, m: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """An untrained linear autoencoder per seed: orthonormal encoder rows E (S, m, D), independent decoder W (S, D, m).

    E is Haar-distributed as at the testbed's start; W has N(0, 1/m) entries and is drawn independently of E,
    so WᵀW ≠ I and W ≠ Eᵀ: the generic case, unlike the testbed's tied start (W = Eᵀ).
    """
    check_int("n_seeds", n_seeds, 1)
    check_int("D", D, 1)
    check_int("m", m, 1, D)
    gen = torch.Generator().manual_seed(int(seed))
    E = random_orthonormal(n_seeds, D, m, gen).transpose(1, 2)
    W = (normal(n_seeds, D, m, generator=gen) / m**0.5).float()
    return E, W


def update_statistics(names: list[str], x: torch.Tensor, E: torch.Tensor, W: torch.Tensor, C: torch.Tensor) -> pd.DataFrame:
    """Per estimator and seed, for z = Ex and the loss ‖x − W q̃‖²: angle to the cell faces and progress to the better code.

    Columns: face_angle (mean angle in degrees between Δz and the nearest face of z's cell), progress (mean cos towards the best code,
    over points not at their best code), progress_share (share of those with a positive cos), misassigned
    (share of points not at their best code). E, W, C may differ per estimator: pass dicts keyed by name.
    """
    frames = []
    for name in names:
        e, w, c = (t[name] if isinstance(t, dict) else t for t in (E, W, C))
        z = x @ e.transpose(-1, -2)
        dz = reconstruction_updates(name, z, x, w, c)
        prog = progress_cosine(dz, z, x, w, c)
        mis = ~prog.isnan()
        n_mis = mis.sum(-1)
        frames.append(
            pd.DataFrame(
                {
                    "estimator": name,
                    "seed": range(x.shape[0]),
                    "face_angle": face_angle_deg(dz, z, c).mean(-1).double().numpy(),
                    "progress": (torch.where(mis, prog, 0).sum(-1) / n_mis).double().numpy(),
                    "progress_share": (((prog > 0) & mis).sum(-1) / n_mis).double().numpy(),
                    "misassigned": (n_mis / x.shape[-2]).double().numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


# --- The geometry chapter's exact checks (cheap, in float64; each draws from the chapter's generator in turn) -------


def autograd_check(names: list[str], dims: list[int], n: int, gen: torch.Generator) -> pd.DataFrame:
    """Each estimator's full autograd Jacobian on n random pairs (z, q) per dimension against :func:`jacobian`.

    Columns: estimator, m, max_abs_error (own-pair block against the formula), cross_terms (largest entry between pairs).
    """
    from functools import partial

    rows = []
    for name in names:
        for m in dims:
            z = torch.randn(n, m, generator=gen, dtype=torch.float64)
            q = torch.randn(n, m, generator=gen, dtype=torch.float64)
            full = torch.autograd.functional.jacobian(partial(get_estimator(name), q=q), z)  # (n, m, n, m)
            blocks = full.diagonal(dim1=0, dim2=2).permute(2, 0, 1)  # ∂q̃_i/∂z_i for each pair i
            own_pair = torch.eye(n, dtype=torch.bool)[:, None, :, None].expand_as(full)
            rows.append({"estimator": name, "m": m, "max_abs_error": float((blocks - jacobian(name, z, q)).abs().max()),
                         "cross_terms": float(full.masked_fill(own_pair, 0).abs().max())})  # pairs must not influence each other
    return pd.DataFrame(rows)


def matrix_checks(n: int, m: int, gen: torch.Generator) -> dict:
    """On n random pairs in m dimensions: rank, idempotence, determinant and orthogonality of uuᵀ and of λR."""
    z = torch.randn(n, m, generator=gen, dtype=torch.float64)
    q = torch.randn(n, m, generator=gen, dtype=torch.float64)
    eye = torch.eye(m, dtype=torch.float64)
    P = jacobian("projection", z, q)
    M = jacobian("rotation_trick", z, q)
    R = M / (q.norm(dim=-1) / z.norm(dim=-1)).reshape(-1, 1, 1)
    det_P, det_R = torch.linalg.det(P), torch.linalg.det(R)
    return {"proj_ranks": torch.linalg.matrix_rank(P).unique().tolist(), "proj_idem": float((P @ P - P).abs().max()),
            "proj_det": float(det_P.abs().max()), "proj_det_positive": bool((det_P > 0).all()),
            "proj_orth": float((P.transpose(-1, -2) @ P - eye).abs().max()), "rot_orth": float((R.transpose(-1, -2) @ R - eye).abs().max()),
            "rot_det_min": float(det_R.min()), "rot_det_max": float(det_R.max()), "rot_ranks": torch.linalg.matrix_rank(M).unique().tolist()}


def isotropic_kept(dims: list[int], seeds: int, n: int, gen: torch.Generator) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """κ of the seeds' estimator for z, q, g drawn isotropic: per-seed means (setting, m, theory, seed, kappa) and all values by m."""
    frames, values = [], {}
    for m in dims:
        z, q, g = (torch.randn(seeds, n, m, generator=gen, dtype=torch.float64) for _ in range(3))
        kappa = energy_kept("projection", z, q, g)  # (seeds, n)
        values[m] = kappa.flatten().numpy()
        frames.append(pd.DataFrame({"setting": "isotropic random g", "m": m, "theory": 1 / m, "seed": range(seeds),
                                    "kappa": kappa.mean(-1).numpy()}))
    return pd.concat(frames, ignore_index=True), values


def limits(m: int, distances: list[float], gen: torch.Generator) -> tuple[pd.DataFrame, dict]:
    """Jacobians as z approaches a random code q along two random unit directions (Frobenius norms), and the gradients at z = q.

    Returns (one row per distance t: proj_to_I, proj_d1_d2, rot_to_I, rot_to_I_over_t; {grad_at_q_proj, grad_at_q_rot}).
    """
    q0 = torch.randn(m, generator=gen, dtype=torch.float64)
    d1, d2 = (v / v.norm() for v in torch.randn(2, m, generator=gen, dtype=torch.float64))
    eye = torch.eye(m, dtype=torch.float64)
    rows = []
    for t in distances:
        p1, p2 = jacobian("projection", q0 + t * d1, q0), jacobian("projection", q0 + t * d2, q0)
        rt = jacobian("rotation_trick", q0 + t * d1, q0)
        rows.append({"t": t, "proj_to_I": float((p1 - eye).norm()), "proj_d1_d2": float((p1 - p2).norm()),
                     "rot_to_I": float((rt - eye).norm()), "rot_to_I_over_t": float((rt - eye).norm()) / t if t > 0 else float("nan")})
    g0 = torch.randn(m, generator=gen, dtype=torch.float64)
    at_q = {"grad_at_q_proj": float(estimator_gradient("projection", q0, q0, g0).norm()),
            "grad_at_q_rot": float((estimator_gradient("rotation_trick", q0, q0, g0) - g0).abs().max())}
    return pd.DataFrame(rows), at_q
