"""The one evaluator of the seed claims (registered in vqlib.claim_registry): a claim judged on a result frame.

A claim compares method `b` with method `a` on one metric column of a chapter's result frame, paired by
seed (b − a, relative to a when `relative`), or, without `a`, states a level of `b` itself. Its `kind`
fixes the rule that turns the 95 % CI into one of four verdicts:

- "equivalence" (margin δ): the CI inside [−δ, δ] → holds; entirely outside → does not hold; else inconclusive.
- "directional" (sign d): d·CI entirely above 0 → holds; d·CI entirely at or below 0 → does not hold; else inconclusive.
- "size" (threshold t, sign d): d·CI entirely at or above d·t → holds; entirely below → does not hold; else inconclusive.

A claim about several cases (`where`: e.g. every K ≥ 32, or several methods) holds if every case holds and
does not hold if any case does not hold; otherwise it is inconclusive. Each verdict comes with the p-value
of the test the CI decided (two-sided-equivalent: the 95 % CI decides ⇔ p < 0.05), so the table can be
corrected for multiplicity (:func:`holm`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from vqlib import report
from vqlib.claim_registry import (  # noqa: F401 - the registry, read through this module by the chapters
    CLAIMS, COLLAPSED, DEAD_MARGIN_PCT, KINDS, LOW_BETAS, MSE_MARGIN, ROT, SIGMAS, SPEED_MARGIN, STRONG_BETAS, ClaimSpec, _case,
    _names, get,
)
from vqlib.stats import Interval, mean_ci, reduction_bootstrap, sig

ALPHA = 0.05


@dataclass(frozen=True)
class Outcome:
    """A claim judged on one frame: the verdict, its p-value, and per case the CI and its half-width."""

    spec: ClaimSpec
    verdict: str
    p_value: float  # of the test that decided (nan when inconclusive)
    cases: tuple[tuple[str, Interval, str], ...]  # (case label, CI in display units, unit)
    half_width: float  # the widest case's CI half-width (display units)

    def measured(self) -> str:
        """Our value(s) with CIs, and the half-width reached against the margin."""
        parts = "; ".join((f"{label}: " if label else "") + ci.format() + unit for label, ci, unit in self.cases)
        reach = f"CI half-width {sig(self.half_width)}{self.spec.unit}"
        if self.spec.kind != "directional":
            reach += f" vs margin {sig(self.spec.margin * self.spec.scale)}{self.spec.unit}"
        return f"{parts} ({reach})"


def _one_sided_p(x: np.ndarray, c: float, side: int) -> float:
    """p-value of H0: mean ≤ c (side +1) or mean ≥ c (side −1), doubled so p < 0.05 ⇔ the 95 % two-sided CI excludes c on that side."""
    mean = float(x.mean())
    sem = float(scipy.stats.sem(x)) if x.size > 1 else 0.0
    if sem == 0.0:
        return 0.0 if side * (mean - c) > 0 else 1.0
    t = side * (mean - c) / sem
    return float(min(1.0, 2 * scipy.stats.t.sf(t, x.size - 1)))


def _per_seed(frame: pd.DataFrame, method: str, column: str) -> pd.Series:
    sub = frame[frame.method == method]
    if sub.empty:
        raise ValueError(f"no rows for method {method!r}; methods present: {sorted(set(frame.method))}")
    if sub.seed.duplicated().any():
        raise ValueError(f"method {method!r} has several rows per seed: filter the frame to one case first")
    return sub.set_index("seed")[column].sort_index()


def values(spec: ClaimSpec, frame: pd.DataFrame, method: str) -> np.ndarray:
    """The per-seed quantity a claim is about for one method in one (filtered) frame: b − a, (b − a)/a or b."""
    b = _per_seed(frame, method, spec.metric)
    if spec.a is None:
        return b.to_numpy(dtype=float)
    a = _per_seed(frame, spec.a, spec.metric)
    if not b.index.equals(a.index):
        raise ValueError(f"{method!r} and {spec.a!r} were not measured on the same seeds")
    d = (b - a).to_numpy(dtype=float)
    if spec.relative:
        base = a.to_numpy(dtype=float)
        d = np.divide(d, base, out=np.zeros_like(d), where=base != 0)
    return d


def _judge(x: np.ndarray, spec: ClaimSpec) -> tuple[str, float]:
    """Verdict and p-value of one case from its per-seed values x (p = 0 when every seed gives the same value: no doubt)."""
    verdict, p = _judge_ci(x, spec)
    return verdict, (0.0 if verdict != "inconclusive" and np.ptp(x) == 0 else p)


def _judge_ci(x: np.ndarray, spec: ClaimSpec) -> tuple[str, float]:
    ci = mean_ci(x)
    if spec.kind == "equivalence":
        d = spec.margin
        if -d <= ci.low and ci.high <= d:
            return "holds", max(_one_sided_p(x, -d, 1), _one_sided_p(x, d, -1))
        if ci.low > d or ci.high < -d:
            return "does not hold", min(_one_sided_p(x, d, 1), _one_sided_p(x, -d, -1))
        return "inconclusive", math.nan
    t = 0.0 if spec.kind == "directional" else spec.margin
    lo, hi = (ci.low, ci.high) if spec.sign > 0 else (-ci.high, -ci.low)
    st = spec.sign * t
    if (lo > st) if spec.kind == "directional" else (lo >= st):
        return "holds", _one_sided_p(x, t, spec.sign)
    if (hi <= st) if spec.kind == "directional" else (hi < st):
        return "does not hold", _one_sided_p(x, t, -spec.sign)
    return "inconclusive", math.nan


class NotMeasured(ValueError):
    """A claim's case is not in the frame (e.g. the chapter was run without that K): the claim is not testable there."""


def _judge_interval(ci: Interval, dist: np.ndarray, spec: ClaimSpec) -> tuple[str, float]:
    """The same rules on a bootstrap interval; p = twice the share of resamples on the far side of the bound."""
    def p_beyond(c: float, side: int) -> float:
        return float(min(1.0, 2 * np.mean(side * (dist - c) <= 0)))

    if spec.kind == "equivalence":
        d = spec.margin
        if -d <= ci.low and ci.high <= d:
            return "holds", max(p_beyond(-d, 1), p_beyond(d, -1))
        if ci.low > d or ci.high < -d:
            return "does not hold", min(p_beyond(d, 1), p_beyond(-d, -1))
        return "inconclusive", math.nan
    t = 0.0 if spec.kind == "directional" else spec.margin
    lo, hi = (ci.low, ci.high) if spec.sign > 0 else (-ci.high, -ci.low)
    st = spec.sign * t
    if (lo > st) if spec.kind == "directional" else (lo >= st):
        return "holds", p_beyond(t, spec.sign)
    if (hi <= st) if spec.kind == "directional" else (hi < st):
        return "does not hold", p_beyond(t, -spec.sign)
    return "inconclusive", math.nan


def evaluate(spec: ClaimSpec, frame: pd.DataFrame) -> Outcome:
    """Judge a claim on a chapter's result frame (one row per case, method and seed; one regime)."""
    verdicts, ps, cases = [], [], []
    methods = (spec.b,) if isinstance(spec.b, str) else tuple(spec.b)
    for w in spec.where:
        sub = frame
        for k, v in w.items():
            sub = sub[sub[k] == v]
        if sub.empty:
            raise NotMeasured(f"no rows where {_case(w)} (not in this chapter's settings)")
        for method in methods:
            if spec.reduction:
                ci, dist = reduction_bootstrap(_per_seed(sub, spec.a, spec.metric), _per_seed(sub, method, spec.metric))
                v, p = _judge_interval(ci, dist, spec)
            else:
                x = values(spec, sub, method)
                v, p = _judge(x, spec)
                ci = mean_ci(x)
            verdicts.append(v)
            ps.append(p)
            label = ", ".join(x for x in [_case(w) if w else "", method if len(methods) > 1 else ""] if x)
            cases.append((label, ci.scaled(spec.scale), spec.unit))
    n_main = len(cases)
    if spec.combine == "any" and len(verdicts) > 1:  # one case holding suffices: Bonferroni over the cases for "holds"
        if any(v == "holds" for v in verdicts):
            verdicts, ps = ["holds"], [min(1.0, min(p for v, p in zip(verdicts, ps) if v == "holds") * len(verdicts))]
        elif all(v == "does not hold" for v in verdicts):
            verdicts, ps = ["does not hold"], [max(ps)]
        else:
            verdicts, ps = ["inconclusive"], [math.nan]
    for part in spec.also:
        sub_out = evaluate(part, frame)
        for label, ci, unit in sub_out.cases:
            cases.append((f"{part.metric}{', ' + label if label else ''}", ci, unit))
        verdicts.append(sub_out.verdict)
        ps.append(sub_out.p_value)
    if all(v == "holds" for v in verdicts):
        verdict, p = "holds", max(ps)  # intersection–union: every case must pass
    elif any(v == "does not hold" for v in verdicts):
        fails = [p for v, p in zip(verdicts, ps) if v == "does not hold"]
        verdict, p = "does not hold", min(1.0, min(fails) * len(verdicts))  # any case suffices: Bonferroni over the cases
    else:
        verdict, p = "inconclusive", math.nan
    half = max((ci.high - ci.low) / 2 for _, ci, _ in cases[:n_main])  # of the claim's own metric (the margin's units)
    return Outcome(spec, verdict, p, tuple(cases), half)


def record(spec: ClaimSpec, frame: pd.DataFrame, regime: str = "") -> Outcome:
    """Evaluate a claim and record it (report.claim, glued as claim:<id>@<regime>); returns the outcome."""
    try:
        out = evaluate(spec, frame)
    except NotMeasured as why:
        out = Outcome(spec, "not testable", math.nan, (), math.nan)
        report.claim(spec.id, spec.source, spec.quote, spec.seed_value, f"not measured: {why}", out.verdict, spec.criterion(),
                     spec.section, regime=regime, kind=spec.kind)
        return out
    report.claim(spec.id, spec.source, spec.quote, spec.seed_value, out.measured(), out.verdict, spec.criterion(),
                 spec.section, regime=regime, p_value=out.p_value, half_width=out.half_width,
                 margin=spec.margin * spec.scale if spec.kind != "directional" else math.nan, kind=spec.kind)
    return out


def record_all(ids: list[str], frame: pd.DataFrame, regimes: list[str] | None = None) -> pd.DataFrame:
    """Every claim in `ids` in every regime (frame has a `regime` column unless regimes is None); one row per (claim, regime)."""
    rows = []
    for r in regimes or [""]:
        sub = frame[frame.regime == r] if r else frame
        for i in ids:
            out = record(CLAIMS[i], sub, r)
            rows.append({"id": i, "regime": r, "verdict": out.verdict, "p_value": out.p_value, "measured": out.measured(),
                         "half_width": out.half_width})
    return pd.DataFrame(rows)


def holm(table: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Holm's step-down correction across every decided verdict of the table (statsmodels.multipletests).

    Adds p_holm and verdict_holm: a decided verdict (holds / does not hold) whose adjusted p-value is not
    below alpha becomes inconclusive; inconclusive and not testable stay as they are.
    """
    from statsmodels.stats.multitest import multipletests

    out = table.copy()
    p = pd.to_numeric(out.get("p_value", pd.Series(math.nan, index=out.index)), errors="coerce")
    decided = out.verdict.isin(["holds", "does not hold"]) & p.notna()
    out["p_holm"] = math.nan
    out["verdict_holm"] = out.verdict
    if decided.any():
        reject, adj, _, _ = multipletests(p[decided].to_numpy(), alpha=alpha, method="holm")
        out.loc[decided, "p_holm"] = adj
        out.loc[decided[decided].index[~reject], "verdict_holm"] = "inconclusive"
    return out


def by_regime(table: pd.DataFrame, regime_names: list[str]) -> pd.DataFrame:
    """Claims recorded per regime as a claim × regime grid of verdicts ("" where not evaluated), with "holds in r of R".

    Only claims with at least one regime record appear; R counts the regimes a claim was evaluated in.
    """
    sub = table[table.regime.fillna("") != ""]
    grid = sub.pivot_table(index="id", columns="regime", values="verdict", aggfunc="first", sort=False)
    grid = grid.reindex(columns=[r for r in regime_names if r in grid.columns]).fillna("")
    evaluated = (grid != "").sum(axis=1)
    grid["holds in"] = [f"{h} of {n}" for h, n in zip((grid == "holds").sum(axis=1), evaluated)]
    return grid


def changes(table: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Each claim's verdict before (one setting, `baseline`: columns id, verdict) beside its verdicts now, per regime.

    One row per claim present in either: before, now (regime: verdict, …, or the single verdict), and whether it
    changed (in how many of its regimes the verdict differs from before; "new" / "dropped" where absent on a side).
    """
    before = baseline.drop_duplicates("id").set_index("id").verdict
    rows = []
    for cid in list(dict.fromkeys(list(table.id) + list(before.index))):
        now = table[table.id == cid]
        old = before.get(cid, "")
        if now.empty:
            rows.append({"id": cid, "before": old, "now": "", "changed": "dropped"})
            continue
        regs = now.regime.fillna("").tolist()
        text = "; ".join(f"{r}: {v}" if r else v for r, v in zip(regs, now.verdict))
        differ = int((now.verdict != old).sum())
        status = "new" if not old else ("unchanged" if differ == 0 else f"changed in {differ} of {len(now)}")
        rows.append({"id": cid, "before": old, "now": text, "changed": status})
    return pd.DataFrame(rows)
