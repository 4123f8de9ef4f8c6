"""Rate–distortion for Gaussian sources: reverse water-filling and the distortion–rate bound (Cover & Thomas, ch. 10)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.stats

from vqlib.checks import check_float, check_int


@dataclass(frozen=True)
class WaterFilling:
    """Solution of reverse water-filling at a rate R (bits per vector)."""

    theta: float  # water level θ
    distortions: np.ndarray  # D_i = min(θ, λ_i), in the order of the eigenvalues given
    rates: np.ndarray  # R_i = max(0, ½ log2(λ_i / θ)) bits
    eigenvalues: np.ndarray

    @property
    def distortion(self) -> float:
        """Total distortion D = Σ D_i (squared error per vector)."""
        return float(self.distortions.sum())

    @property
    def reproduction_variances(self) -> np.ndarray:
        """Variances of the R(D)-optimal reproduction N(0, diag(max(λ_i − θ, 0)))."""
        return np.maximum(self.eigenvalues - self.theta, 0.0)


def _eigenvalues(eigenvalues) -> np.ndarray:
    lam = np.asarray(eigenvalues, dtype=np.float64).reshape(-1)
    if lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError("eigenvalues must be a non-empty list of finite numbers > 0")
    return lam


def bits(K: int) -> float:
    """Rate of a codebook of K codes: R = log2 K bits per vector."""
    return math.log2(check_int("K", K, 1))


def reverse_water_filling(eigenvalues, rate_bits: float) -> WaterFilling:
    """Water level θ with Σ_i max(0, ½ log2(λ_i/θ)) = R, solved exactly over the active set."""
    lam = _eigenvalues(eigenvalues)
    rate = check_float("rate_bits", rate_bits, 0.0)
    order = np.sort(lam)[::-1]
    theta = float(order[0])
    if rate > 0:
        for k in range(len(order), 0, -1):
            # With the k largest components active: θ = (Π λ_i)^(1/k) · 2^(−2R/k).
            theta = float(np.exp(np.mean(np.log(order[:k])) - 2 * rate * math.log(2) / k))
            if theta < order[k - 1]:
                break
    dist = np.minimum(theta, lam)
    rates = np.maximum(0.0, 0.5 * np.log2(lam / theta))
    return WaterFilling(theta, dist, rates, lam)


def gaussian_dr(eigenvalues, rate_bits: float) -> float:
    """Shannon's D(R) for N(0, diag λ): the least squared error per vector at R bits per vector."""
    return reverse_water_filling(eigenvalues, rate_bits).distortion


def gaussian_rd(eigenvalues, distortion: float) -> float:
    """R(D) in bits for N(0, diag λ): Σ ½ log2(λ_i / D_i) with D_i = min(θ, λ_i), Σ D_i = D."""
    lam = _eigenvalues(eigenvalues)
    d = check_float("distortion", distortion, 0.0, float(lam.sum()), strict_low=True)
    lo, hi = 0.0, float(lam.max())
    for _ in range(200):  # bisection on θ: Σ min(θ, λ_i) is increasing in θ
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.minimum(mid, lam).sum() < d else (lo, mid)
    theta = 0.5 * (lo + hi)
    return float(np.maximum(0.0, 0.5 * np.log2(lam / theta)).sum())


def gap_db(measured, bound):
    """Gap to a bound in decibels, 10 log10(measured / bound): 0 dB is the bound itself."""
    measured = np.asarray(measured, dtype=np.float64)
    bound = np.asarray(bound, dtype=np.float64)
    if np.any(bound <= 0) or np.any(measured <= 0):
        raise ValueError("gap_db needs positive distortions (measured and bound)")
    out = 10 * np.log10(measured / bound)
    return float(out) if out.ndim == 0 else out


# --- Finite scalar quantizers of N(0, 1): the Lloyd–Max optimum and the high-rate approximation ---


@dataclass(frozen=True)
class ScalarQuantizer:
    """An N-level scalar quantizer of N(0, 1) and its exact mean squared error."""

    thresholds: np.ndarray  # (N − 1,) increasing cell boundaries
    levels: np.ndarray  # (N,) increasing reproduction levels
    mse: float  # E(X − Q(X))² under N(0, 1), from the exact density

    @property
    def n_levels(self) -> int:
        """Number of reproduction levels N."""
        return int(self.levels.size)

    @property
    def rate_bits(self) -> float:
        """Fixed rate log2 N bits per sample."""
        return math.log2(self.n_levels)


def gaussian_cell_moments(a, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partial moments ∫_a^b x^k φ(x) dx, k = 0, 1, 2, of N(0, 1) in closed form (a, b may be ±inf).

    k = 0: Φ(b) − Φ(a) (through the survival function on the upper half, so tails keep their digits);
    k = 1: φ(a) − φ(b); k = 2: M0 + aφ(a) − bφ(b).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if np.any(b < a):
        raise ValueError("each cell needs a <= b")
    pa, pb = scipy.stats.norm.pdf(a), scipy.stats.norm.pdf(b)
    upper = a >= 0
    m0 = np.where(upper, scipy.stats.norm.sf(a) - scipy.stats.norm.sf(b), scipy.stats.norm.cdf(b) - scipy.stats.norm.cdf(a))
    with np.errstate(invalid="ignore"):  # ±inf · 0 at the outer cells: the limit is 0
        apa = np.where(np.isfinite(a), a * pa, 0.0)
        bpb = np.where(np.isfinite(b), b * pb, 0.0)
    return m0, pa - pb, m0 + apa - bpb


def _cells(thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.concatenate([[-np.inf], thresholds, [np.inf]])
    return edges[:-1], edges[1:]


def _centroids(thresholds: np.ndarray) -> np.ndarray:
    m0, m1, _ = gaussian_cell_moments(*_cells(thresholds))
    return m1 / m0


def _levels(levels) -> np.ndarray:
    y = np.asarray(levels, dtype=np.float64).reshape(-1)
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError("levels must be a non-empty list of finite numbers")
    return np.sort(y)


def scalar_mse(levels, thresholds=None) -> float:
    """Exact E(X − Q(X))² for X ~ N(0, 1): the way to score a 1-D codebook without sampling error.

    Without thresholds, Q is the nearest-level quantizer (boundaries at the midpoints of sorted levels).
    """
    y = _levels(levels)
    t = 0.5 * (y[1:] + y[:-1]) if thresholds is None else np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if t.size != y.size - 1 or np.any(np.diff(t) < 0):
        raise ValueError(f"thresholds must be {y.size - 1} increasing numbers for {y.size} levels")
    m0, m1, m2 = gaussian_cell_moments(*_cells(t))
    return float(np.sum(m2 - 2 * y * m1 + y * y * m0))


def lloyd_max(n_levels: int, lloyd_iters: int = 200) -> ScalarQuantizer:
    """The MSE-optimal N-level quantizer of N(0, 1) (Max 1960), from the exact density, not samples.

    Lloyd–Max iterations (thresholds at midpoints, levels at cell centroids, centroids from the closed-form
    partial moments) bring the quantizer near the fixed point; scipy's hybrid Powell root-finder then solves
    the fixed-point equations t_i = (y_i + y_{i+1})/2 to machine precision. N(0, 1) is log-concave, so the
    fixed point is unique and is the global optimum (Fleischer 1964).
    """
    N = check_int("n_levels", n_levels, 1, 4096)
    check_int("lloyd_iters", lloyd_iters, 0)
    if N == 1:
        return ScalarQuantizer(np.empty(0), np.zeros(1), 1.0)
    y = scipy.stats.norm.ppf((np.arange(N) + 0.5) / N)  # equal-probability start
    t = 0.5 * (y[1:] + y[:-1])
    for _ in range(lloyd_iters):
        y = _centroids(t)
        t = 0.5 * (y[1:] + y[:-1])

    def residual(th: np.ndarray) -> np.ndarray:
        c = _centroids(th)
        return th - 0.5 * (c[1:] + c[:-1])

    sol = scipy.optimize.root(residual, t, method="hybr", tol=1e-15)
    t = np.sort(sol.x)
    if not np.all(np.isfinite(t)) or np.abs(residual(t)).max() > 1e-10:
        raise RuntimeError(f"lloyd_max({N}) did not converge (largest residual {np.abs(residual(t)).max():.2e})")
    y = _centroids(t)
    return ScalarQuantizer(t, y, scalar_mse(y, t))


#: Panter–Dite constant √3·π/2: high-rate MSE of the optimal fixed-rate scalar quantizer of N(0, 1) is c·2^(−2R).
PANTER_DITE = math.sqrt(3) * math.pi / 2


def panter_dite(rate_bits):
    """Panter & Dite's (1951) high-resolution approximation (√3π/2)·2^(−2R) of the Lloyd–Max MSE of N(0, 1)."""
    r = np.asarray(rate_bits, dtype=np.float64)
    if np.any(~np.isfinite(r)) or np.any(r < 0):
        raise ValueError("rate_bits must be finite numbers >= 0")
    out = PANTER_DITE * 2.0 ** (-2 * r)
    return float(out) if out.ndim == 0 else out


# --- Random codes at finite dimension: high-resolution (Zador) theory --------------------------------


def unit_ball_volume(k: int) -> float:
    """Volume V_k = π^{k/2} / Γ(k/2 + 1) of the unit ball in k dimensions."""
    k = check_int("k", k, 1)
    return math.exp(0.5 * k * math.log(math.pi) - math.lgamma(0.5 * k + 1))


def random_code_penalty(k: int) -> float:
    """Γ(2 + 2/k): distortion of a random code at its best density over the sphere bound (6, 2, 1.505, 1.329 at k = 1..4)."""
    k = check_int("k", k, 1)
    return math.gamma(2 + 2 / k)


def _variances(name: str, v, k: int | None = None) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.size == 0 or (k is not None and a.size != k) or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name} must be {k or 'one or more'} finite numbers >= 0, got {v!r}")
    return a


def gaussian_density_integral(eigenvalues, g_variances) -> float:
    """∫ p(x) g(x)^{−2/k} dx for p = N(0, diag λ), g = N(0, diag γ) in k dimensions, in closed form.

    = 2π (Π γ_i)^{1/k} Π_i (1 − 2λ_i/(k γ_i))^{−1/2}; infinite when some γ_i ≤ 2λ_i/k (the tails of p
    outweigh the codes there), which includes g = p for k ≤ 2 and any γ_i = 0 (g singular).
    """
    lam = _eigenvalues(eigenvalues)
    k = lam.size
    gam = _variances("g_variances", g_variances, k)
    if np.any(gam <= 2 * lam / k):
        return math.inf
    return float(2 * math.pi * np.exp(np.mean(np.log(gam))) * np.prod(1 - 2 * lam / (k * gam)) ** -0.5)


def random_code_distortion(eigenvalues, g_variances, K: int, subspace: bool = False) -> float:
    """High-resolution E‖x − Q(x)‖² (per vector) of K codes drawn i.i.d. from g = N(0, diag γ) for x ~ N(0, diag λ).

    Zador's random-coding argument: P(min_j ‖x − c_j‖² > t | x) ≈ exp(−K g(x) V_k t^{k/2}), so
    E min_j ‖x − c_j‖² ≈ Γ(1 + 2/k) (K V_k g(x))^{−2/k}, and D ≈ Γ(1 + 2/k) (K V_k)^{−2/k} ∫ p g^{−2/k}.
    With `subspace`, components with γ_i = 0 are handled exactly: every code is 0 there, so they add λ_i
    and the formula applies to the others in their own dimension; without it such a g gives infinity.
    """
    lam = _eigenvalues(eigenvalues)
    gam = _variances("g_variances", g_variances, lam.size)
    K = check_int("K", K, 1)
    fixed = 0.0
    if subspace:
        live = gam > 0
        fixed = float(lam[~live].sum())
        if not live.any():
            return fixed
        lam, gam = lam[live], gam[live]
    k = lam.size
    integral = gaussian_density_integral(lam, gam)
    return fixed + math.gamma(1 + 2 / k) * (K * unit_ball_volume(k)) ** (-2 / k) * integral


def point_density_variances(eigenvalues) -> np.ndarray:
    """Variances of the best code density g ∝ p^{k/(k+2)} for p = N(0, diag λ): N(0, (k+2)/k · diag λ)."""
    lam = _eigenvalues(eigenvalues)
    return (lam.size + 2) / lam.size * lam


def sphere_bound(eigenvalues, K: int) -> float:
    """High-resolution sphere bound k/(k+2) (K V_k)^{−2/k} (∫ p^{k/(k+2)})^{(k+2)/k} for N(0, diag λ) (per vector).

    Every K-point quantizer's distortion is at least about this at high rate (cells no better than balls);
    in 1-D it is the Panter–Dite value.
    """
    lam = _eigenvalues(eigenvalues)
    k = lam.size
    K = check_int("K", K, 1)
    power = 2 * math.pi * math.exp(np.mean(np.log(lam))) * ((k + 2) / k) ** ((k + 2) / 2)
    return k / (k + 2) * (K * unit_ball_volume(k)) ** (-2 / k) * power


# --- Transform coding: KLT, integer bit allocation, Lloyd–Max per component ---------------------------


def allocate_levels(eigenvalues, K: int) -> np.ndarray:
    """Integer numbers of levels n_i (Π n_i ≤ K) for components of variances λ_i, by greedy marginal return.

    Rule: first repeatedly double the levels (one more bit) of the component whose distortion
    λ_i·LM(n_i) drops most, while the product stays ≤ K (for K a power of two this spends exactly log2 K
    bits); then, for K not a power of two, repeatedly add one level to the component with the largest drop
    per bit, λ_i (LM(n_i) − LM(n_i + 1)) / log2((n_i + 1)/n_i), while the product stays ≤ K. LM(n) is the
    Lloyd–Max MSE of N(0, 1); ties go to the earlier component. Components left at one level get no bits.
    """
    lam = _eigenvalues(eigenvalues)
    K = check_int("K", K, 1, 4096)
    n = np.ones(lam.size, dtype=np.int64)
    mse = {1: 1.0}

    def lm(levels: int) -> float:
        if levels not in mse:
            mse[levels] = lloyd_max(levels).mse
        return mse[levels]

    for step in (lambda v: 2 * v, lambda v: v + 1):
        while True:
            total = int(np.prod(n))
            gains = np.full(lam.size, -np.inf)
            for i in range(lam.size):
                new = step(int(n[i]))
                if total // int(n[i]) * new <= K:
                    gains[i] = lam[i] * (lm(int(n[i])) - lm(new)) / math.log2(new / n[i])
            if not np.isfinite(gains).any():
                break
            i = int(np.argmax(gains))
            n[i] = step(int(n[i]))
    return n


def transform_coding_distortion(eigenvalues, levels) -> float:
    """Exact E‖x − Q(x)‖² of the product of Lloyd–Max quantizers with n_i levels on N(0, diag λ): Σ λ_i LM(n_i).

    Exact because the product codebook's nearest code is the per-component nearest level (squared error
    is a sum over components) and the components of a Gaussian in its eigenbasis are independent.
    """
    lam = _eigenvalues(eigenvalues)
    n = np.asarray(levels).reshape(-1)
    if n.size != lam.size or np.any(n < 1):
        raise ValueError(f"levels must be {lam.size} integers >= 1, got {levels!r}")
    return float(sum(lam[i] * lloyd_max(int(n[i])).mse for i in range(lam.size)))


def product_codebook(eigenvalues, levels) -> np.ndarray:
    """The Π n_i codes of the transform code in the eigenbasis: every combination of √λ_i × Lloyd–Max levels."""
    lam = _eigenvalues(eigenvalues)
    n = np.asarray(levels).reshape(-1)
    if n.size != lam.size or np.any(n < 1):
        raise ValueError(f"levels must be {lam.size} integers >= 1, got {levels!r}")
    axes = [math.sqrt(lam[i]) * lloyd_max(int(n[i])).levels for i in range(lam.size)]
    grid = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.reshape(-1) for g in grid], -1)
