"""The one evaluator of the seed claims (registered in vqlib.claim_registry): a claim judged on a result frame.

A claim compares method `b` with method `a` on one metric column of a chapter's result frame, paired by seed
(b − a, relative to a when `relative`; 1 − mean(b)/mean(a) when `reduction`), or, without `a`, states a level of b.

Convention (the one rule for every claim):

1. Every decision is a one-sided test at 2.5 % per side, read off the 95 % two-sided CI the book prints (Student t
   over paired seeds; for a reduction 1 − mean(b)/mean(a), a paired BCa bootstrap, which never passes 100 %).
2. Equivalence (margin δ) is TOST with the 95 % interval, 2.5 % per side: the CI inside ±δ → holds; entirely
   outside → does not hold; straddling a margin → inconclusive, never a refutation.
3. Directional (sign d): d·CI entirely above 0 → holds, at or below 0 → does not hold. Size (threshold t):
   d·CI at or beyond d·t → holds, entirely short of it → does not hold. Otherwise inconclusive.
4. Two-sided claims ("the methods differ"): the CI entirely beyond 0 (or ±t) on either side → holds, and the
   measured text names the direction; entirely inside ±t → does not hold (t > 0 only); otherwise inconclusive.
5. Every decided verdict carries the one-sided p-value of the test that decided it, "does not hold" included
   (per case, p < 0.025 ⇔ the CI decides); undecided → nan. Over several cases: every case must hold (p: the
   largest), any failing case refutes (p: Bonferroni); with combine="any" one holding case suffices (Bonferroni).
6. An inconclusive verdict states the paired seeds that would decide it at the observed mean and spread: the
   smallest n with t(0.975, n − 1)·sd/√n below the distance from the mean to the bound it straddles.
7. Premise absent → "not applicable", counted apart (e.g. fewer dead codes than a reference that has none). A claim no
   measurement here can test (a checklist item, a methods statement) is "not testable", with the reason.
8. Relative reconstruction margins are judged on the excess over the noise floor where the data model defines one (the
   synthetic chapters: (b − a)/(a − floor), the floor (D − m)σ² of the model's noise outside the signal subspace), on the
   total error otherwise (real data).
9. Holm's correction (statsmodels) at 2.5 % runs over the family of every decided verdict with a p-value, of every
   regime, one row per claim × regime; "not testable", "not applicable" and the aggregate claims stay outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd

from vqlib import report
from vqlib.claim_registry import (  # noqa: F401 - the registry, read through this module by the chapters
    CLAIMS,
    COLLAPSED,
    DEAD_MARGIN_PCT,
    KINDS,
    LOW_BETAS,
    MSE_MARGIN,
    ROT,
    RT,
    SIDEDNESS,
    SIGMAS,
    SPEED_MARGIN,
    STRONG_BETAS,
    ClaimSpec,
    _case,
    _names,
    get,
)
from vqlib.stats import Bootstrap, Interval, mean_ci, one_sided_p, reduction_bca, seeds_to_decide, sig

#: Level of every one-sided test (2.5 % per side: the 95 % two-sided CI).
ALPHA = 0.025
DECIDED = ("holds", "does not hold")
#: Claims whose verdict summarizes other verdicts: outside Holm's family.
AGGREGATES = ("verdicts-validation-settings", "verdicts-guidelines")


def convention() -> str:
    """The judging convention in words (from the module docstring), for the book to print."""
    return "Convention" + __doc__.split("Convention", 1)[1].rstrip()


@dataclass(frozen=True)
class Outcome:
    """A claim judged on one frame: the verdict, its p-value, and per case the CI and its half-width."""

    spec: ClaimSpec
    verdict: str
    p_value: float  # one-sided, of the test that decided (nan when undecided)
    cases: tuple[tuple[str, Interval, str], ...]  # (case label, CI in display units, unit)
    half_width: float  # the widest case's CI half-width (display units)
    n_required: int | None = None  # inconclusive: paired seeds that would decide at the observed mean and spread
    reason: str = ""  # why the claim (or some of its cases) is not applicable
    leaning: str = ""  # inconclusive: the verdict those seeds would give at the observed means ("" if unclear)
    record: object = None  # the report.Claim that :func:`record` glued (None from :func:`evaluate`)
    n_main: int | None = None  # how many of `cases` are on the claim's own metric (the rest: its `also` parts)

    def measured(self) -> str:
        """Our value(s) with CIs, the half-width reached against the margin, and the seeds that would decide."""
        if self.verdict in ("not applicable", "not testable"):
            return f"{self.verdict}: {self.reason}"
        parts = "; ".join((f"{label}: " if label else "") + ci.format() + unit for label, ci, unit in self.cases)
        reach = f"CI half-width {sig(self.half_width)}{self.spec.unit}"
        if self.spec.kind != "directional":
            reach += f" vs margin {sig(self.spec.margin * self.spec.scale)}{self.spec.unit}"
        if self.verdict == "inconclusive":
            reach += f"; n ≈ {self.n_required} would decide" if self.n_required else "; not reachable by more seeds at this mean"
        return f"{parts} ({reach})" + (f"; not applicable: {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class _Stat:
    """One case's statistic: its 95 % CI, its one-sided p-values and the seeds a bound needs."""

    ci: Interval
    p: Callable[[float, int], float]  # (c, side) → p of H0: θ ≤ c (side +1) or θ ≥ c (side −1)
    n_for: Callable[[float], int | None]  # c → smallest n whose CI would clear c at the observed mean and spread
    exact: bool  # no spread: a decided verdict is beyond doubt (p = 0)


def _t_stat(x: np.ndarray) -> _Stat:
    """Student t over paired seeds."""
    ci = mean_ci(x)
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    return _Stat(ci, lambda c, side: one_sided_p(x, c, side), lambda c: seeds_to_decide(sd, abs(ci.mean - c)),
                 bool(np.ptp(x) == 0))


def _boot_stat(bt: Bootstrap) -> _Stat:
    """A BCa bootstrap: seeds to decide from the half-width on c's side shrinking as 1/√n."""
    ci = bt.ci

    def n_for(c: float, n_max: int = 10**7) -> int | None:
        gap, half = abs(ci.mean - c), (ci.mean - ci.low) if ci.mean > c else (ci.high - ci.mean)
        if not gap > 0 or half / gap > math.sqrt(n_max / ci.n):  # beyond n_max seeds, as stats.seeds_to_decide
            return None
        return max(2, math.floor(ci.n * (half / gap) ** 2) + 1)

    return _Stat(ci, bt.p_value, n_for, bool(np.ptp(bt.dist) == 0))


def _decide(st: _Stat, spec: ClaimSpec) -> tuple[str, float, float, str, int]:
    """One case: verdict, p-value, the bound an undecided CI straddles, the leaning, and the side (two-sided holds)."""
    lo, hi, m = st.ci.low, st.ci.high, st.ci.mean
    if spec.kind == "equivalence":
        d = spec.margin
        if -d <= lo and hi <= d:
            return "holds", max(st.p(-d, 1), st.p(d, -1)), math.nan, "", 0
        if lo > d:
            return "does not hold", st.p(d, 1), math.nan, "", 0
        if hi < -d:
            return "does not hold", st.p(-d, -1), math.nan, "", 0
        return "inconclusive", math.nan, math.copysign(d, m), "holds" if abs(m) < d else "does not hold" if abs(m) > d else "", 0
    t = 0.0 if spec.kind == "directional" else spec.margin
    if spec.sidedness == "two-sided":
        for side, beyond in ((1, lo > t if t == 0 else lo >= t), (-1, hi < -t if t == 0 else hi <= -t)):
            if beyond:
                return "holds", st.p(side * t, side), math.nan, "", side
        if (t > 0 and -t < lo and hi < t) or (t == 0 and lo == hi == 0):
            return "does not hold", max(st.p(-t, 1), st.p(t, -1)), math.nan, "", 0
        lean = "holds" if abs(m) > t else "does not hold" if t > 0 and abs(m) < t else ""
        return "inconclusive", math.nan, math.copysign(t, m), lean, 0
    s = spec.sign
    slo, shi, st_ = (lo, hi, t) if s > 0 else (-hi, -lo, -t)
    if (slo > st_) if spec.kind == "directional" else (slo >= st_):
        return "holds", st.p(t, s), math.nan, "", 0
    if (shi <= st_) if spec.kind == "directional" else (shi < st_):
        return "does not hold", st.p(t, -s), math.nan, "", 0
    above = s * (m - t)
    lean = "holds" if (above > 0 if spec.kind == "directional" else above >= 0) else "does not hold"
    return "inconclusive", math.nan, t, lean, 0


def _combine(results: list[tuple[str, float, int | None, str]], how: str) -> tuple[str, float, int | None, str]:
    """(verdict, p, seeds to decide, leaning) of several cases: "all" must hold (intersection–union), or "any" suffices."""
    k, vs = len(results), [r[0] for r in results]
    # one case settles the claim ("does not hold" under "all", "holds" under "any"); the other verdict needs every case
    settles, needs_all = ("does not hold", "holds") if how == "all" else ("holds", "does not hold")
    if all(v == needs_all for v in vs):
        return needs_all, max(p for _, p, _, _ in results), None, ""  # intersection–union: the largest p
    settled = [p for v, p, _, _ in results if v == settles]
    if settled:  # Bonferroni over the cases
        return settles, min(1.0, min(settled) * k), None, ""
    undecided = [(n, lean) for v, _, n, lean in results if v == "inconclusive"]
    first = [n for n, lean in undecided if lean == settles and n is not None]
    if first:  # a case leaning to the settling verdict decides the claim as soon as it is decided
        return "inconclusive", math.nan, min(first), settles
    ns = [n for n, _ in undecided]
    everyone = max(ns) if ns and all(n is not None for n in ns) else None
    return "inconclusive", math.nan, everyone, needs_all if all(lean == needs_all for _, lean in undecided) else ""


class NotMeasured(ValueError):
    """A claim's case is not in the frame (e.g. the chapter was run without that K): the claim is not testable there."""


def _per_seed(frame: pd.DataFrame, method: str, column: str) -> pd.Series:
    sub = frame[frame.method == method]
    if sub.empty:  # a method this run did not train (a chapter re-run without it): the claim is not testable there
        raise NotMeasured(f"no rows for method {method!r}; methods present: {sorted(set(frame.method))}")
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
        if spec.floor:  # the excess over the noise floor: what an estimator can change
            base = base - _per_seed(frame, spec.a, spec.floor).to_numpy(dtype=float)
        d = np.divide(d, base, out=np.zeros_like(d), where=base != 0)
    return d


def _case_stat(spec: ClaimSpec, sub: pd.DataFrame, method: str) -> _Stat | str:
    """The statistic of one case, or why its premise is absent (a reduction from a reference mean of 0)."""
    if not spec.reduction:
        return _t_stat(values(spec, sub, method))
    a, b = _per_seed(sub, spec.a, spec.metric), _per_seed(sub, method, spec.metric)
    if not b.index.equals(a.index):
        raise ValueError(f"{method!r} and {spec.a!r} were not measured on the same seeds")
    if not a.mean() > 0:
        return f"{spec.a} has mean {spec.metric} {sig(a.mean())}, so a reduction 1 − {method}/{spec.a} is undefined"
    return _boot_stat(reduction_bca(a.to_numpy(dtype=float), b.to_numpy(dtype=float)))


def evaluate(spec: ClaimSpec, frame: pd.DataFrame) -> Outcome:
    """Judge a claim on a chapter's result frame (one row per case, method and seed; one regime)."""
    if spec.untestable:
        raise NotMeasured(spec.untestable)
    results, cases, reasons = [], [], []
    methods = (spec.b,) if isinstance(spec.b, str) else tuple(spec.b)
    # a claim against several references on one metric (an `also` part with another a): name the reference of each case
    vs = f"vs {spec.a}" if spec.a and any(p.metric == spec.metric and p.a != spec.a for p in spec.also) else ""
    named = len(methods) > 1  # each case names its method
    if spec.combine == "any" and named:  # "any of these": judged on those this run trained (a regime may leave some out)
        ran = set(frame.get("method", ()))
        methods = tuple(mt for mt in methods if mt in ran) or methods  # none: _per_seed says so
    for w in spec.where:
        sub = frame
        for k, v in w.items():
            sub = sub[sub[k] == v]
        if sub.empty:
            raise NotMeasured(f"no rows where {_case(w)} (not in this chapter's settings)")
        for method in methods:
            label = ", ".join(x for x in [vs, _case(w) if w else "", method if named else ""] if x)
            st = _case_stat(spec, sub, method)
            if isinstance(st, str):
                reasons.append(f"{label}: {st}" if label else st)
                continue
            verdict, p, c, lean, side = _decide(st, spec)
            if verdict in DECIDED:  # the bootstrap's p and bound agree to the resampling grain: keep p with the CI
                p = 0.0 if st.exact else min(p, ALPHA)
            if side:
                label = ", ".join(x for x in [_case(w) if w else "", f"{method} {spec.directions[0 if side > 0 else 1]}"] if x)
            results.append((verdict, p, st.n_for(c) if verdict == "inconclusive" else None, lean))
            cases.append((label, st.ci.scaled(spec.scale), spec.unit))
    if not results:
        return Outcome(spec, "not applicable", math.nan, (), math.nan, reason="; ".join(reasons))
    n_main = len(cases)
    if spec.combine == "any":
        results = [_combine(results, "any")]
    for part in spec.also:
        sub_out = evaluate(part, frame)
        if sub_out.verdict == "not applicable":
            reasons.append(f"{part.metric}: {sub_out.reason}")
            continue
        name = f"vs {part.a}" if part.metric == spec.metric and part.a != spec.a else part.metric
        for label, ci, unit in sub_out.cases:
            cases.append((f"{name}{', ' + label if label else ''}", ci, unit))
        results.append((sub_out.verdict, sub_out.p_value, sub_out.n_required, sub_out.leaning))
    verdict, p, n, lean = _combine(results, "all")
    half = max((ci.high - ci.low) / 2 for _, ci, _ in cases[:n_main])  # of the claim's own metric (the margin's units)
    return Outcome(spec, verdict, p, tuple(cases), half, n, "; ".join(reasons), lean, n_main=n_main)



def _swap(spec: ClaimSpec) -> ClaimSpec | None:
    """The claim read with the rotation trick in place of the seeds' "rotation" (ROT), or None where the claim is not about
    ROT or already names the rotation trick."""
    names = lambda c: ((c.b,) if isinstance(c.b, str) else tuple(c.b)) + ((c.a,) if c.a else ())  # noqa: E731
    parts = (spec,) + spec.also
    if not any(ROT in names(c) for c in parts) or any(RT in names(c) for c in parts):
        return None
    sw = lambda v: RT if v == ROT else v  # noqa: E731
    one = lambda c: replace(c, b=sw(c.b) if isinstance(c.b, str) else tuple(sw(x) for x in c.b), a=sw(c.a))  # noqa: E731
    return replace(one(spec), also=tuple(one(p) for p in spec.also))


def rt_reading(spec: ClaimSpec, frame: pd.DataFrame) -> str:
    """The verdict of the claim with the rotation trick read in place of the seeds' rotation (a reading beside the verdict,
    not a replacement: outside Holm's family and the counts); "" where the claim is not about it or it was not run."""
    alt = _swap(spec)
    if alt is None or RT not in set(frame.get("method", ())):
        return ""
    try:
        return evaluate(alt, frame).verdict
    except NotMeasured:
        return ""


def record(spec: ClaimSpec, frame: pd.DataFrame, regime: str = "") -> Outcome:
    """Evaluate a claim and record it (report.claim, glued as claim:<id>@<regime>); returns the outcome."""
    try:
        out = evaluate(spec, frame)
    except NotMeasured as why:
        out = Outcome(spec, "not testable", math.nan, (), math.nan, reason=str(why))
        rec = report.claim(spec.id, spec.source, spec.quote, spec.seed_value,
                           f"not testable: {why}" if spec.untestable else f"not measured: {why}", out.verdict, spec.criterion(),
                           spec.section, regime=regime, kind="" if spec.untestable else spec.kind)
        return replace(out, record=rec)
    first = out.cases[0][1] if out.cases else None
    rec = report.claim(spec.id, spec.source, spec.quote, spec.seed_value, out.measured(), out.verdict, spec.criterion(),
                 spec.section, regime=regime, p_value=out.p_value, half_width=out.half_width,
                 margin=spec.margin * spec.scale if spec.kind != "directional" else math.nan, kind=spec.kind,
                 effect=first.mean if first else math.nan, low=first.low if first else math.nan, high=first.high if first else math.nan,
                 reading_rt=rt_reading(spec, frame),
                 cases=[(label, ci.mean, ci.low, ci.high) for label, ci, _ in out.cases[:out.n_main]])
    return replace(out, record=rec)


def record_all(ids: list[str], frame: pd.DataFrame, regimes: list[str] | None = None) -> pd.DataFrame:
    """Every claim in `ids` in every regime (frame has a `regime` column unless regimes is None); one row per (claim, regime)."""
    rows = []
    for r in regimes or [""]:
        sub = frame[frame.regime == r] if r else frame
        for i in ids:
            out = record(CLAIMS[i], sub, r)
            rows.append({"id": i, "regime": r, "verdict": out.verdict, "p_value": out.p_value, "measured": out.measured(),
                         "half_width": out.half_width, "label": CLAIMS[i].label, "n_required": out.n_required})
    return pd.DataFrame(rows)


def with_floor(frame: pd.DataFrame, D: int, m: int, sigma: float | None = None) -> pd.DataFrame:
    """The frame with column noise_floor = (D − m)σ²/D, the per-coordinate recon MSE no m-dimensional linear code removes
    (σ from the frame's `sigma` column where None): relative reconstruction margins are judged on the excess over it."""
    s = frame["sigma"].to_numpy(dtype=float) if sigma is None else float(sigma)
    return frame.assign(noise_floor=(D - m) * s**2 / D)


def verdict_text(outcomes: pd.DataFrame, claim_id: str) -> str:
    """A claim's verdicts in a record_all table as the prose glues them: "regime: verdict; …" (or the one verdict)."""
    rows = outcomes[outcomes.id == claim_id]
    return "; ".join(f"{r}: {v}" if r else v for r, v in zip(rows.regime, rows.verdict, strict=True))


def in_family(table: pd.DataFrame) -> pd.Series:
    """Rows in Holm's family: decided verdicts with a p-value, the first row per claim × regime, aggregate claims left out."""
    p = pd.to_numeric(table.get("p_value", pd.Series(math.nan, index=table.index)), errors="coerce")
    member = (table.verdict.isin(DECIDED) & p.notna()).to_numpy().copy()
    if "id" in table:
        member = member & ~table.id.isin(AGGREGATES).to_numpy()
        idx = np.flatnonzero(member)
        member[idx[_keys(table).iloc[idx].duplicated().to_numpy()]] = False
    return pd.Series(member, index=table.index)


def _keys(table: pd.DataFrame) -> pd.Series:
    return table.id.astype(str) + "@" + (table.regime.fillna("").astype(str) if "regime" in table else "")


def holm(table: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Holm's step-down correction (statsmodels.multipletests) over the family of :func:`in_family`, at `alpha`.

    Adds in_family, p_holm and verdict_holm: a decided verdict whose adjusted p-value exceeds alpha becomes
    inconclusive; every other verdict stays as it is (a repeated claim × regime row follows its first row).
    """
    from statsmodels.stats.multitest import multipletests

    out = table.copy()
    fam = in_family(out).to_numpy()
    p = pd.to_numeric(out.get("p_value", pd.Series(math.nan, index=out.index)), errors="coerce").to_numpy()
    p_holm, verdict_holm = np.full(len(out), math.nan), out.verdict.to_numpy(dtype=object).copy()
    if fam.any():
        reject, adj, _, _ = multipletests(p[fam], alpha=alpha, method="holm")
        p_holm[fam] = adj
        verdict_holm[np.flatnonzero(fam)[~reject]] = "inconclusive"
        if "id" in out:  # repeated rows of a family member take its correction
            keys = _keys(out).to_numpy()
            first = {k: i for i, k in zip(np.flatnonzero(fam), keys[fam], strict=True)}
            for i in np.flatnonzero(~fam & out.verdict.isin(DECIDED).to_numpy()):
                if keys[i] in first:
                    p_holm[i], verdict_holm[i] = p_holm[first[keys[i]]], verdict_holm[first[keys[i]]]
    out["in_family"], out["p_holm"], out["verdict_holm"] = fam, p_holm, verdict_holm
    return out


def by_regime(table: pd.DataFrame, regime_names: list[str]) -> pd.DataFrame:
    """Claims recorded per regime as a claim × regime grid of verdicts ("" where not evaluated), with "holds in r of R".

    Only claims with at least one regime record appear; R counts the regimes a claim was evaluated in, "not
    applicable" ones apart ("holds in 1 of 2; not applicable in 1").
    """
    sub = table[table.regime.fillna("") != ""]
    grid = sub.pivot_table(index="id", columns="regime", values="verdict", aggfunc="first", sort=False)
    grid = grid.reindex(columns=[r for r in regime_names if r in grid.columns]).fillna("")
    na = (grid == "not applicable").sum(axis=1)
    evaluated = (grid != "").sum(axis=1) - na
    grid["holds in"] = [f"{h} of {n}" + (f"; not applicable in {k}" if k else "")
                        for h, n, k in zip((grid == "holds").sum(axis=1), evaluated, na, strict=True)]
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
        text = "; ".join(f"{r}: {v}" if r else v for r, v in zip(regs, now.verdict, strict=True))
        differ = int((now.verdict != old).sum())
        status = "new" if not old else ("unchanged" if differ == 0 else f"changed in {differ} of {len(now)}")
        rows.append({"id": cid, "before": old, "now": text, "changed": status})
    return pd.DataFrame(rows)
