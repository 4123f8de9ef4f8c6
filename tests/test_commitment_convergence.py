"""The commitment-and-noise and convergence studies (vqlib.studies.commitment_noise, convergence, convergence_cost)
and what their chapters derive from them (vqlib.analysis.commitment_noise, convergence)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from vqlib import claims, regimes, stats
from vqlib.analysis import commitment_noise as acn
from vqlib.analysis import convergence as aconv
from vqlib.studies import commitment_noise, common, convergence
from vqlib.studies.common import estimator_grid, regime_grids
from vqlib.studies.common import testbed_data as make_testbed

CPU = torch.device("cpu")
CN = {"seeds": 3, "seed": 0, "D": 16, "m": 3, "K": 8, "steps": 20, "batch_size": 64, "lr": 1e-3, "beta": 0.25, "beta_list": [0.1, 1.0], "sigma": 0.1,
          "sigma_list": [0.0, 0.1, 0.4], "lambda_1": 4.0, "decay": 0.5, "n_train": 600, "n_eval": 200, "eval_every": 10, "collapse_scale": 0.01,
          "methods": ["ste", "projection"], "regimes": ["seeds-budget", "ema"], "restart_window": 50}
CV = {"seeds": 3, "seed": 0, "D": 16, "m": 3, "K_list": [8, 16], "steps": 20, "cap_factor": 0, "batch_size": 64, "lr": 1e-3, "beta": 0.25, "sigma": 0.1, "lambda_1": 4.0,
          "decay": 0.5, "n_train": 600, "n_eval": 200, "eval_every": 10, "lloyd_iters": 3, "methods": ["ste", "projection", "rotation_trick"],
          "regimes": ["seeds-budget", "codebook-lr", "converged"], "restart_window": 50, "timing_steps": 2, "timing_repeats": 2}


@pytest.fixture(scope="module")
def small_tb():
    torch.set_num_threads(1)
    return make_testbed(3, 16, 3, 0.1, 4.0, 0.5, 2000, 500, 0, CPU)


def _load(study, p):
    """Every table of `study` at `p`, its tasks computed here and concatenated in task order (as results.load does)."""
    parts = [study.compute(t, CPU) for t in study.tasks({k: p[k] for k in study.PARAMS})]
    return {name: pd.concat([t[name] for t in parts], ignore_index=True) for name in parts[0]}


@pytest.fixture(scope="module")
def cn_res():
    torch.set_num_threads(1)
    return _load(commitment_noise, CN)


@pytest.fixture(scope="module")
def cv_res():
    torch.set_num_threads(1)
    return _load(convergence, CV)


# --- commitment and noise ------------------------------------------------------------------------------------


def test_commitment_starts_are_the_claims_collapsed_ones():
    assert commitment_noise.STARTS == ("standard",) + tuple(claims.COLLAPSED)


def test_commitment_tasks_split_by_regime_give_the_rows_of_one_grid_over_all_regimes(cn_res):
    tb = make_testbed(CN["seeds"], CN["D"], CN["m"], CN["sigma"], CN["lambda_1"], CN["decay"], CN["n_train"], CN["n_eval"], CN["seed"], CPU)
    runs = regime_grids([tb], CN["K"], CN["methods"], CN["beta_list"], CN["regimes"], CN["steps"], CN["batch_size"], CN["lr"], CN["seed"],
                        CN["eval_every"], CN["restart_window"], starts=list(commitment_noise.STARTS), collapse_scale=CN["collapse_scale"])
    together = pd.concat([r.history for r in runs.values()], ignore_index=True)
    pd.testing.assert_frame_equal(cn_res["beta_history"], together)
    n = len(CN["regimes"]) * len(CN["beta_list"]) * 3 * len(CN["methods"]) * CN["seeds"]
    assert len(cn_res["beta_final"]) == n
    assert len(cn_res["sigma_final"]) == len(CN["regimes"]) * len(CN["sigma_list"]) * len(CN["methods"]) * CN["seeds"]


def test_commitment_claim_frame_has_every_sweep_and_the_claims_run_on_it(cn_res):
    frame = acn.claim_frame(cn_res, CN["K"], CN["sigma"], CN["sigma_list"], CN["regimes"])
    assert set(frame.sweep) == {"beta", "beta_range", "sigma"}
    beta = frame[frame.sweep == "beta"]
    assert beta[beta.start == "standard"].mean_dead_fraction.isna().all()
    assert beta[beta.start != "standard"].mean_dead_fraction.between(0, 1).all()
    sig = frame[frame.sweep == "sigma"]
    assert sorted(set(sig.sigma)) == sorted(CN["sigma_list"])
    # the train-test gap: held-out over training recon MSE, minus one
    sf = cn_res["sigma_final"]
    np.testing.assert_allclose(sig.overfit.to_numpy(), sf.recon_mse.to_numpy() / sf.train_recon_mse.to_numpy() - 1)
    rng = frame[frame.sweep == "beta_range"]
    assert len(rng) == len(CN["regimes"]) * len(CN["methods"]) * CN["seeds"] and (rng.dead_range >= 0).all()
    ids = [c for c in claims.CLAIMS if c.startswith(("commitment-", "noise-"))]
    outcomes = claims.record_all(ids, claims.with_floor(frame, CN["D"], CN["m"]), CN["regimes"])  # as the chapter judges them
    values = aconv.regime_verdict_values(outcomes, claims.by_regime(outcomes, CN["regimes"]), ids, CN["regimes"], "cn")
    assert {"cn_depends", "cn_independent", "cn_v_noise_high", "cn_m_noise_high"} <= set(values)


def test_evaluate_training_sets_uses_the_training_vectors(small_tb):
    run = estimator_grid([small_tb], 8, ["ste", "projection"], [0.25], 5, 64, 1e-2, 0, 0)
    on_train = commitment_noise.evaluate_training_sets(run, [small_tb])
    ref = run.model.evaluate(small_tb.x_train[torch.tensor(run.slices.seed.to_list())])
    np.testing.assert_allclose(on_train.recon_mse.to_numpy(), ref["recon_mse"].numpy(), rtol=1e-4)
    with pytest.raises(ValueError, match="datasets"):
        commitment_noise.evaluate_training_sets(run, [small_tb, small_tb])


# --- convergence -------------------------------------------------------------------------------------------


def test_convergence_tasks_are_k_major_and_final_table_has_what_the_chapter_reads(cv_res):
    tasks = convergence.tasks({k: CV[k] for k in convergence.PARAMS})
    assert [(t["K"], t["regime"]) for t in tasks] == [(K, r) for K in CV["K_list"] for r in CV["regimes"]]
    final = aconv.final_table(cv_res)
    assert len(final) == len(CV["K_list"]) * len(CV["regimes"]) * len(CV["methods"]) * CV["seeds"]
    assert {"steps_to_target", "reached", "mean_perplexity", "lloyd_gain", "recon_mse", "dead_codes", "entropy_bits"} <= set(final.columns)
    assert final.reached.all()  # the common target is reached by every run
    h = cv_res["history"]
    mean_pp = h[(h.K == 8) & (h.regime == "seeds-budget") & (h.method == "ste") & (h.seed == 1)].perplexity.mean()
    row = final[(final.K == 8) & (final.regime == "seeds-budget") & (final.method == "ste") & (final.seed == 1)]
    assert row.mean_perplexity.item() == pytest.approx(mean_pp)
    ids = [c for c in claims.CLAIMS if c.startswith("convergence-")]
    outcomes = claims.record_all(ids, final, CV["regimes"])
    assert set(outcomes.regime) == set(CV["regimes"])


def test_convergence_task_equals_the_chapters_one_grid_per_k(cv_res):
    tb = make_testbed(CV["seeds"], CV["D"], CV["m"], CV["sigma"], CV["lambda_1"], CV["decay"], CV["n_train"], CV["n_eval"], CV["seed"], CPU)
    runs = regime_grids([tb], 16, CV["methods"], [CV["beta"]], CV["regimes"], CV["steps"], CV["batch_size"], CV["lr"], CV["seed"],
                        CV["eval_every"], CV["restart_window"])
    h = cv_res["history"]
    for r, run in runs.items():
        ours = h[(h.K == 16) & (h.regime == r)].drop(columns="K").reset_index(drop=True)
        assert ours.drop(columns=run.history.columns).isna().all().all()  # only the converged regime has val_excess
        pd.testing.assert_frame_equal(ours[run.history.columns], run.history)


def test_time_methods_times_every_method(small_tb):
    t = common.time_methods(small_tb, 8, ["ste", "projection"], 3, 32, 1e-2, 0.25, 0, 2)
    assert sorted(zip(t.method, t.repeat)) == [("projection", 0), ("projection", 1), ("ste", 0), ("ste", 1)]
    assert (t.seconds_per_step > 0).all()


def test_cost_table_overhead_is_the_geometric_mean_ratio_minus_one():
    times = pd.DataFrame({"method": ["ste", "projection"] * 3, "repeat": [0, 0, 1, 1, 2, 2],
                          "seconds_per_step": [1.0, 1.1, 2.0, 2.2, 1.5, 1.65]})  # projection 10 % slower on every repeat
    table, text = aconv.cost_table(times, ["projection", "ste"], "projection")
    assert list(table["overhead vs STE (%)"]) == [stats.Interval(10.0, 10.0, 10.0, 3).format(), "–"]
    assert text.startswith(("+10", "10"))


def test_recovery_and_steps_to_target_on_a_handmade_history():
    h = pd.DataFrame({
        "data": 0, "start": "collapsed", "beta": 0.25, "seed": 0,
        "method": ["ste"] * 3 + ["projection"] * 3,
        "step": [0, 10, 20] * 2,
        "dead_codes": [8, 2, 0, 8, 8, 4],
        "sq_error": [5.0, 2.0, 1.0, 5.0, 3.0, 1.04],
    })
    rec = aconv.recovery(h, 8, 0.25).set_index("method")
    assert rec.loc["ste", "mean_dead_fraction"] == pytest.approx(10 / 24)
    assert rec.loc["ste", "recovery_step"] == 10
    assert math.isnan(rec.loc["projection", "recovery_step"])
    spd = aconv.steps_to_target(h, "ste", 0.05).set_index("method")
    assert spd.loc["ste", "steps_to_target"] == 20 and spd.loc["projection", "steps_to_target"] == 20
    spd = aconv.steps_to_target(h, "ste", 1.5).set_index("method")
    assert spd.loc["ste", "steps_to_target"] == 10 and spd.loc["projection", "steps_to_target"] == 20
    assert spd.reached.all()


def test_convergence_final_has_each_converged_slices_stop_and_the_readings_state_the_share(cv_res):
    f = cv_res["final"]
    conv = f[f.regime == "converged"]
    cap = regimes.rescale("converged", CV["steps"], CV["lr"]).steps
    assert conv.stop_step.notna().all() and (conv.stop_step <= cap).all() and f[f.regime != "converged"].stop_step.isna().all()
    share = {K: 100 * g.met_rule.astype(bool).mean() for K, g in conv.groupby("K")}
    text = aconv.readings(cv_res["history"], CV["regimes"], CV["K_list"], CV["steps"], CV["lr"], f)["conv_met_share"]
    assert text == ", ".join(f"{v:.0f} % at K = {K}" for K, v in share.items())


def test_convergence_cap_factor_caps_the_converged_regime_at_a_multiple_of_steps():
    torch.set_num_threads(1)
    p = {**CV, "K_list": [8], "regimes": ["converged"], "cap_factor": 3}
    out = convergence.compute(convergence.tasks(p)[0], CPU)
    assert out["final"].stop_step.max() <= 3 * p["steps"] and out["history"].step.max() <= 3 * p["steps"]
    assert aconv.readings(out["history"], p["regimes"], p["K_list"], p["steps"], p["lr"], out["final"], 3)["conv_cap"] == 60
