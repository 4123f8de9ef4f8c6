"""The studies of the scale, subspace and multimodal chapters and the readings built from them (vqlib.analysis.estimators)."""

import numpy as np
import pandas as pd
import pytest
import torch

from vqlib import rd, results, stats
from vqlib.analysis import estimators as est
from vqlib.studies import common, multimodal, scale, subspace

CPU = torch.device("cpu")
TINY = {"seeds": 2, "seed": 0, "D": 8, "m": 2, "steps": 3, "batch_size": 16, "lr": 1e-3, "beta": 0.25, "sigma": 0.1, "lambda_1": 4.0,
        "decay": 0.5, "n_train": 200, "n_eval": 100, "methods": ["ste", "projection", "rotation_trick"],
        "regimes": ["seeds-budget", "ema"], "restart_window": 50}


def _all(study, p):
    """Every task of `study` at p computed and concatenated per table, as results.load does."""
    parts = {}
    for t in study.tasks(p):
        for name, frame in study.compute(t, CPU).items():
            parts.setdefault(name, []).append(frame)
    return {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}


@pytest.fixture(scope="module")
def small_tb():
    torch.set_num_threads(1)
    return common.testbed_data(3, 16, 3, 0.1, 4.0, 0.5, 2000, 500, 0, CPU)


def test_scale_tasks_give_the_rows_of_one_grid_per_K_with_the_chapter_columns():
    p = {**TINY, "K_list": [4, 8], "timing_steps": 2, "timing_repeats": 1}
    assert [(t["part"], t["K"], t.get("regime")) for t in scale.tasks(p)] == [
        ("train", 4, "seeds-budget"), ("train", 4, "ema"), ("train", 8, "seeds-budget"), ("train", 8, "ema"), ("timing", 4, None),
        ("timing", 8, None)]
    res = _all(scale, p)
    final = res["final"]
    tb = common.testbed_data(*(p[k] for k in ("seeds", "D", "m", "sigma", "lambda_1", "decay", "n_train", "n_eval", "seed")), CPU)
    both = common.regime_grids([tb], 8, p["methods"], [0.25], p["regimes"], 3, 16, 1e-3, 0)
    ref = pd.concat([r.final for r in both.values()], ignore_index=True)
    mine = final[final.K == 8].reset_index(drop=True)
    for col in ("regime", "method", "seed", "dead_codes"):
        assert mine[col].tolist() == ref[col].tolist()
    np.testing.assert_array_equal(mine.sq_error.to_numpy(), ref.sq_error.to_numpy())  # a task is the same computation
    np.testing.assert_allclose(mine.gap_db, 10 * np.log10(mine.sq_error / rd.gaussian_dr(tb.covariance_eigenvalues, 3.0)), rtol=1e-9)
    np.testing.assert_allclose(final.dead_pct, 100 * final.dead_codes / final.K)
    assert final.first_3_seeds.all() and len(final) == 2 * 2 * 3 * 2
    assert {"entropy_bits", "perplexity", "recon_mse", "excess_sq_error", "z_norm"} <= set(final.columns)
    assert sorted(zip(res["times"].K, res["times"].method)) == sorted((K, m) for K in (4, 8) for m in p["methods"])
    assert set(res["history"].step) == {0, 3}
    assert "seconds_per_step" in scale.UNVERIFIED


def test_time_methods_times_every_method(small_tb):
    t = common.time_methods(small_tb, 8, ["ste", "projection"], 3, 32, 1e-2, 0.25, 0, 2)
    assert sorted(zip(t.method, t.repeat)) == [("projection", 0), ("projection", 1), ("ste", 0), ("ste", 1)]
    assert (t.seconds_per_step > 0).all()


def test_leakage_is_zero_for_the_true_subspace_and_full_for_its_complement(small_tb):
    run = common.regime_grids([small_tb], 4, ["ste"], [0.25], ["seeds-budget"], 1, 16, 1e-3, 0)["seeds-budget"]
    A = small_tb.A[torch.tensor(run.slices.seed.to_list())]
    with torch.no_grad():
        run.model.encoder.copy_(A.transpose(1, 2))
    np.testing.assert_allclose(subspace.leakage_pct(run, small_tb), 0.0, atol=1e-8)
    q = torch.linalg.qr(torch.cat([A, torch.randn(A.shape[0], A.shape[1], 3, generator=torch.Generator().manual_seed(0))], -1))[0]
    with torch.no_grad():
        run.model.encoder.copy_(q[..., 3:].transpose(1, 2))  # orthogonal to the signal
    np.testing.assert_allclose(subspace.leakage_pct(run, small_tb), 100.0, rtol=1e-6)


def test_pca_finds_a_clean_subspace_and_a_random_start_does_not():
    tb = common.testbed_data(2, 32, 2, 0.01, 4.0, 0.5, 4000, 100, 0, CPU)
    assert (subspace.pca_angles(tb).angle_deg < 1.0).all()
    res = _all(subspace, {**TINY, "D": 32, "K": 4, "eval_every": 1, "regimes": ["ema"]})
    start = res["history"][res["history"].step == 0]
    assert (start.angle_encoder_deg > 30).all()  # a random 2-dimensional subspace of R^32 is far from the signal's
    assert {"leakage_pct", "gap_db", "angle_decoder_deg", "subspace_distortion"} <= set(res["final"].columns)
    assert len(res["pca"]) == 2 and set(res["history"].step) == {0, 1, 2, 3}


def test_multimodal_task_holds_every_method_then_the_kmeans_reference():
    p = {**TINY, "K": 8, "n_clusters": 4, "center_scale": 3.0, "cluster_std": 0.2, "kmeans_iters": 10}
    final = _all(multimodal, p)["final"]
    per_regime = p["methods"] + ["pca_lloyd"]
    assert final.method.drop_duplicates().tolist() == per_regime
    assert final.groupby("regime", sort=False).method.apply(lambda s: s.drop_duplicates().tolist()).tolist() == [per_regime] * 2
    mix = multimodal.mixture_data(*(p[k] for k in ("seeds", "D", "m", "n_clusters", "center_scale", "cluster_std", "sigma",
                                                   "n_train", "n_eval", "seed")), CPU)
    ref = common.pca_lloyd(mix, 8, 10, 0)
    for r in p["regimes"]:  # PCA + k-means trains nothing: the same rows in every regime
        km = final[(final.regime == r) & (final.method == "pca_lloyd")]
        np.testing.assert_array_equal(km.purity.to_numpy(), ref.purity.to_numpy())
    assert final.purity.between(0.25, 1.0).all()


def test_multimodal_converged_regime_stops_on_a_validation_draw_apart_from_the_evaluation_set():
    """The mixture draws a validation set beside the held-out one (same size, other vectors), and a converging task's
    final rows carry each slice's stop step and whether its rule met; the k-means reference has neither."""
    p = {**TINY, "K": 8, "n_clusters": 4, "center_scale": 3.0, "cluster_std": 0.2, "kmeans_iters": 10, "regimes": ["converged"]}
    mix = multimodal.mixture_data(*(p[k] for k in ("seeds", "D", "m", "n_clusters", "center_scale", "cluster_std", "sigma",
                                                   "n_train", "n_eval", "seed")), CPU)
    assert mix.x_val.shape == mix.x_eval.shape == (2, 100, 8) and mix.labels_eval.shape == (2, 100)
    assert not any(torch.equal(a, b) for a in mix.x_val.reshape(-1, 8)[:20] for b in mix.x_eval.reshape(-1, 8))
    final = _all(multimodal, p)["final"]
    trained = final[final.method != "pca_lloyd"]
    assert trained.stop_step.notna().all() and trained.met_rule.notna().all()
    assert final[final.method == "pca_lloyd"].met_rule.isna().all()


def test_results_load_computes_once_then_reads(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RUN_STORE_ENV, str(tmp_path))
    p = {**TINY, "K": 4, "n_clusters": 2, "center_scale": 3.0, "cluster_std": 0.2, "kmeans_iters": 5, "regimes": ["ema"], "device": "cpu"}
    first = results.load("multimodal", p)["final"]
    monkeypatch.setattr(results, "compute", lambda *a, **k: pytest.fail("a stored task was computed again"))
    again = results.load("multimodal", p)["final"]
    pd.testing.assert_frame_equal(first, again)


def _frame():
    rows = []
    for regime in ("a", "b"):
        for method, shift in (("ste", 0.0), ("projection", 1.0)):
            for seed in range(4):
                rows.append({"regime": regime, "method": method, "seed": seed, "x": seed + shift * (1 + seed % 2), "y": 2.0 + seed})
    return pd.DataFrame(rows)


def test_paired_table_is_stats_paired_per_group():
    f = _frame()
    table = est.paired_table(f, {"regime": ["b", "a"]}, ["projection"], [("x − STE", "difference", "x"), ("y (%)", "relative", "y"),
                                                                        ("x cut (%)", "reduction", "x")], {"projection": "P"})
    assert table.regime.tolist() == ["b", "a"] and table.method.tolist() == ["P", "P"]
    a, b = f[(f.regime == "b") & (f.method == "ste")].x, f[(f.regime == "b") & (f.method == "projection")].x
    assert table["x − STE"][0] == stats.paired(a, b).difference.format() == "1.50 [0.581, 2.42]"
    assert table["y (%)"][0] == "0.00 [0.00, 0.00]"
    assert table["x cut (%)"][0] == stats.reduction_bootstrap(a, b)[0].scaled(100).format()
    with pytest.raises(ValueError, match="kind must be"):
        est.paired_table(f, {"regime": ["a"]}, ["projection"], [("x", "ratio", "x")], {"projection": "P"})


def test_verdict_values_and_regime_dependence():
    outcomes = pd.DataFrame({"id": ["c1", "c1", "c2", "c2"], "regime": ["r1", "r2", "r1", "r2"],
                             "verdict": ["holds", "does not hold", "holds", "holds"], "measured": ["m11", "m12", "m21", "m22"]})
    verdicts = pd.DataFrame({"r1": ["holds", "holds"], "r2": ["does not hold", "holds"], "holds in": ["1 of 2", "2 of 2"]},
                            index=["c1", "c2"])
    out = est.verdict_values("x", ["c1", "c2"], ["one", "two"], outcomes, verdicts, ["r1", "r2"])
    assert out == {"x_v_one": "r1: holds; r2: does not hold (holds in 1 of 2)", "x_m_one": "m11",
                   "x_v_two": "r1: holds; r2: holds (holds in 2 of 2)", "x_m_two": "m21"}
    assert est.regime_dependence(["c1", "c2"], verdicts, ["r1", "r2"]) == ("c1", "c2")
    assert est.regime_dependence(["c2"], verdicts, ["r1", "r2"]) == ("none", "c2")


def test_time_table_medians_and_ratios():
    times = pd.DataFrame({"K": [8] * 4, "method": ["ste", "projection"] * 2, "repeat": [0, 0, 1, 1],
                          "seconds_per_step": [0.001, 0.003, 0.003, 0.005]})
    shown = est.time_table(times, ["ste", "projection"], {"ste": "S", "projection": "P"})
    assert shown.columns.tolist() == ["K", "S (ms)", "P (ms)", "P / STE"]
    assert shown.iloc[0].tolist() == [8, "2", "4", "2"]


def test_subspace_readings_fall_back_to_the_last_evaluation_before_the_early_step():
    h = pd.DataFrame({"method": "ste", "seed": [0, 1] * 3, "step": [0, 0, 300, 300, 600, 600], "dead_codes": [4, 6, 2, 2, 0, 0],
                      "angle_encoder_deg": [89.0, 87.0, 50.0, 52.0, 1.0, 1.0], "angle_decoder_deg": [88.0, 88.0, 40.0, 40.0, 1.0, 1.0]})
    out = est.subspace_readings(h, pd.DataFrame({"angle_deg": [1.0, 1.0]}), ["ste"], {"ste": "S"})
    assert out["early"] == 300 and out["early_dead"] == "S 2.00 [2.00, 2.00]" and out["early_angles"] == "S 40.0 [40.0, 40.0]°"
    assert out["start_angle"] == stats.mean_ci([89.0, 87.0]).format() and out["pca_angle"] == "1.00 [1.00, 1.00]"
