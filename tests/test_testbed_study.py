"""The testbed study (vqlib.studies.testbed) and the chapter's readings of its tables (vqlib.analysis.testbed)."""

import numpy as np
import pandas as pd
import pytest
import torch

from vqlib import claims, metrics, rd
from vqlib.analysis import testbed as analysis
from vqlib.regimes import rescale
from vqlib.studies import common
from vqlib.studies import testbed as study

TINY = {"seeds": 3, "seed": 0, "D": 8, "m": 2, "K": 4, "steps": 4, "batch_size": 32, "lr": 1e-3, "beta": 0.25, "sigma": 0.1,
        "lambda_1": 4.0, "decay": 0.5, "n_train": 300, "n_eval": 200, "eval_every": 2, "kmeans_iters": 3,
        "estimators": ["ste", "projection", "ste_manual"], "regimes": ["seeds-budget", "ema", "converged", "cosine"]}


@pytest.fixture(scope="module")
def tables():
    torch.set_num_threads(1)
    parts = [study.compute(t, torch.device("cpu")) for t in study.tasks(TINY)]
    names = dict.fromkeys(n for p in parts for n in p)  # a converging regime adds the to_cap table (vqlib.results.load alike)
    return {name: pd.concat([p[name] for p in parts if name in p], ignore_index=True) for name in names}


def test_tasks_are_one_per_regime_with_the_chapter_parameters():
    tasks = study.tasks(TINY)
    assert [t["regime"] for t in tasks] == TINY["regimes"]
    assert all(set(t) == set(study.PARAMS) - {"regimes"} | {"regime"} for t in tasks)


def test_split_tasks_give_the_rows_of_all_regimes_trained_at_once(tables):
    """One task per regime computes what regime_grids computes for every regime in one call (same data, starts, batches)."""
    tb = common.testbed_data(*(TINY[k] for k in ("seeds", "D", "m", "sigma", "lambda_1", "decay", "n_train", "n_eval", "seed")), torch.device("cpu"))
    runs = common.regime_grids([tb], TINY["K"], TINY["estimators"], [TINY["beta"]], TINY["regimes"], TINY["steps"], TINY["batch_size"],
                        TINY["lr"], TINY["seed"], TINY["eval_every"])
    final = tables["final"][tables["final"].method != "pca_lloyd"]
    for r, run in runs.items():
        ours = final[final.regime == r].reset_index(drop=True)
        np.testing.assert_array_equal(ours.sq_error.to_numpy(), run.final.sq_error.to_numpy())
        np.testing.assert_array_equal(ours.dead_codes.to_numpy(), run.final.dead_codes.to_numpy())
        assert tables["steps_run"].set_index("regime").steps[r] == run.steps_run
    f = tables["final"]
    np.testing.assert_allclose(f.excess_sq_error, f.sq_error - metrics.noise_floor(TINY["D"], TINY["m"], TINY["sigma"]))
    np.testing.assert_allclose(f.gap_db, 10 * np.log10(f.sq_error / common.bound(tb, TINY["K"])))
    np.testing.assert_allclose(f.usage_pct, 100 * f.usage)


def test_final_has_every_regime_method_and_seed_and_pca_lloyd_is_the_same_in_every_regime(tables):
    f = tables["final"]
    assert len(f) == len(TINY["regimes"]) * (len(TINY["estimators"]) + 1) * TINY["seeds"]
    assert set(f.method) == set(TINY["estimators"]) | {"pca_lloyd"}
    pl = f[f.method == "pca_lloyd"]
    np.testing.assert_array_equal(*(pl[pl.regime == r].sq_error.to_numpy() for r in TINY["regimes"]))
    h = tables["history"]
    assert set(h.regime) == set(TINY["regimes"]) and {"step", "sq_error", "dead_codes"} <= set(h.columns)


def test_chapter_readings_run_on_the_tiny_tables(tables):
    f, regimes = tables["final"], TINY["regimes"]
    shown, _ = analysis.final_table(f, TINY["estimators"], regimes)
    assert len(shown) == len(regimes) * (len(TINY["estimators"]) + 1) and "MSE (seed)" in shown.columns
    outcomes = claims.record_all(list(analysis.CLAIMS), claims.with_floor(f, TINY["D"], TINY["m"], TINY["sigma"]), regimes)  # as the chapter
    values = analysis.claim_values(outcomes, f, TINY["estimators"], regimes)
    assert values["testbed_first_regime"] == regimes[0] and values["testbed_ste_manual_gap"] == "0.0e+00"  # identical gradients
    assert len(analysis.claims_table(outcomes, regimes)) == len(analysis.CLAIMS)
    cap = rescale("converged", TINY["steps"]).steps
    assert analysis.steps_run(tables["steps_run"]) == {r: cap if r == "converged" else TINY["steps"] for r in regimes}
    assert analysis.met_shares(tables["steps_run"]) == {"converged": 0.0}  # a cap of 160 steps: no check ever ran
    stops = analysis.stops_table(f, TINY["estimators"])
    assert list(stops.regime.unique()) == ["converged"] and (stops.slices == TINY["seeds"]).all()
    shown, worst = analysis.to_cap_table(tables["to_cap"])
    assert len(shown) == len(TINY["estimators"]) and worst == 0.0  # stopped at the cap: nothing to train on
    b = rd.gaussian_dr([4.0 + 0.01, 2.0 + 0.01] + [0.01] * 6, rd.bits(TINY["K"]))
    assert analysis.curves_figure(f, tables["history"], TINY["estimators"], regimes, b, TINY["K"]) is not None


def test_converged_rows_carry_their_stop_steps_and_the_check_reads_its_own_run(tables):
    f = tables["final"]
    conv = f[(f.regime == "converged") & (f.method != "pca_lloyd")]
    cap = rescale("converged", TINY["steps"]).steps
    assert (conv.stop_step == cap).all() and not conv.met_rule.astype(bool).any()
    assert f[f.regime != "converged"].stop_step.isna().all()
    t = tables["to_cap"]
    assert len(t) == min(study.CHECK_SEEDS, TINY["seeds"]) * len(TINY["estimators"]) and (t.cap == cap).all()
    np.testing.assert_allclose(t.excess_cap, t.sq_error_cap - metrics.noise_floor(TINY["D"], TINY["m"], TINY["sigma"]))


def test_to_cap_table_reports_the_change_of_the_mean_error():
    t = pd.DataFrame({"regime": "converged", "method": ["ste", "ste"], "seed": [0, 1], "met_rule": [True, False],
                      "sq_error_stop": [1.0, 3.0], "sq_error_cap": [1.0, 2.96], "excess_stop": [0.5, 2.5], "excess_cap": [0.5, 2.46]})
    shown, worst = analysis.to_cap_table(t)
    assert worst == pytest.approx(1.0) and shown["change (error)"].tolist() == ["-1.00 %"] and shown["met the rule"].tolist() == ["50 %"]
    assert shown["change (excess)"].tolist() == ["-1.33 %"]


def test_per_vector_reading_against_hand_computed_means():
    final = pd.DataFrame({"regime": ["a"] * 4 + ["b"] * 4, "method": ["ste", "ste", "pca_lloyd", "pca_lloyd"] * 2,
                          "sq_error": [1.0, 3.0, 4.0, 4.0, 2.0, 2.0, 3.0, 3.0]})
    reading = analysis.per_vector_reading(final, {"ste": 2.0, "pca_lloyd": 3.0})
    assert list(reading.regime) == ["b", "a"]  # b matches both seed values exactly
    assert reading.mean_abs_rel_dev.tolist() == pytest.approx([0.0, (0 + 1 / 3) / 2])
    shown, _, values = analysis.reading_table(final.assign(sq_error=final.sq_error * 1.2238))
    assert values["testbed_closest_regime"] in {"a", "b"} and len(shown) == 2
