"""Claims as data: the verdict rules, multi-case claims, p-values consistent with the CI, Holm (the convention: test_claim_convention)."""

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from vqlib import claims
from vqlib.claims import ClaimSpec


def _frame(a, b, **extra):
    n = len(a)
    rows = [{"method": "a", "seed": s, "v": a[s], **extra} for s in range(n)]
    rows += [{"method": "b", "seed": s, "v": b[s], **extra} for s in range(n)]
    return pd.DataFrame(rows)


def _spec(kind, **kw):
    return ClaimSpec("t", "src", "quote", "", kw.pop("metric", "v"), kind, "b", kw.pop("a", "a"), **kw)


rng = np.random.default_rng(0)
BASE = 10 + rng.normal(0, 1, 20)
NOISE = rng.normal(0, 0.01, 20)


@pytest.mark.parametrize(
    "shift, verdict",
    [(0.0, "holds"), (0.5, "does not hold"), (0.2, "inconclusive"), (-0.5, "does not hold")],
)
def test_equivalence_rule(shift, verdict):
    # relative differences ≈ shift/10 ± 0.1 %: inside ±2 % (0), outside (±5 %), straddling the margin (2 %)
    frame = _frame(BASE, BASE * (1 + shift / 10 + NOISE * (10 if shift == 0.2 else 1)))
    out = claims.evaluate(_spec("equivalence", margin=0.02, relative=True), frame)
    assert out.verdict == verdict, out


@pytest.mark.parametrize("sign, shift, verdict", [(1, 1.0, "holds"), (1, -1.0, "does not hold"), (-1, -1.0, "holds"),
                                                  (1, 0.0, "does not hold"), (1, 0.001, "inconclusive")])
def test_directional_rule(sign, shift, verdict):
    b = BASE + shift + (NOISE if shift else 0)
    out = claims.evaluate(_spec("directional", sign=sign), _frame(BASE, b))
    assert out.verdict == verdict, out


@pytest.mark.parametrize("threshold, verdict", [(9.0, "holds"), (11.0, "does not hold"), (10.0, "inconclusive")])
def test_size_rule_on_a_level(threshold, verdict):
    frame = _frame(BASE, BASE)
    out = claims.evaluate(_spec("size", a=None, margin=threshold), frame)
    assert out.verdict == verdict


def test_a_claim_over_several_cases_needs_every_case():
    f = pd.concat([_frame(BASE, BASE + 1, K=8), _frame(BASE, BASE - 1, K=16), _frame(BASE, BASE + rng.normal(0, 3, 20), K=32)])
    up = lambda *where: claims.evaluate(_spec("directional", where=tuple({"K": k} for k in where)), f).verdict  # noqa: E731
    assert up(8) == "holds"
    assert up(8, 16) == "does not hold"
    assert up(8, 32) == "inconclusive"
    assert len(claims.evaluate(_spec("directional", where=({"K": 8}, {"K": 32})), f).cases) == 2


def test_p_value_agrees_with_the_ci_decision():
    for shift in np.linspace(0.0, 0.6, 13):
        frame = _frame(BASE, BASE * (1 + shift / 10 + 10 * NOISE))
        out = claims.evaluate(_spec("equivalence", margin=0.02, relative=True), frame)
        if out.verdict == "inconclusive":
            assert math.isnan(out.p_value)
        else:
            assert out.p_value < claims.ALPHA, (shift, out)  # one-sided, 2.5 % per side (was: doubled, < 0.05)


def test_half_width_is_the_cis():
    frame = _frame(BASE, BASE + NOISE)
    out = claims.evaluate(_spec("equivalence", margin=0.1), frame)
    ci = out.cases[0][1]
    assert out.half_width == pytest.approx((ci.high - ci.low) / 2)
    assert "vs margin 0.100" in out.measured()


def test_holm_matches_statsmodels_and_demotes_weak_verdicts():
    table = pd.DataFrame({"verdict": ["holds", "does not hold", "holds", "inconclusive", "not testable"],
                          "p_value": [0.001, 0.04, 0.03, np.nan, np.nan]})
    out = claims.holm(table)
    _, adj, _, _ = multipletests([0.001, 0.04, 0.03], alpha=claims.ALPHA, method="holm")
    np.testing.assert_allclose(out.p_holm.iloc[:3], adj)
    assert out.verdict_holm.tolist() == ["holds", "inconclusive", "inconclusive", "inconclusive", "not testable"]


def test_bad_specs_are_rejected_by_name():
    with pytest.raises(ValueError, match="kind"):
        _spec("bigger")
    with pytest.raises(ValueError, match="margin"):
        _spec("equivalence")
    with pytest.raises(ValueError, match="unknown claim"):
        claims.get("nope")


def test_registry_claims_are_well_formed():
    for cid, spec in claims.CLAIMS.items():
        assert cid == spec.id and spec.quote and spec.source and spec.criterion()


def test_reduction_claims_use_a_bca_interval_that_stays_below_100_percent():
    a = 10 + rng.integers(0, 5, 20).astype(float)
    b = rng.integers(0, 2, 20).astype(float)
    spec = _spec("size", margin=0.85, reduction=True)
    out = claims.evaluate(spec, _frame(a, b))
    ci = out.cases[0][1]
    assert ci.high <= 1.0 and ci.low > 0.85 and out.verdict == "holds" and out.p_value <= claims.ALPHA
    assert claims.evaluate(_spec("size", margin=0.99, reduction=True), _frame(a, b)).verdict == "does not hold"


def test_any_combination_needs_one_case_and_also_needs_every_part():
    f = pd.concat([_frame(BASE, BASE + 1, K=8), _frame(BASE, BASE - 1, K=16)])
    f["w"] = f.v * 0 + (f.method == "b") * 1.0
    anyk = _spec("directional", where=({"K": 8}, {"K": 16}), combine="any")
    assert claims.evaluate(anyk, f).verdict == "holds"
    down = _spec("directional", sign=-1, metric="w", where=({"K": 8},))
    both = ClaimSpec("t", "s", "q", "", "v", "directional", "b", "a", where=({"K": 8}, {"K": 16}), combine="any", also=(down,))
    assert claims.evaluate(both, f).verdict == "does not hold"
    assert "and" in both.criterion()


def test_any_of_several_methods_is_judged_on_those_the_regime_ran():
    """A regime may leave a method out (e.g. SimVQ under EMA): "any of these" is then judged on the others; all left out: not testable."""
    f = _frame(BASE, BASE + 1)
    several = ClaimSpec("t", "s", "q", "", "v", "directional", ("b", "c"), "a", combine="any")
    out = claims.evaluate(several, f)
    assert out.verdict == "holds" and [label for label, _, _ in out.cases] == ["b"]
    every = ClaimSpec("t", "s", "q", "", "v", "directional", ("b", "c"), "a")  # "all of these": c's absence is no pass
    with pytest.raises(claims.NotMeasured, match="'c'"):
        claims.evaluate(every, f)
    with pytest.raises(claims.NotMeasured, match="'c'"):
        claims.evaluate(ClaimSpec("t", "s", "q", "", "v", "directional", ("c", "d"), "a", combine="any"), f)


def test_cluster_agreement_is_sklearns_and_ignores_relabelling():
    import torch
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from vqlib import metrics

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(4, (2, 300), generator=g)
    idx = torch.where(torch.rand(2, 300, generator=g) < 0.8, labels * 3 + 1, torch.randint(12, (2, 300), generator=g))
    nmi, ari = metrics.cluster_agreement(idx, labels)
    assert nmi[1] == pytest.approx(normalized_mutual_info_score(labels[1].numpy(), idx[1].numpy()))
    assert ari[0] == pytest.approx(adjusted_rand_score(labels[0].numpy(), idx[0].numpy()))
    n2, a2 = metrics.cluster_agreement((idx * 7) % 13, labels)  # a bijective relabelling of the codes
    assert torch.allclose(n2, nmi) and torch.allclose(a2, ari)


def test_noise_floor_is_the_off_subspace_noise():
    from vqlib import metrics

    assert metrics.noise_floor(64, 4, 0.1) == pytest.approx(60 * 0.01)
    with pytest.raises(ValueError, match="m"):
        metrics.noise_floor(4, 8, 0.1)


def test_by_regime_counts_holds_and_changes_compare_with_before():
    table = pd.DataFrame({"id": ["c1", "c1", "c2", "c3"], "regime": ["r1", "r2", "r1", ""],
                          "verdict": ["holds", "does not hold", "holds", "not testable"]})
    grid = claims.by_regime(table, ["r1", "r2"])
    assert list(grid.index) == ["c1", "c2"]
    assert grid.loc["c1", "holds in"] == "1 of 2" and grid.loc["c2", "holds in"] == "1 of 1" and grid.loc["c2", "r2"] == ""
    before = pd.DataFrame({"id": ["c1", "c3", "c4"], "verdict": ["does not hold", "not testable", "holds"]})
    ch = claims.changes(table, before).set_index("id").changed
    assert ch["c1"] == "changed in 1 of 2" and ch["c2"] == "new" and ch["c3"] == "unchanged" and ch["c4"] == "dropped"


def test_record_marks_a_claim_whose_cases_are_missing_not_testable(monkeypatch):
    seen = []
    monkeypatch.setattr(claims.report, "claim", lambda *a, **k: seen.append((a, k)))
    spec = _spec("directional", where=({"K": 999},))
    out = claims.record(spec, _frame(BASE, BASE + 1).assign(K=8), "ema")
    assert out.verdict == "not testable" and seen[0][0][5] == "not testable" and seen[0][1]["regime"] == "ema"
    assert "K = 999" in seen[0][0][4]


def test_regimes_parameter_names_the_allowed_regimes():
    from vqlib import params

    assert params.check({"regimes": ["ema", "sgd"]}) == {"regimes": ["ema", "sgd"]}
    with pytest.raises(ValueError, match=r"regimes\[1\] must be one of .*'seeds-budget'"):
        params.check({"regimes": ["ema", "adamw"]})


def _cn_frame(delta: dict, n: int = 12) -> pd.DataFrame:
    """A synthetic commitment/noise frame: rotation = STE + delta[metric] per case, with a little noise."""
    r = np.random.default_rng(1)
    rows = []
    cases = [{"sweep": "beta", "start": st, "beta": b, "sigma": 0.1} for st in ("standard",) + claims.COLLAPSED
             for b in claims.LOW_BETAS + claims.STRONG_BETAS]
    cases += [{"sweep": "sigma", "start": "standard", "beta": 0.25, "sigma": s} for s in claims.SIGMAS]
    cases += [{"sweep": "beta_range", "start": "standard", "beta": np.nan, "sigma": np.nan}]
    for case in cases:
        for s in range(n):
            base = {"mean_dead_fraction": 0.5, "dead_pct": 20.0, "dead_codes": 6.4, "recon_mse": 1.0, "entropy_bits": 4.0,
                    "overfit": 0.001, "dead_range": 5.0}
            noise = r.normal(0, 1e-3)
            rows.append({**case, "method": "ste", "seed": s, **{k: v + noise for k, v in base.items()}})
            rows.append({**case, "method": claims.ROT, "seed": s,
                         **{k: v + noise + delta.get(k, 0.0) * (1 + r.normal(0, 0.05)) for k, v in base.items()}})
    return pd.DataFrame(rows).assign(noise_floor=0.0)


def test_commitment_noise_claims_follow_their_cases():
    ids = [c for c in claims.CLAIMS if c.startswith(("commitment-", "noise-"))]
    assert len(ids) == 9
    same = _cn_frame({})
    faster = _cn_frame({"mean_dead_fraction": -0.2, "dead_codes": -2.0, "dead_range": -2.0, "entropy_bits": 0.3})
    v = lambda cid, f: claims.evaluate(claims.get(cid), f).verdict  # noqa: E731
    assert v("commitment-low-collapse", faster) == "holds"
    assert v("commitment-low-collapse", same) != "holds"
    assert v("commitment-strong", same) == "holds"  # equal dead codes and MSE from every start
    assert v("commitment-strong", _cn_frame({"dead_pct": 30.0})) == "does not hold"
    assert v("commitment-robustness", faster) == "holds"
    assert v("commitment-rec-low", faster) == "holds"
    assert v("commitment-rec-high", same) == "holds"
    assert v("noise-clean", faster) == "holds"
    assert v("noise-clean", _cn_frame({"entropy_bits": 0.3, "overfit": 0.1})) == "does not hold"  # overfits
    assert v("noise-high", same) == "holds"
    assert v("noise-robust", _cn_frame({"recon_mse": 0.1})) == "does not hold"  # 10 % worse MSE
    # every collapsed start must hold: recovery faster only from the origin collapse is not enough
    f = faster.copy()
    far = (f.start == "collapsed_far") & (f.method == claims.ROT)
    f.loc[far, "mean_dead_fraction"] = f.loc[(f.start == "collapsed_far") & (f.method == "ste"), "mean_dead_fraction"].to_numpy() + 0.2
    assert v("commitment-low-collapse", f) == "does not hold"


def test_convergence_claims_on_a_synthetic_long_run():
    r = np.random.default_rng(2)
    rows = []
    for K in (32, 64):
        for s in range(12):
            e = r.normal(0, 1e-3)
            base = {"steps_to_target": 1000.0, "mean_perplexity": 20.0, "recon_mse": 1.0, "lloyd_gain": 0.05,
                    "dead_codes": 10.0, "entropy_bits": 4.0}
            rows.append({"K": K, "method": "ste", "seed": s, **{k: v * (1 + e) for k, v in base.items()}})
            rot = {**base, "steps_to_target": 1500.0, "mean_perplexity": 25.0, "lloyd_gain": 0.02, "dead_codes": 1.0, "entropy_bits": 4.1}
            rows.append({"K": K, "method": claims.ROT, "seed": s, **{k: v * (1 + e + r.normal(0, 0.01)) for k, v in rot.items()}})
            rows.append({"K": K, "method": "rotation_trick", "seed": s, **{k: v * (1 + e) for k, v in base.items()}})
    f = pd.DataFrame(rows).assign(noise_floor=0.0)
    v = lambda cid: claims.evaluate(claims.get(cid), f).verdict  # noqa: E731
    assert v("convergence-speed") == "does not hold"  # 50 % slower, outside ±20 %
    assert v("convergence-diversity") == "holds"
    assert v("convergence-utilization-differs") == "holds"  # rotation suffices ("any")
    assert v("convergence-final") == "holds"
    assert v("convergence-lloyd") == "holds"
    assert v("convergence-long-85") == "holds"  # 90 % fewer
    assert v("convergence-long-entropy") == "does not hold"  # +2.5 %, below 11 %


def test_steps_to_target_common_target_censors_nothing():
    from vqlib.analysis.convergence import steps_to_target

    h = pd.DataFrame({"seed": 0, "method": ["ste"] * 3 + ["projection"] * 3, "step": [0, 1, 2] * 2,
                      "sq_error": [3.0, 1.1, 1.0, 3.0, 1.5, 1.4]})
    old = steps_to_target(h, "ste", 0.05).set_index("method")
    new = steps_to_target(h, "ste", 0.05, common=True).set_index("method")
    assert not old.loc["projection", "reached"] and old.loc["projection", "steps_to_target"] == 2
    assert new.reached.all()
    # one target for both, 5 % above the worse final value (1.4): 1.47, reached by STE at step 1, by rotation at step 2
    assert new.loc["ste", "steps_to_target"] == 1 and new.loc["projection", "steps_to_target"] == 2
