"""The criteria that turn paired measurements into verdicts on the seeds' claims, stated once for the book.

Every comparison is paired on shared seeds (vqlib.stats.paired: b − a per seed, Student-t 95 % CI).
"Similar" (the seeds' "equivalent", "negligible difference", "both similar") is an equivalence test: the
whole CI must lie inside a margin, so too few seeds cannot make a difference look negligible.
"""

from __future__ import annotations

import math

import numpy as np

from vqlib.stats import Interval, Paired, _values, mean_ci, paired

#: Reconstruction MSE counts as equivalent when the paired relative difference lies within ±2 %.
MSE_MARGIN = 0.02
#: Dead-code counts are similar when the paired difference lies within ±10 % of K codes.
DEAD_MARGIN = 0.10
#: Subspace recovery is maintained when the largest principal angle grows by at most 1 degree.
ANGLE_MARGIN_DEG = 1.0
#: Convergence speeds are comparable when the paired relative difference in steps lies within ±20 %.
SPEED_MARGIN = 0.20


def verdict(ok: bool) -> str:
    """'holds' or 'does not hold'."""
    return "holds" if ok else "does not hold"


def below(ci: Interval, value: float = 0.0) -> bool:
    """The whole interval lies below `value` (e.g. a paired difference significantly < 0)."""
    return ci.high < value


def above(ci: Interval, value: float = 0.0) -> bool:
    """The whole interval lies above `value`."""
    return ci.low > value


def within(ci: Interval, margin: float) -> bool:
    """The whole interval lies inside [−margin, margin]: an equivalence test."""
    return -margin <= ci.low and ci.high <= margin


def reaches(ci: Interval, value: float) -> bool:
    """The interval contains `value` or lies above it: consistent with "at least `value`"."""
    return ci.high >= value


def reduction(a, b) -> Interval:
    """Relative reduction of b against a, 1 − b/a, as a 95 % CI: the paired CI of a − b over the mean of a.

    The uncertainty of the mean of a is ignored (stated where used). Where a is 0 on every seed the
    reduction is undefined (nan) unless b is 0 too, when it is 0.
    """
    x, y = _values(a), _values(b)
    base = float(x.mean())
    diff = mean_ci(x - y)
    if base == 0:
        value = 0.0 if np.all(y == 0) else math.nan
        return Interval(value, value, value, diff.n)
    return Interval(diff.mean / base, diff.low / base, diff.high / base, diff.n)


def similar_codes(p_dead: Paired, p_mse: Paired, K: int) -> bool:
    """Negligible difference: dead codes within ±10 % of K and recon MSE within ±2 %, both by paired CI."""
    return within(p_dead.difference, DEAD_MARGIN * K) and within(p_mse.relative, MSE_MARGIN)


def not_worse(p_dead: Paired, p_mse: Paired, K: int) -> bool:
    """b is not worse than a: its dead codes at most 10 % of K more, its recon MSE at most 2 % higher (CI upper ends)."""
    return p_dead.difference.high <= DEAD_MARGIN * K and p_mse.relative.high <= MSE_MARGIN


def compare(a, b) -> Paired:
    """Paired comparison b − a (vqlib.stats.paired), re-exported so chapters need one import."""
    return paired(a, b)


def percent(ci: Interval, digits: int = 3) -> str:
    """An interval of fractions as 'mean [low, high] %'."""
    return f"{ci.scaled(100).format(digits)} %"


def per_seed(frame, method: str, column: str) -> np.ndarray:
    """One method's values of `column`, ordered by seed (for paired comparisons)."""
    sub = frame[frame.method == method].sort_values("seed")
    if sub.empty:
        raise ValueError(f"no rows for method {method!r}; methods present: {sorted(set(frame.method))}")
    return sub[column].to_numpy()


def pair(frame, a: str, b: str, column: str) -> Paired:
    """Paired comparison of method b against method a on `column`, seed by seed (b − a)."""
    return paired(per_seed(frame, a, column), per_seed(frame, b, column))


def dead_reduction(frame, a: str, b: str) -> Interval:
    """Relative reduction of dead codes of method b against method a (see :func:`reduction`)."""
    return reduction(per_seed(frame, a, "dead_codes"), per_seed(frame, b, "dead_codes"))
