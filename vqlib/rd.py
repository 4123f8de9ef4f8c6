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
