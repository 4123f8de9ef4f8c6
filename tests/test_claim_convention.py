"""The judging convention of vqlib.claims, pinned on small constructed samples (one test per rule)."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests

from vqlib import claims, report, stats
from vqlib.claims import ClaimSpec


def _frame(a, b, **extra) -> pd.DataFrame:
    rows = [{"method": "a", "seed": s, "v": float(a[s]), **extra} for s in range(len(a))]
    rows += [{"method": "b", "seed": s, "v": float(b[s]), **extra} for s in range(len(b))]
    return pd.DataFrame(rows)


def _spec(kind, **kw) -> ClaimSpec:
    return ClaimSpec("t", "src", "quote", "", "v", kind, "b", kw.pop("a", "a"), **kw)


def _diffs(mean: float, sd: float, n: int) -> np.ndarray:
    """n paired differences with exactly this mean and sample standard deviation."""
    z = np.linspace(-1, 1, n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def _paired(d: np.ndarray) -> pd.DataFrame:
    base = np.full(d.size, 10.0)
    return _frame(base, base + d)


def test_convention_is_stated_once_and_printed():
    text = claims.convention()
    assert text.startswith("Convention") and text in claims.__doc__
    for words in ("2.5 % per side", "TOST", "95 %", "not applicable", "Holm", "two-sided"):
        assert words in text
    assert claims.ALPHA == 0.025 and "not applicable" in report.VERDICTS


@pytest.mark.parametrize("mean, word", [(2.0, "slower"), (-2.0, "faster")])
def test_two_sided_claim_holds_either_way_and_names_the_direction(mean, word):
    spec = _spec("directional", sidedness="two-sided", directions=("slower", "faster"))
    out = claims.evaluate(spec, _paired(_diffs(mean, 1.0, 10)))
    assert out.verdict == "holds" and out.p_value < claims.ALPHA
    assert f"b {word}: " in out.measured()
    side = 1 if mean > 0 else -1  # the p-value is the one-sided test on the side that decided
    x = _diffs(mean, 1.0, 10)
    expected = scipy.stats.ttest_1samp(x, 0.0, alternative="greater" if side > 0 else "less").pvalue
    assert out.p_value == pytest.approx(expected)


def test_two_sided_claim_straddling_zero_is_inconclusive_and_a_margin_can_refute_it():
    spec = _spec("directional", sidedness="two-sided")
    out = claims.evaluate(spec, _paired(_diffs(0.3, 1.0, 10)))
    assert out.verdict == "inconclusive" and math.isnan(out.p_value) and "higher" not in out.measured()
    assert out.leaning == "holds" and out.n_required > 10
    size = _spec("size", sidedness="two-sided", margin=3.0)  # "differ by at least 3": |b − a| ≥ 3
    assert claims.evaluate(size, _paired(_diffs(-4.0, 0.5, 10))).verdict == "holds"
    refuted = claims.evaluate(size, _paired(_diffs(0.3, 1.0, 10)))
    assert refuted.verdict == "does not hold" and refuted.p_value < claims.ALPHA
    with pytest.raises(ValueError, match="two-sided"):
        _spec("equivalence", sidedness="two-sided", margin=1.0)
    with pytest.raises(ValueError, match="two-sided"):
        _spec("directional", sidedness="two-sided", sign=-1)


def test_differ_claims_of_the_registry_are_two_sided():
    differ = [c for c in claims.CLAIMS.values() if " differ in " in c.quote]
    assert {c.id for c in differ} >= {"commitment-recovery-speed", "commitment-robustness", "convergence-utilization-differs"}
    assert all(c.sidedness == "two-sided" for c in differ)
    assert claims.get("scale-estimator-matters").sidedness == "two-sided"  # "choice critically affects": either way


@pytest.mark.parametrize("mean, verdict", [(0.0, "holds"), (0.9, "inconclusive"), (-1.05, "inconclusive"), (3.0, "does not hold"),
                                           (-3.0, "does not hold")])
def test_equivalence_is_tost_with_the_95_percent_interval(mean, verdict):
    x = _diffs(mean, 0.5, 12)
    out = claims.evaluate(_spec("equivalence", margin=1.0), _paired(x))
    assert out.verdict == verdict
    ci = stats.mean_ci(x)
    if verdict == "holds":  # both one-sided tests at 2.5 %: p is the larger
        p = max(scipy.stats.ttest_1samp(x, -1.0, alternative="greater").pvalue, scipy.stats.ttest_1samp(x, 1.0, alternative="less").pvalue)
        assert out.p_value == pytest.approx(p) and out.p_value < 0.025 and -1 <= ci.low and ci.high <= 1
    elif verdict == "does not hold":  # the one-sided test beyond the margin on the observed side
        p = scipy.stats.ttest_1samp(x, math.copysign(1.0, mean), alternative="greater" if mean > 0 else "less").pvalue
        assert out.p_value == pytest.approx(p) and out.p_value < 0.025
    else:  # the interval straddles a margin: never a refutation
        assert ci.low < math.copysign(1.0, mean) < ci.high and math.isnan(out.p_value)


@pytest.mark.parametrize("kind, kw", [("directional", {}), ("size", {"margin": 0.5}), ("size", {"margin": 0.5, "sign": -1})])
def test_an_interval_straddling_the_bound_is_inconclusive(kind, kw):
    bound = kw.get("margin", 0.0)
    out = claims.evaluate(_spec(kind, **kw), _paired(_diffs(bound + 0.1, 1.0, 8)))
    assert out.verdict == "inconclusive" and math.isnan(out.p_value) and out.n_required is not None


def test_seeds_required_follow_the_t_formula_by_hand():
    # mean 0.5, sd 1: a bound 0.5 away needs t(0.975, n − 1)/√n < 0.5: 2.110/√18 = 0.497 < 0.5 ≤ 2.120/√17 = 0.514
    t = scipy.stats.t.ppf
    assert t(0.975, 17) / math.sqrt(18) < 0.5 <= t(0.975, 16) / math.sqrt(17)
    x = _diffs(0.5, 1.0, 6)
    for spec in [_spec("equivalence", margin=1.0), _spec("directional"), _spec("size", margin=1.0)]:
        out = claims.evaluate(spec, _paired(x))
        assert out.verdict == "inconclusive" and out.n_required == 18, spec.kind
        assert "n ≈ 18 would decide" in out.measured()
    beyond = claims.evaluate(_spec("equivalence", margin=1.0), _paired(_diffs(1.5, 1.0, 6)))
    assert beyond.n_required == 18 and beyond.leaning == "does not hold"  # more seeds would put the CI outside
    at = claims.evaluate(_spec("equivalence", margin=1.0), _paired(_diffs(1.0, 1.0, 6)))
    assert at.n_required is None and "not reachable" in at.measured()
    assert stats.seeds_to_decide(1.0, 0.5) == 18 and stats.seeds_to_decide(1.0, 0.0) is None


def test_seeds_required_over_cases_take_the_case_that_settles():
    f = pd.concat([_paired(_diffs(0.5, 1.0, 6)).assign(K=8), _paired(_diffs(-0.2, 1.0, 6)).assign(K=16)])
    both = _spec("directional", where=({"K": 8}, {"K": 16}))  # K = 16 leans to "does not hold": it settles the claim first
    n16 = stats.seeds_to_decide(1.0, 0.2)
    out = claims.evaluate(both, f)
    assert out.verdict == "inconclusive" and out.leaning == "does not hold" and out.n_required == n16
    some = _spec("directional", where=({"K": 8}, {"K": 16}), combine="any")  # K = 8 leans to "holds": it suffices
    assert claims.evaluate(some, f).n_required == 18


def test_a_reduction_from_no_dead_codes_is_not_applicable(monkeypatch):
    spec = _spec("size", margin=0.85, reduction=True, where=({"K": 32}, {"K": 64}), scale=100, unit=" %")
    zero = _frame(np.zeros(10), np.array([0, 1] * 5)).assign(K=32)
    rng = np.random.default_rng(0)
    some = _frame(20 + rng.integers(0, 5, 10), rng.integers(0, 2, 10)).assign(K=64)
    out = claims.evaluate(_spec("size", margin=0.85, reduction=True, where=({"K": 32},)), zero)
    assert out.verdict == "not applicable" and math.isnan(out.p_value) and "undefined" in out.reason
    assert out.measured().startswith("not applicable: K = 32: a has mean v 0.00")
    part = claims.evaluate(spec, pd.concat([zero, some]))  # judged where the premise holds, the rest named
    assert part.verdict == "holds" and len(part.cases) == 1 and "K = 32" in part.measured()
    seen = []
    monkeypatch.setattr(claims.report, "claim", lambda *a, **k: seen.append(a[5]))
    assert claims.record(_spec("size", margin=0.85, reduction=True, where=({"K": 32},)), zero).verdict == "not applicable"
    assert seen == ["not applicable"]


def test_bca_reduction_never_passes_100_percent_for_counts():
    rng = np.random.default_rng(1)
    for trial in range(12):
        n = int(rng.integers(3, 20))
        a = rng.poisson(rng.uniform(0.5, 20), n).astype(float)
        a[0] += 1  # mean(a) > 0: the reduction is defined
        b = rng.poisson(rng.uniform(0, 3), n).astype(float) * (trial % 3 != 0)  # every third trial: b all zero
        bt = stats.reduction_bca(a, b, n_resamples=1000)
        assert bt.ci.high <= 1.0 and bt.ci.low <= bt.ci.mean <= bt.ci.high and np.all(bt.dist <= 1.0), (a, b, bt.ci)
    a, b = rng.gamma(5, 2, 10), rng.gamma(1, 2, 10)  # continuous: no ties, so the bootstrap grain is fine
    bt = stats.reduction_bca(a, b)
    assert bt.p_value(bt.ci.low, 1) == pytest.approx(0.025, abs=0.003)  # the p-value inverts the same BCa interval
    assert bt.p_value(bt.ci.high, -1) == pytest.approx(0.025, abs=0.003)
    assert bt.p_value(bt.ci.low - 0.05, 1) < 0.025 < bt.p_value(bt.ci.low + 0.05, 1)
    with pytest.raises(ValueError, match="undefined"):
        stats.reduction_bca(np.zeros(4), np.ones(4))


def _table() -> pd.DataFrame:
    rows = [("c1", "r1", "holds", 0.001), ("c1", "r2", "does not hold", 0.015), ("c2", "r1", "holds", 0.02),
            ("c3", "r1", "inconclusive", math.nan), ("c4", "", "not testable", math.nan), ("c5", "r1", "not applicable", math.nan),
            ("verdicts-guidelines", "", "does not hold", 0.001), ("verdicts-validation-settings", "", "holds", 0.001),
            ("c1", "r1", "holds", 0.001)]  # the same claim × regime again (e.g. collected twice): counted once
    return pd.DataFrame(rows, columns=["id", "regime", "verdict", "p_value"])


def test_holm_family_is_every_decided_verdict_of_every_regime_once():
    out = claims.holm(_table())
    assert out.in_family.tolist() == [True, True, True, False, False, False, False, False, False]
    _, adj, _, _ = multipletests([0.001, 0.015, 0.02], alpha=0.025, method="holm")
    np.testing.assert_allclose(out.p_holm.iloc[:3], adj)
    assert out.verdict_holm.tolist() == ["holds", "inconclusive", "inconclusive", "inconclusive", "not testable", "not applicable",
                                         "does not hold", "holds", "holds"]
    assert out.p_holm.iloc[8] == out.p_holm.iloc[0] and out.p_holm.iloc[3:8].isna().all()


def test_every_registered_claim_has_a_short_unique_label():
    labels = [c.label for c in claims.CLAIMS.values()]
    assert all(0 < len(x) <= 60 for x in labels), [x for x in labels if not 0 < len(x) <= 60]
    assert len(set(labels)) == len(labels)
    assert claims.get("testbed-equal-mse").label == "Rotation and STE: equal MSE"


def test_old_callers_keep_working():
    spec = _spec("directional")
    out = claims.Outcome(spec, "not testable", math.nan, (), math.nan)  # positional, as record() and chapters build it
    assert out.n_required is None and out.reason == ""
    grid = claims.by_regime(pd.DataFrame({"id": ["c1", "c1", "c1"], "regime": ["r1", "r2", "r3"],
                                          "verdict": ["holds", "not applicable", "does not hold"]}), ["r1", "r2", "r3"])
    assert grid.loc["c1", "holds in"] == "1 of 2; not applicable in 1"


def _pair(a, b, **cols) -> pd.DataFrame:
    n = len(a)
    return pd.DataFrame([{"method": "a", "seed": s, "v": a[s], **cols} for s in range(n)]
                        + [{"method": "b", "seed": s, "v": b[s], **cols} for s in range(n)])


def test_relative_margin_is_judged_on_the_excess_over_the_noise_floor():
    # total error 10 (floor 9.5 + excess 0.5); b adds 0.05: +0.5 % of the total, +10 % of the excess
    r = np.random.default_rng(3)
    a = 10 + r.normal(0, 1e-4, 12)
    b = a + 0.05 + r.normal(0, 1e-4, 12)
    spec = ClaimSpec("t", "s", "q", "", "v", "equivalence", "b", "a", margin=0.02, relative=True)
    assert claims.evaluate(spec, _pair(a, b)).verdict == "holds"  # on the total error the gap looks negligible
    floored = ClaimSpec("t", "s", "q", "", "v", "equivalence", "b", "a", margin=0.02, relative=True, floor="noise_floor")
    out = claims.evaluate(floored, _pair(a, b, noise_floor=9.5))
    assert out.verdict == "does not hold" and out.cases[0][1].mean == pytest.approx(0.1, rel=1e-3)
    assert "excess over the noise floor" in floored.criterion()
    f = claims.with_floor(pd.DataFrame({"sigma": [0.0, 0.4]}), 64, 4)
    assert f.noise_floor.tolist() == pytest.approx([0.0, 60 * 0.16 / 64])


def test_a_claim_no_measurement_can_test_is_not_testable_with_its_reason(monkeypatch):
    monkeypatch.setattr(report, "claim", lambda *a, **k: None)
    spec = ClaimSpec("t", "s", "q", "", "v", "directional", "b", "a", untestable="a checklist item")
    out = claims.record(spec, _pair([1.0, 2.0, 3.0], [0.0, 1.0, 2.0]))
    assert out.verdict == "not testable" and "a checklist item" in out.measured()
    assert spec.criterion() == "not testable: a checklist item"
    for cid in ("multimodal-kmeans", "scale-3-seeds", "init-exact-codebook"):
        assert claims.get(cid).untestable


def test_a_method_missing_from_the_frame_makes_the_claim_not_testable():
    spec = ClaimSpec("t", "s", "q", "", "v", "directional", "c", "a")
    with pytest.raises(claims.NotMeasured, match="no rows for method 'c'"):
        claims.evaluate(spec, _pair([1.0, 2.0], [0.0, 1.0]))


def test_real_data_claims_are_registry_claims_compared_at_matched_K():
    from vqlib.analysis import realdata as ar

    final = pd.DataFrame([{"variant": v, "init": i, "seed": s, "K": 64, "dead_codes": d + s % 2, "recon_mse": 1.0, "perplexity": 30.0}
                          for v, i, d in (("ste", "uniform", 20), ("projection", "uniform", 2), ("ste/kmeans", "kmeans", 1),
                                          ("ste/data_samples", "data_samples", 1), ("ste/rd_optimal", "rd_optimal", 0))
                          for s in range(6)])
    frame = ar.claim_frame(final, final.assign(dead_codes=0))
    assert set(frame.method) >= {"ste", "ste/uniform", "projection"} and (frame.dead_pct <= 100).all()
    assert claims.evaluate(claims.get("realdata-init-uniform-dead"), frame).verdict == "holds"
    assert claims.evaluate(claims.get("realdata-init-theory-dead"), frame).verdict == "holds"
    measured = pd.DataFrame({"id": ["realdata-init-theory-dead", "realdata-k64-dead"], "regime": ["r", "r"], "verdict": ["holds", "holds"]})
    synthetic = pd.DataFrame({"id": ["init-theory-dead", "scale-k64-dead"], "regime": ["", "r"], "verdict": ["does not hold", "does not hold"]})
    cmp = ar.compare_synthetic(measured, synthetic, 64).set_index("id").agreement
    assert cmp["realdata-init-theory-dead"].startswith("not comparable")  # judged at K = 32 there: no flip at K = 64
    assert cmp["realdata-k64-dead"] == "flips"


def test_the_rotation_trick_reading_swaps_the_seeds_rotation_and_nothing_else():
    r = np.random.default_rng(4)
    rows = [{"method": m, "seed": s, "K": 32, "dead_codes": d + r.normal(0, 0.1)}
            for s in range(8) for m, d in (("ste", 10.0), (claims.ROT, 12.0), ("rotation_trick", 1.0))]
    frame = pd.DataFrame(rows)
    spec = ClaimSpec("t", "s", "q", "", "dead_codes", "directional", claims.ROT, "ste", sign=-1)
    assert claims.evaluate(spec, frame).verdict == "does not hold"
    assert claims.rt_reading(spec, frame) == "holds"  # read with the rotation trick, fewer dead codes
    assert claims.rt_reading(spec, frame[frame.method != "rotation_trick"]) == ""  # not run: no reading
    both = ClaimSpec("t", "s", "q", "", "dead_codes", "directional", (claims.ROT, "rotation_trick"), "ste", sign=-1, combine="any")
    assert claims.rt_reading(both, frame) == ""  # already names the rotation trick


def test_forest_plot_draws_one_panel_per_claim_with_its_margin():
    from vqlib import plotting

    table = pd.DataFrame({"id": ["a", "a", "b"], "regime": ["r1", "r2", "r1"], "verdict": ["holds", "inconclusive", "does not hold"],
                          "effect": [0.5, 1.0, -3.0], "low": [0.1, -1.0, -4.0], "high": [0.9, 3.0, -2.0], "margin": [2.0, 2.0, float("nan")],
                          "kind": ["equivalence"] * 2 + ["directional"]})
    fig = plotting.forest(table, ["a", "b"], ["r1", "r2"], {"a": "A", "b": "B"}, ncols=2)
    a, b = fig.axes[:2]
    assert a.get_title() == "A" and sorted(round(line.get_xdata()[0], 6) for line in a.lines if line.get_linestyle() == "--") == [-2.0, 2.0]
    assert not [line for line in b.lines if line.get_linestyle() == "--"]  # a directional claim has no margin


def test_forest_plot_shows_every_case_of_every_regime():
    from vqlib import report
    from vqlib.analysis import verdicts

    spec = claims.CLAIMS["scale-85-fewer-dead"]
    cases = [[f"K = {k}", 50.0 + k, 40.0, 60.0 + k] for k in (32, 64, 128)]
    recs = [vars(report.Claim(spec.id, spec.source, spec.quote, "", "m", v, "w", "s", regime=r, margin=85.0, kind=spec.kind,
                              effect=82.0, low=40.0, high=92.0, cases=cases)) for r, v in [("r1", "holds"), ("r2", "inconclusive")]]
    table = pd.DataFrame(recs)
    grid = pd.DataFrame({"r1": ["holds"], "r2": ["inconclusive"], "holds in": ["1 of 2"]}, index=[spec.id])
    ax = verdicts.forest_figure(table, grid).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{r}: K = {k}" for r in ("r1", "r2") for k in (32, 64, 128)]
    assert len([c for c in ax.containers]) == 6  # one interval per regime and case


def test_a_claim_whose_verdict_depends_on_the_regime_has_a_mechanism_or_says_not_identified():
    from vqlib.analysis import verdicts
    from vqlib.claim_mechanisms import MECHANISMS, NOT_IDENTIFIED

    grid = pd.DataFrame({"r1": ["holds", "holds", "does not hold"], "r2": ["does not hold", "holds", "inconclusive"],
                         "holds in": ["", "", ""]}, index=["testbed-usage", "scale-rec-small", "noise-clean"])
    shown = verdicts.mechanisms(grid)
    assert list(shown.claim) == [claims.CLAIMS["testbed-usage"].label, claims.CLAIMS["noise-clean"].label]  # the same verdict: not listed
    assert list(shown.iloc[:, -1]) == [MECHANISMS["testbed-usage"], NOT_IDENTIFIED]
    assert shown["holds in"].iloc[0] == "r1" and shown["inconclusive in"].iloc[1] == "r2"
    assert all(i in claims.CLAIMS and claims.CLAIMS[i].mechanism == m for i, m in MECHANISMS.items())


def test_seeds_to_decide_a_bootstrap_interval_whose_mean_sits_on_the_bound():
    """A reduction's mean a hair from the margin: too many seeds to state (None), not an overflow; else the 1/√n rule."""
    from types import SimpleNamespace

    import numpy as np

    from vqlib import claims
    from vqlib.stats import Interval

    bt = SimpleNamespace(ci=Interval(0.85 + 1e-200, 0.80, 0.90, 5), p_value=lambda c, side: 0.5, dist=np.array([0.8, 0.9]))
    st = claims._boot_stat(bt)
    assert st.n_for(0.85) is None
    assert st.n_for(0.70) == 2  # already clear: the smallest n
    assert st.n_for(0.84) in (125, 126)  # 5 · (0.05 / 0.01)² = 125: the half-width on c's side shrinks as 1/√n


def test_an_unbounded_interval_end_reads_as_infinity_and_is_drawn_to_the_panel_edge():
    """A reduction against a reference whose bootstrap mean can be 0 has a lower end at the clamp's scale (−1e303): the
    text says −∞ and the forest panel keeps the finite values' scale, with an arrow at its edge."""
    from vqlib import plotting, stats

    assert stats.Interval(-7.24, -5.7e303, -0.397, 10).format() == "-7.24 [-∞, -0.397]" and stats.sig(3e300) == "∞"
    assert stats.sig(-724.1) == "-724"
    table = pd.DataFrame({"id": ["a", "a"], "regime": ["r1", "r2"], "verdict": ["does not hold", "holds"], "effect": [-7.24, 0.9],
                          "low": [-5.7e303, 0.86], "high": [-0.397, 0.95], "margin": [0.85, 0.85], "kind": ["size", "size"]})
    ax = plotting.forest(table, ["a"], ["r1", "r2"], {"a": "A"}, ncols=1).axes[0]
    low, high = ax.get_xlim()
    assert -20 < low < -7.24 and high < 20
    assert any(line.get_marker() == "<" for line in ax.lines)
