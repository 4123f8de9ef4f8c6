"""Rate–distortion for Gaussian sources: reverse water-filling and the distortion–rate bound (Cover & Thomas, ch. 10)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
