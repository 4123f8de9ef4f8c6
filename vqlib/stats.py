"""Confidence intervals over seeds and paired comparisons (scipy.stats)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats


@dataclass(frozen=True)
class Interval:
    """Mean and a two-sided confidence interval (Student t over seeds)."""

    mean: float
    low: float
    high: float
    n: int

    def scaled(self, factor: float) -> "Interval":
        """The same interval in other units (e.g. factor 100 for a fraction in percent)."""
        return Interval(self.mean * factor, self.low * factor, self.high * factor, self.n)

    def format(self, digits: int = 3) -> str:
        """'mean [low, high]' with a fixed number of significant digits, so reruns print the same text."""
        return f"{sig(self.mean, digits)} [{sig(self.low, digits)}, {sig(self.high, digits)}]"


def _values(values) -> np.ndarray:
    a = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=np.float64).reshape(-1)
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError("values must be a non-empty array of finite numbers (one per seed)")
    return a


def mean_ci(values, level: float = 0.95) -> Interval:
    """Mean over seeds with a Student-t interval; a single seed or zero spread gives a zero-width one."""
    a = _values(values)
    mean = float(a.mean())
    sem = float(scipy.stats.sem(a)) if a.size > 1 else 0.0
    if sem == 0.0:
        return Interval(mean, mean, mean, a.size)
    low, high = scipy.stats.t.interval(level, a.size - 1, loc=mean, scale=sem)
    return Interval(mean, float(low), float(high), a.size)


@dataclass(frozen=True)
class Paired:
    """Paired comparison of two methods on the same seeds: b − a."""

    difference: Interval
    relative: Interval  # (b − a) / a per seed
    p_value: float  # two-sided paired t-test (nan when the differences are all equal)


def paired(a, b, level: float = 0.95) -> Paired:
    """Compare method b with method a seed by seed (a paired t-test via scipy.stats.ttest_rel)."""
    x, y = _values(a), _values(b)
    if x.shape != y.shape:
        raise ValueError(f"paired comparison needs one value per seed for both methods, got {x.size} and {y.size}")
    diff = y - x
    rel = np.divide(diff, x, out=np.zeros_like(diff), where=x != 0)
    p = float(scipy.stats.ttest_rel(y, x).pvalue) if np.ptp(diff) > 0 else float("nan")
    return Paired(mean_ci(diff, level), mean_ci(rel, level), p)


#: Beyond this magnitude a number is no measurement but an unbounded interval's end: a ratio's bound over a bootstrap
#: resample whose reference mean is 0 (reduction_bca clamps that mean at 1e-300); it reads as ∞.
UNBOUNDED = 1e250


def sig(x: float, digits: int = 3) -> str:
    """x as text with `digits` significant digits, no exponent for ordinary magnitudes (stable across reruns); ±∞ beyond
    UNBOUNDED."""
    x = float(x)
    if abs(x) >= UNBOUNDED:
        return "∞" if x > 0 else "-∞"
    if x == 0 or not np.isfinite(x):
        return f"{x:.{digits - 1}f}" if x == 0 else str(x)
    return f"{x:#.{digits}g}".rstrip(".") if 1e-4 <= abs(x) < 1e6 else f"{x:.{digits - 1}e}"


def bound_text(x: float, floor: float = 0.0) -> str:
    """A rounding-level quantity as the power of ten it stays below ('< 1e-05'), or '< floor' when below `floor`:
    its digits are noise that differs between machines, its order of magnitude is the result."""
    x = abs(float(x))
    if x == 0:
        return "0"
    power = max(math.floor(math.log10(x)) + 1, math.ceil(math.log10(floor)) if floor > 0 else -999)
    return f"< 1e{power}"


def summarize(frame, by: str, columns: list[str], digits: int = 3, order: list | None = None):
    """Per group of `by`: 'mean [low, high]' text per column (for display) and the numbers (for CSV).

    Returns (display, numbers); numbers has columns <col>_mean, <col>_low, <col>_high.
    """
    import pandas as pd

    groups = order if order is not None else list(dict.fromkeys(frame[by]))
    shown, numbers = [], []
    for g in groups:
        sub = frame[frame[by] == g]
        cis = {c: mean_ci(sub[c].to_numpy()) for c in columns}
        shown.append({by: g, **{c: cis[c].format(digits) for c in columns}})
        numbers.append({by: g, **{f"{c}_{k}": getattr(cis[c], a) for c in columns for k, a in (("mean", "mean"), ("low", "low"), ("high", "high"))}})
    return pd.DataFrame(shown), pd.DataFrame(numbers)


def paired_against(frame, by: str, reference, column: str, group: str | None = None, level: float = 0.95):
    """Paired comparison of `column` at every value of `by` against by == reference, seed by seed, per `group`.

    frame has one row per (group, by, seed). Returns one row per (group, by) with the difference
    (value − reference) and the relative difference (over the reference): mean, low, high, the
    paired t-test p-value, and both as 'mean [low, high]' text (the relative one in percent).
    """
    import pandas as pd

    groups = [None] if group is None else list(dict.fromkeys(frame[group]))
    rows = []
    for g in groups:
        sub = frame if g is None else frame[frame[group] == g]
        ref = sub[sub[by] == reference].sort_values("seed")
        if ref.empty:
            raise ValueError(f"reference {by} = {reference!r} is not in the frame")
        for value in dict.fromkeys(sub[by]):
            cur = sub[sub[by] == value].sort_values("seed")
            if not np.array_equal(cur.seed.to_numpy(), ref.seed.to_numpy()):
                raise ValueError(f"{by} = {value!r} and the reference were not measured on the same seeds")
            p = paired(ref[column].to_numpy(), cur[column].to_numpy(), level)
            row = {} if g is None else {group: g}
            row.update({by: value, "diff_mean": p.difference.mean, "diff_low": p.difference.low, "diff_high": p.difference.high,
                        "rel_mean": p.relative.mean, "rel_low": p.relative.low, "rel_high": p.relative.high, "p_value": p.p_value,
                        "diff_text": p.difference.format(), "rel_text": p.relative.scaled(100).format() + " %"})
            rows.append(row)
    return pd.DataFrame(rows)
def summarize_by(frame, keys: list[str], columns: list[str], digits: int = 3):
    """stats.summarize over several key columns: one row per key combination, in order of first appearance.

    Returns (display, numbers) like :func:`summarize`.
    """
    import pandas as pd

    shown, numbers = [], []
    for values, sub in frame.groupby(keys, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        head = dict(zip(keys, values, strict=True))
        cis = {c: mean_ci(sub[c].to_numpy()) for c in columns}
        shown.append({**head, **{c: cis[c].format(digits) for c in columns}})
        numbers.append({**head, **{f"{c}_{k}": getattr(cis[c], k) for c in columns for k in ("mean", "low", "high")}})
    return pd.DataFrame(shown), pd.DataFrame(numbers)


def ratio_ci(numerator, denominator, level: float = 0.95) -> Interval:
    """Geometric-mean ratio numerator/denominator over paired runs, CI from a t-interval on the log ratios.

    For timings: log ratios are less skewed than ratios, and one slow run moves the result less.
    """
    x, y = _values(numerator), _values(denominator)
    if x.shape != y.shape or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("ratio_ci needs positive paired values of equal length")
    ci = mean_ci(np.log(x / y), level)
    return Interval(float(np.exp(ci.mean)), float(np.exp(ci.low)), float(np.exp(ci.high)), ci.n)


def one_sided_p(x, c: float, side: int) -> float:
    """One-sided t-test p-value of H0: mean ≤ c (side +1) or mean ≥ c (side −1); p < 0.025 ⇔ the 95 % CI excludes c on that side."""
    a = _values(x)
    mean = float(a.mean())
    sem = float(scipy.stats.sem(a)) if a.size > 1 else 0.0
    if sem == 0.0:
        return 0.0 if side * (mean - c) > 0 else 1.0
    return float(scipy.stats.t.sf(side * (mean - c) / sem, a.size - 1))


def seeds_to_decide(sd: float, gap: float, level: float = 0.95, n_max: int = 10**7) -> int | None:
    """Smallest n with t_{(1+level)/2, n−1}·sd/√n < gap: paired seeds a t-interval of this spread needs to clear a bound
    `gap` away from its mean (None when gap ≤ 0 or beyond n_max)."""
    if not gap > 0 or not np.isfinite(gap):
        return None
    if sd == 0:
        return 2
    q = (1 + level) / 2
    n = max(2, int((scipy.stats.norm.ppf(q) * sd / gap) ** 2))  # the normal bound: t > z, so the answer is at least this
    while n <= n_max:
        ns = np.arange(n, n + 256)
        ok = scipy.stats.t.ppf(q, ns - 1) * sd / np.sqrt(ns) < gap
        if ok.any():
            return int(ns[np.argmax(ok)])
        n += 256
    return None


@dataclass(frozen=True)
class Bootstrap:
    """A paired BCa bootstrap interval with what its p-values need: the resampled statistics, bias correction and acceleration."""

    ci: Interval
    dist: np.ndarray
    z0: float = 0.0
    accel: float = 0.0

    def p_value(self, c: float, side: int) -> float:
        """One-sided p of H0: θ ≤ c (side +1) or θ ≥ c (side −1): the level at which the BCa bound reaches c (BCa inverted)."""
        dist = self.dist
        if dist.size < 2 or np.ptp(dist) == 0:
            return 0.0 if side * (self.ci.mean - c) > 0 else 1.0
        half = 0.5 / dist.size  # the resampling grain: no share is exactly 0 or 1
        share = float(np.clip((np.sum(dist < c) + np.sum(dist <= c)) / (2 * dist.size), half, 1 - half))
        w = scipy.stats.norm.ppf(share) - self.z0
        den = 1 + self.accel * w
        u = w / den if den > 0 else math.copysign(math.inf, w)  # z0 + z_α of the bound that equals c
        return float(scipy.stats.norm.cdf(u - self.z0) if side > 0 else scipy.stats.norm.cdf(self.z0 - u))


def reduction_bca(a, b, level: float = 0.95, n_resamples: int = 4000, seed: int = 0) -> Bootstrap:
    """Relative reduction 1 − mean(b)/mean(a) over paired seeds with a paired BCa bootstrap interval (scipy.stats.bootstrap).

    BCa bounds are quantiles of the resampled reductions, so for non-negative counts (every resample ≤ 100 %) they
    never exceed 100 %; nothing is clipped. Needs mean(a) > 0 (else the reduction is undefined: ValueError).
    """
    x, y = _values(a), _values(b)
    if x.shape != y.shape:
        raise ValueError(f"paired reduction needs one value per seed for both methods, got {x.size} and {y.size}")
    if not x.mean() > 0:
        raise ValueError("the reduction 1 − mean(b)/mean(a) is undefined when mean(a) ≤ 0")
    stat = lambda xs, ys, axis=-1: 1 - np.mean(ys, axis=axis) / np.maximum(np.mean(xs, axis=axis), 1e-300)  # noqa: E731
    point = float(stat(x, y))
    if x.size < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return Bootstrap(Interval(point, point, point, x.size), np.full(1, point))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples (e.g. b all 0): handled below
        res = scipy.stats.bootstrap((x, y), stat, paired=True, vectorized=True, n_resamples=n_resamples, confidence_level=level,
                                    method="BCa", rng=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution, dtype=float)
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if np.ptp(dist) == 0 or not (np.isfinite(low) and np.isfinite(high)):
        return Bootstrap(Interval(point, float(dist.min()), float(dist.max()), x.size), dist)
    z0 = float(scipy.stats.norm.ppf((np.sum(dist < point) + np.sum(dist <= point)) / (2 * dist.size)))
    jack = np.array([stat(np.delete(x, i), np.delete(y, i)) for i in range(x.size)])
    u = jack.mean() - jack
    accel = float(np.sum(u**3) / (6 * np.sum(u**2) ** 1.5)) if np.any(u) else 0.0
    return Bootstrap(Interval(point, low, high, x.size), dist, z0, accel)


def reduction_bootstrap(a, b, level: float = 0.95, n_resamples: int = 4000, seed: int = 0) -> tuple[Interval, np.ndarray]:
    """The BCa reduction interval of :func:`reduction_bca` and its resampled reductions (kept for the chapters' tables).

    Where mean(a) is 0 the reduction is undefined: 0 if b is 0 everywhere, else −inf (b adds dead codes to none).
    """
    x, y = _values(a), _values(b)
    if x.shape == y.shape and x.mean() == 0:
        v = 0.0 if np.all(y == 0) else -np.inf
        return Interval(v, v, v, x.size), np.full(1, v)
    boot = reduction_bca(x, y, level, n_resamples, seed)
    return boot.ci, boot.dist


def paired_seeds_for_power(sd: float, delta: float, alpha: float = 0.05, power: float = 0.8, n_max: int = 10**6) -> int | None:
    """Smallest n of paired seeds with which a two-sided paired t-test at level `alpha` detects a true mean difference
    `delta` with probability ≥ `power`, when the paired differences have standard deviation `sd` (noncentral t).

    Fixes the number of seeds before any verdict, from a pilot's spread (never by adding seeds until a verdict is
    decided). None when delta ≤ 0 or more than n_max seeds would be needed.
    """
    if not delta > 0 or not np.isfinite(delta) or not 0 < alpha < 1 or not 0 < power < 1:
        return None
    if sd == 0:
        return 2

    def achieved(n: int) -> float:
        t = scipy.stats.t.ppf(1 - alpha / 2, n - 1)
        nc = delta / sd * np.sqrt(n)
        return float(scipy.stats.nct.sf(t, n - 1, nc) + scipy.stats.nct.cdf(-t, n - 1, nc))

    n = max(2, int(((scipy.stats.norm.ppf(1 - alpha / 2) + scipy.stats.norm.ppf(power)) * sd / delta) ** 2) - 2)
    while n <= n_max:
        if achieved(n) >= power:
            return n
        n += 1 if n < 10**4 else max(1, n // 1000)
    return None
