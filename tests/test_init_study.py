"""The initialization study: R(D)-optimal codes, codebook-only training, and the chapter's experiment helpers."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from vqlib import claims, data, init, metrics, params, quantize, rd, report, stats, train
from vqlib.analysis import initialization as ia
from vqlib.runner import chapters
from vqlib.studies import common
from vqlib.studies import initialization as st

# --- rd_optimal -------------------------------------------------------------------------------------


def test_rd_optimal_covariance_matches_water_filling():
    # λ = (4, 2, 1, 0.5) at R = log2 8 = 3 bits: θ = 0.5, so the reproduction variances are (3.5, 1.5, 0.5, 0).
    lam = [4.0, 2.0, 1.0, 0.5]
    expected = rd.reverse_water_filling(lam, 3.0).reproduction_variances
    np.testing.assert_allclose(expected, [3.5, 1.5, 0.5, 0.0])
    codes = init.rd_optimal(lam, 8, n_seeds=20000, seed=0).double().reshape(-1, 4)  # n = 160 000 independent codes
    n = codes.shape[0]
    cov = torch.cov(codes.T).numpy()
    # A Gaussian sample variance has standard error σ²·sqrt(2/(n−1)) and a sample covariance of independent
    # coordinates σ_i σ_j / sqrt(n): 5 standard errors bound a false failure at about 6e-7 per entry.
    se_var = expected * math.sqrt(2 / (n - 1))
    np.testing.assert_array_less(np.abs(np.diag(cov) - expected), 5 * se_var + 1e-12)
    sd = np.sqrt(expected)
    off = ~np.eye(4, dtype=bool)
    assert np.all(np.abs(cov[off]) <= (5 * np.outer(sd, sd) / math.sqrt(n))[off] + 1e-12)
    # and the mean is 0 within 5 standard errors σ/sqrt(n)
    assert np.all(np.abs(codes.mean(0).numpy()) <= 5 * sd / math.sqrt(n) + 1e-12)


def test_rd_optimal_gives_no_spread_to_components_below_the_water_level():
    # λ = (4, 1, 0.25) at R = 2 bits (K = 4): θ = 0.5 ≥ 0.25, so the third component gets no bits.
    codes = init.rd_optimal([4.0, 1.0, 0.25], 4, n_seeds=50, seed=1)
    assert codes.shape == (50, 4, 3)
    assert torch.all(codes[..., 2] == 0)
    assert torch.all(codes[..., :2].std((0, 1)) > 0.3)
    # K = 1 carries no bits: θ = λ_max and every code sits at the mean.
    assert torch.all(init.rd_optimal([4.0, 1.0], 1, n_seeds=3) == 0)


def test_rd_optimal_takes_one_spectrum_per_seed():
    lam = np.array([[4.0, 1.0], [1.0, 4.0]])  # the same spectrum, coordinates swapped in the second seed
    codes = init.rd_optimal(lam, 2, seed=0)  # R = 1 bit: θ = 2 for both, variances (2, 0) and (0, 2)
    assert codes.shape == (2, 2, 2)
    assert torch.all(codes[0, :, 1] == 0) and torch.all(codes[1, :, 0] == 0)
    assert torch.all(codes[0, :, 0] != 0) and torch.all(codes[1, :, 1] != 0)


def test_rd_optimal_is_reproducible_from_its_seed():
    assert torch.equal(init.rd_optimal([2.0, 1.0], 16, 3, seed=7), init.rd_optimal([2.0, 1.0], 16, 3, seed=7))
    assert not torch.equal(init.rd_optimal([2.0, 1.0], 16, 3, seed=7), init.rd_optimal([2.0, 1.0], 16, 3, seed=8))


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        (([1.0, -2.0], 8), {}, "eigenvalues"),
        (([1.0, float("nan")], 8), {}, "eigenvalues"),
        (("abc", 8), {}, "eigenvalues"),
        (([], 8), {}, "eigenvalues"),
        ((np.ones((2, 2, 2)), 8), {}, "eigenvalues"),
        (([1.0, 2.0], 0), {}, "K"),
        (([1.0, 2.0], 8), {"n_seeds": 0}, "n_seeds"),
        ((np.ones((3, 2)), 8), {"n_seeds": 2}, "n_seeds"),
    ],
)
def test_rd_optimal_rejects_bad_input_naming_the_parameter(args, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        init.rd_optimal(*args, **kwargs)


def test_rd_optimal_from_encoded_vectors_samples_in_their_eigenbasis():
    # z = μ + U diag(3, 1, 0.1) ε in a rotated basis U. At K = 4 (2 bits) reverse water-filling on
    # (9, 1, 0.01) gives θ = 0.75: variances (8.25, 0.25, 0) along U's columns.
    gen = torch.Generator().manual_seed(0)
    S, N = 1000, 4000
    U = data.random_orthonormal(1, 3, 3, gen)[0].double()
    mu = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    z = (mu + (torch.randn(S, N, 3, generator=gen, dtype=torch.float64) * torch.tensor([3.0, 1.0, 0.1])) @ U.T).float()
    codes = init.codebook("rd_optimal", z, 4, seed=3).double()
    coords = ((codes - mu) @ U).reshape(-1, 3)  # 4000 codes in the true eigenbasis
    # No spread along the third axis: only the estimation error of the mean and eigenvectors remains
    # (about 0.1/sqrt(N) and a few 1e-3 rad times a spread of ~3): far below 0.05.
    assert coords[:, 2].abs().max() < 0.05
    # The variances along the first two axes: 4000 codes give a relative standard error of sqrt(2/4000) = 2.2 %,
    # plus the per-seed estimate of θ; 5 standard errors, 11 %, bound them.
    var = coords.var(0)
    assert var[0].item() == pytest.approx(8.25, rel=0.11)
    assert var[1].item() == pytest.approx(0.25, rel=0.11)
    assert coords[:, :2].mean(0).abs().max() < 5 * math.sqrt(8.25 / 4000)


def test_rd_optimal_from_handles_a_flat_direction():
    z = torch.randn(2, 500, 3, generator=torch.Generator().manual_seed(0))
    z[..., 2] = 3.0  # zero variance: the eigenvalue is floored, gets no bits, and the codes sit at the mean
    codes = init.codebook("rd_optimal", z, 16, seed=0)
    assert torch.isfinite(codes).all()
    assert torch.allclose(codes[..., 2], torch.full_like(codes[..., 2], 3.0), atol=1e-5)


def test_rd_optimal_is_a_registered_and_checked_initializer():
    assert "rd_optimal" in init.INITIALIZERS
    assert params.check({"inits": ["uniform", "rd_optimal"], "init": "rd_optimal"}) == {
        "inits": ["uniform", "rd_optimal"], "init": "rd_optimal"}
    with pytest.raises(ValueError, match="inits\\[1\\] must be one of"):
        params.check({"inits": ["uniform", "rd"]})
    with pytest.raises(ValueError, match="init must be one of"):
        init.codebook("rd", torch.zeros(1, 4, 2), 2)


# --- quantizer helpers --------------------------------------------------------------------------------


def test_nearest_matches_brute_force_distances():
    g = torch.Generator().manual_seed(2)
    z, cb = torch.randn(3, 200, 4, generator=g, dtype=torch.float64), torch.randn(3, 17, 4, generator=g, dtype=torch.float64)
    brute = ((z.unsqueeze(2) - cb.unsqueeze(1)) ** 2).sum(-1)
    dist, idx = quantize.nearest(z, cb)
    assert torch.equal(idx, brute.argmin(-1))
    torch.testing.assert_close(dist, brute.min(-1).values)


def test_take_rows_equals_gather():
    x = torch.randn(3, 50, 7)
    idx = torch.randint(50, (3, 11), generator=torch.Generator().manual_seed(0))
    assert torch.equal(train.take_rows(x, idx), torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, 7)))


def test_dead_codes_per_batch_by_hand():
    idx = torch.tensor([[0, 0, 1, 1, 2, 2, 3]])  # K = 4, batches of 2: {0}, {1}, {2}; the 7th vector is left out
    assert metrics.dead_codes_per_batch(idx, 4, 2).tolist() == [3.0]
    assert metrics.dead_codes_per_batch(idx, 4, 6).tolist() == [1.0]  # one batch {0, 1, 2}
    with pytest.raises(ValueError, match="batch_size"):
        metrics.dead_codes_per_batch(idx, 4, 8)


def test_evaluate_codebook_by_hand():
    z = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]]])
    cb = torch.tensor([[[0.0, 0.0], [0.0, 2.0], [10.0, 10.0]]])
    out = train.evaluate_codebook(z, cb, batch_size=3, chunk=2)  # chunking must not change anything
    assert out["latent_distortion"].item() == pytest.approx((0 + 1 + 1) / 3)
    assert out["dead_codes"].item() == 1 and out["usage"].item() == pytest.approx(2 / 3)
    assert out["dead_per_batch"].item() == 1


# --- codebook-only training ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_testbed():
    return common.testbed_data(3, 12, 3, 0.1, 4.0, 0.5, 600, 400, 0, torch.device("cpu"))


def test_fixed_encoder_training_ignores_estimator_and_beta_and_equals_codebook_only_training(small_testbed):
    runs = [("ste", 0.25), ("rotation_trick", 0.01), ("projection", 1.0), ("ste_manual", 0.5)]
    check = st.fixed_encoder_check(small_testbed, 8, runs, 40, 32, 0.01, 0)
    assert list(check.estimator) == [e for e, _ in runs]
    # the codebook's gradient does not depend on either, so the runs are identical to the last bit
    assert (check.max_diff_first == 0).all()
    # train_codebook computes z once instead of per batch: equal up to float rounding
    assert (check.max_diff_codebook_only <= 1e-5).all()


def test_train_codebook_moves_codes_to_their_cell_means():
    # One code per well-separated cluster: online k-means with Adam moves each code towards its cluster.
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[-5.0, 0.0], [5.0, 0.0]])
    z = (centers[torch.arange(400) % 2] + 0.1 * torch.randn(400, 2, generator=g)).unsqueeze(0)
    start = torch.tensor([[[-4.0, 1.0], [4.0, -1.0]]])
    hist, final = train.train_codebook(z, z, start, 400, 64, 0.05, 0, eval_every=100)
    assert torch.allclose(final[0], centers, atol=0.1)
    assert hist.latent_distortion.iloc[-1] < 0.5 * hist.latent_distortion.iloc[0]
    assert list(hist.step) == [0, 100, 200, 300, 400]


def test_train_codebook_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="z_train .* codebook"):
        train.train_codebook(torch.zeros(2, 10, 3), torch.zeros(2, 5, 3), torch.zeros(1, 4, 3), 5)


# --- the chapter's experiments ---------------------------------------------------------------------------


def test_codebook_study_labels_and_kmeans_is_the_lloyd_codebook(small_testbed):
    tb = small_testbed
    per_seed, curves = st.init_regime_study({"geometric": tb}, [8], ["uniform", "kmeans", "rd_optimal"], ["seeds-budget"], 20, 32, 0,
                                            10, None, 2, 20)
    assert set(per_seed.init) == {"uniform", "kmeans", "rd_optimal"} and len(per_seed) == 3 * 3
    assert sorted(curves.step.unique()) == [0, 10, 20] and len(curves) == 3 * 3 * 3
    # the kmeans start is the PCA + Lloyd codebook of pca_lloyd (same data, seed and iterations)
    ref = common.pca_lloyd(tb, 8, 20, 0).sort_values("seed")
    start = per_seed[per_seed.init == "kmeans"].sort_values("seed")
    np.testing.assert_allclose(start.dist_start.to_numpy(), ref.latent_distortion.to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(per_seed.lloyd.to_numpy(), np.tile(start.dist_start.to_numpy(), 3), rtol=0)
    # the best of two k-means runs is at least as good on the training set, so close to k-means on held-out data
    assert (per_seed.best <= 1.05 * per_seed.lloyd).all()
    # and with the fixed PCA encoder, data-space error = PCA residual + latent distortion
    np.testing.assert_allclose(st.pca_residual(tb) + ref.latent_distortion.to_numpy(), ref.sq_error.to_numpy(), rtol=1e-4)


def test_train_learned_encoder_start_end_on_the_full_set(small_testbed):
    curve, ends = st.train_learned_encoder(small_testbed, 4, ["uniform", "data_samples"], 10, 16, 1e-3, 0.25, 0, 5, "ste", 50)
    assert sorted(curve.step.unique()) == [0, 5, 10] and sorted(ends.step.unique()) == [0, 10]
    assert len(ends) == 2 * 2 * 3 and set(ends.init) == {"uniform", "data_samples"}
    # the curve is on the first 50 held-out vectors; without n_curve, start and end are the history's own rows
    full, ends_full = st.train_learned_encoder(small_testbed, 4, ["uniform", "data_samples"], 10, 16, 1e-3, 0.25, 0, 5, "ste")
    cols = ["K", "init", "seed", "step", "sq_error", "dead_codes"]
    pd.testing.assert_frame_equal(ends[cols].reset_index(drop=True), ends_full[cols].reset_index(drop=True))
    assert not np.allclose(curve[curve.step == 0].sq_error, full[full.step == 0].sq_error)


def test_uniform_scale_sweep_scales_one_draw(small_testbed):
    sweep = st.uniform_scale_sweep(small_testbed, 8, [0.01, 1.0], 5, 16, 1e-3, 0)
    std = st.latent_rms_std(small_testbed)
    assert std == pytest.approx(math.sqrt(np.mean([4.01, 2.01, 1.01])))
    np.testing.assert_allclose(sweep.scale, sweep.ratio * std)
    assert set(sweep.step) == {0, 5}


def test_latent_bound_is_water_filling_on_the_latent():
    tb = common.testbed_data(1, 8, 2, 0.0, 4.0, 0.25, 10, 10, 0, torch.device("cpu"))
    # λ = (4, 1), σ = 0, K = 4 (2 bits): θ = sqrt(4)·2^−2 = 0.5 < 1, D = 1
    assert st.latent_bound(tb, 4) == pytest.approx(1.0)


def test_settle_steps_by_hand():
    hist = pd.DataFrame({
        "K": 8, "init": "a", "seed": 0, "step": [0, 10, 20, 30, 40],
        "d": [10.0, 1.0, 2.0, 1.05, 1.0],  # 2.0 is 3 dB off the final 1.0, 1.05 is 0.2 dB off
    })
    out = ia.settle_steps(hist, "d", ["K", "init"])
    assert out.settle_step.tolist() == [30]
    flat = hist.assign(d=1.0)
    assert ia.settle_steps(flat, "d", ["K", "init"]).settle_step.tolist() == [0]


def test_utilization_readings_score_cells():
    ranges = {"u": ((100, 150), (20, 50)), "k": ((10, 30), (5, 15))}
    rows = []
    for K, (u0, u1, k0, k1) in {32: (10, 2, 0, 0), 64: (120, 30, 12, 1)}.items():
        for seed in range(2):
            rows += [
                {"setting": "s", "init": "u", "K": K, "seed": seed, "dead_start": u0, "dead_end": u1, "batch_start": u0 + 1, "batch_end": u1},
                {"setting": "s", "init": "k", "K": K, "seed": seed, "dead_start": k0, "dead_end": k1, "batch_start": 20, "batch_end": 10},
            ]
    out = ia.utilization_readings(pd.DataFrame(rows), 32, ranges).set_index("reading")
    assert out.loc["K = 32, one quantizer, held-out set", "cells_in_range"] == 0
    assert out.loc["K = 64, one quantizer, held-out set", "cells_in_range"] == 3  # 120, 30, 12 in range; 1 not
    summed = out.loc["K = 32, summed over n = 12 quantizers"]  # n = round(125 / 10)
    assert summed.n == 12 and summed.u_initial == 120 and summed.u_final == 24 and summed.cells_in_range == 2
    assert out.loc["K = 32, per batch", "cells_in_range"] == 2  # k: 20 and 10 in range
    best = out[out.best_in_family]
    assert set(best.family) == {"as written", "larger K", "sum over quantizers", "per batch"}


INIT_DEFAULTS = chapters.chapter_defaults(chapters.read_chapter(chapters.ROOT / "book" / "initialization.md"))


@pytest.mark.parametrize(
    "bad,match",
    [
        ({"K": 48}, "K \\(48\\) must be one of K_list"),
        ({"beta": 0.3}, "beta \\(0.3\\) must be one of beta_list"),
        ({"inits": ["uniform", "kmeans"]}, "inits must include \\['rd_optimal'\\]"),
        ({"regimes": ["ema"]}, "regimes must include 'seeds-budget'"),
        ({"spectra": ["flat"]}, "spectra must include 'geometric'"),
        ({"n_curve": 20000}, "n_curve must be at most n_eval = 10000"),
    ],
)
def test_chapter_parameters_are_checked_together_before_any_kernel(bad, match):
    assert params.check(INIT_DEFAULTS, allowed=set(INIT_DEFAULTS)) == INIT_DEFAULTS
    with pytest.raises(ValueError, match=match):
        params.check({**INIT_DEFAULTS, **bad}, allowed=set(INIT_DEFAULTS))


def test_paired_against_agrees_with_paired():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=6), rng.normal(size=6) + 1
    frame = pd.DataFrame({"m": ["a"] * 6 + ["b"] * 6, "seed": list(range(6)) * 2, "v": np.r_[a, b]})
    out = stats.paired_against(frame, "m", "a", "v").set_index("m")
    ref = stats.paired(a, b)
    assert out.loc["b", "diff_mean"] == pytest.approx(ref.difference.mean)
    assert out.loc["b", "rel_high"] == pytest.approx(ref.relative.high)
    assert out.loc["a", "diff_mean"] == 0
    with pytest.raises(ValueError, match="reference"):
        stats.paired_against(frame, "m", "c", "v")


def test_figures_are_glued_as_png(monkeypatch):
    import matplotlib.pyplot as plt
    from IPython.display import Image

    glued = {}
    monkeypatch.setattr(report, "_glue", lambda key, value: glued.setdefault(key, value))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    report.figure("fig-test", fig)
    assert isinstance(glued["fig-test"], Image)
    assert glued["fig-test"].data[:8] == b"\x89PNG\r\n\x1a\n"


# --- codebook-only training under regimes, and the regime study's verdict rules ----------------------


def _latents(S=2, N=600, m=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(S, N, m, generator=gen) * torch.tensor([2.0, 1.0, 0.5])
    return z[:, :400].contiguous(), z[:, 400:].contiguous()


def test_regime_trainer_matches_train_codebook_for_adam():
    from vqlib import codebook_training

    zt, ze = _latents()
    cb = init.data_samples(zt, 8, seed=1)
    alone = codebook_training.train_codebooks(zt, ze, cb, ["seeds-budget"], 30, 16, seed=3)
    ref, _ = train.train_codebook(zt, ze, cb, 30, 16, 1e-3, seed=3)
    got = alone[alone.step == 30].sort_values("book").latent_distortion.to_numpy()
    np.testing.assert_allclose(got, ref[ref.step == 30].sort_values("seed").latent_distortion.to_numpy(), rtol=1e-6)
    # stacking other regimes beside it changes nothing for it
    stacked = codebook_training.train_codebooks(zt, ze, cb, ["codebook-lr", "seeds-budget", "ema", "sgd"], 30, 16, seed=3)
    sb = stacked[(stacked.regime == "seeds-budget") & (stacked.step == 30)].sort_values("book").latent_distortion.to_numpy()
    np.testing.assert_allclose(sb, got, rtol=1e-6)


def test_regime_trainer_ema_block_follows_vqlib_ema():
    from vqlib import codebook_training, ema
    from vqlib.quantize import assign

    zt, ze = _latents()
    cb = init.data_samples(zt, 8, seed=2)
    hist = codebook_training.train_codebooks(zt, ze, cb, ["ema", "seeds-budget"], 5, 16, seed=4)
    # the same five EMA steps by hand
    idx = train.batch_indices(2, zt.shape[1], 5, 16, 4)
    state, book = ema.ema_init(cb), cb.clone()
    for step in range(5):
        batch = train.take_rows(zt, idx[step])
        book = ema.ema_update(state, batch, assign(batch, book), 0.99)
    expected = train.evaluate_codebook(ze, book)["latent_distortion"].numpy()
    got = hist[(hist.regime == "ema") & (hist.step == 5)].sort_values("book").latent_distortion.to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_flat_testbed_keeps_the_total_variance():
    tb = data.linear_gaussian(2, 12, data.spectrum(4, 4.0, 0.5), 0.1, 50, 20, seed=0)
    flat = st.flat_testbed(tb, seed=1)
    assert torch.allclose(flat.eigenvalues, torch.full((4,), float(tb.eigenvalues.mean()), dtype=tb.eigenvalues.dtype))
    assert flat.x_train.shape == tb.x_train.shape and flat.sigma == tb.sigma


@pytest.mark.parametrize(
    "bad,match",
    [
        ({"regimes": ["seeds-budget", "adamw"]}, "regimes\\[1\\] must be one of"),
        ({"spectra": ["geometric", "steep"]}, "spectra\\[1\\] must be one of"),
        ({"restarts": 0}, "restarts"),
        ({"code_K_list": [8, 512], "code_n_train": 256}, "code_K_list\\[1\\] must be at most code_n_train"),
        ({"inits": ["uniform", "transform_coding"], "K_list": [8, 64], "n_train": 32}, "K_list\\[1\\] must be at most n_train"),
    ],
)
def test_new_parameters_fail_with_their_names(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        params.check(bad)


# --- the stored study (vqlib.studies.initialization) and what the chapter derives from it ---------------------

TINY = {**INIT_DEFAULTS, "seeds": 2, "D": 12, "n_train": 300, "n_eval": 200, "n_curve": 50, "K_list": [4, 8], "K": 8, "steps": 10,
        "eval_every": 5, "kmeans_iters": 3, "restarts": 2, "scale_list": [0.01, 1.0], "beta_list": [0.05, 0.25]}


@pytest.fixture(scope="module")
def tiny_results():
    """Every task of the study at tiny settings, concatenated per table in task order (as results.load does)."""
    torch.set_num_threads(1)
    p = {k: TINY[k] for k in st.PARAMS}
    tasks = st.tasks(p)
    parts = {}
    for t in tasks:
        tables = st.compute(t, torch.device("cpu"))
        assert list(tables) == list(st.TABLES)  # every task gives every table (those of other parts empty)
        for name, frame in tables.items():
            parts.setdefault(name, []).append(frame)
    return tasks, {n: pd.concat(f, ignore_index=True) for n, f in parts.items()}


def test_tasks_split_by_part_and_carry_only_what_they_use(tiny_results):
    tasks, _ = tiny_results
    parts = [t["part"] for t in tasks]
    assert parts == ["codebook"] * 4 + ["learned"] * 2 + ["invariance", "scale"] + ["beta"] * 2
    assert [(t["spectrum"], t["K"]) for t in tasks[:4]] == [("geometric", 4), ("geometric", 8), ("flat", 4), ("flat", 8)]
    assert "beta" not in tasks[0] and "lr" not in tasks[0]  # codebook-only training does not depend on them
    assert [t["inits"] for t in tasks[4:6]] == [["uniform", "kmeans", "data_samples", "rd_optimal"]] * 2


def test_codebook_tasks_give_the_rows_of_one_run_over_everything(tiny_results):
    _, res = tiny_results
    p = TINY
    tb = common.testbed_data(p["seeds"], p["D"], p["m"], p["sigma"], p["lambda_1"], p["decay"], p["n_train"], p["n_eval"], p["seed"], torch.device("cpu"))
    whole, curves = st.init_regime_study({"geometric": tb, "flat": st.flat_testbed(tb, p["seed"])}, p["K_list"], p["inits"], p["regimes"],
                                         p["steps"], p["batch_size"], p["seed"], p["eval_every"], p["n_curve"], p["restarts"], p["kmeans_iters"])
    pd.testing.assert_frame_equal(res["codebook"], whole, check_dtype=False)
    pd.testing.assert_frame_equal(res["codebook_curves"], curves, check_dtype=False)


def test_tiny_run_has_what_the_chapter_reads(tiny_results):
    _, res = tiny_results
    p = TINY
    n_inits, n_regimes = len(p["inits"]), len(p["regimes"])
    assert len(res["codebook"]) == len(p["spectra"]) * len(p["K_list"]) * n_regimes * n_inits * p["seeds"]
    for col in ("dead_start", "dead_end", "batch_start", "batch_end", "steps_to_kmeans"):  # the per-seed integers stay stored
        assert col in res["codebook"]
    assert res["codebook"].dead_end.between(0, 8).all()
    per_seed = ia.per_seed(res, p["steps"])
    assert len(per_seed) == len(p["K_list"]) * p["seeds"] * (n_inits + len(st.LEARNED_INITS))
    assert per_seed[["gap_db", "lloyd_gap_db", "settle_step"]].notna().all().all()
    # the learned rows' Lloyd reference is the fixed row's k-means distortion plus the PCA residual, seed by seed
    fx = per_seed[(per_seed.setting == ia.FX) & (per_seed.init == "kmeans")].set_index(["K", "seed"]).dist_start
    ln = per_seed[per_seed.setting == ia.LN]
    np.testing.assert_allclose(ln.lloyd, fx.loc[list(zip(ln.K, ln.seed))].to_numpy() + ia.pca_residual(res)[ln.seed.to_numpy()])
    assert set(res["invariance"].estimator) == {"ste", "rotation_trick", "projection"}
    assert (res["invariance"].max_diff_first == 0).all()
    scale = res["scale"]
    assert sorted(scale.ratio.unique()) == sorted({0.01, 1.0, (1 / p["K"]) / scale["std"].iloc[0]})
    bf = ia.beta_final(res["beta"], p["steps"])
    assert len(bf) == len(p["beta_list"]) * len(st.BETA_INITS) * p["seeds"]
    values = ia.beta_values(bf, p["beta_list"])
    assert set(values) == {"initialization_best_beta", "initialization_beta_dead_uniform", "initialization_beta_list"}
    with pytest.raises(claims.NotMeasured):  # no β in [0.1, 0.5] besides the reference: the claim is not testable here
        claims.evaluate(claims.get("init-beta-robust"), ia.beta_frame(bf, 0.0))
    frame = ia.regime_frame(res["codebook"], p["K"])
    for regime in p["regimes"]:  # the registry's claims read the frame the chapter builds
        out = claims.evaluate(claims.get("init-rd-beats"), frame[frame.regime == regime])
        assert out.verdict in ("holds", "does not hold", "inconclusive") and len(out.cases) == 2
    assert claims.evaluate(claims.get("init-root-cause"), ia.scale_frame(scale, p["steps"])).verdict in ("holds", "does not hold", "inconclusive")
    with pytest.raises(claims.NotMeasured, match="closed form"):
        claims.evaluate(claims.get("init-exact-codebook"), frame)


def test_stored_references_match_their_closed_forms(tiny_results):
    _, res = tiny_results
    p = TINY
    lam = data.spectrum(p["m"], p["lambda_1"], p["decay"]).numpy()
    # the latent RMS std of the scale sweep, and the latent D(R) beside the codebook rows
    assert res["scale"]["std"].iloc[0] == pytest.approx(math.sqrt(np.mean(lam + p["sigma"] ** 2)))
    for K in p["K_list"]:
        rows = res["codebook"][(res["codebook"].spectrum == "geometric") & (res["codebook"].K == K)]
        assert rows.bound.unique() == pytest.approx(rd.gaussian_dr((lam + p["sigma"] ** 2).tolist(), math.log2(K)))
    # the flat spectrum has the same total variance, so its D(R) at K = 1 (zero bits) would be equal; at K > 1 it is larger
    flat = res["codebook"][res["codebook"].spectrum == "flat"]
    assert (flat.groupby("K").bound.first() > res["codebook"][res["codebook"].spectrum == "geometric"].groupby("K").bound.first()).all()
    # the learned rows' bound: D(R) of Cov(x), whose eigenvalues are λ_i + σ² (m of them) and σ² (D − m)
    cov = np.r_[lam + p["sigma"] ** 2, np.full(p["D"] - p["m"], p["sigma"] ** 2)]
    for K, b in res["learned_ends"].groupby("K").bound.first().items():
        assert b == pytest.approx(rd.gaussian_dr(cov.tolist(), math.log2(K)))


def test_codebook_only_converged_regime_stops_each_codebook_on_validation_latents(monkeypatch):
    """A converging regime trains alone; each codebook stops on its own validation distortion (never the held-out set's)
    and is frozen from its stop step on, and its rows say where it stopped and whether the rule met."""
    from vqlib import codebook_training, regimes

    monkeypatch.setattr(regimes, "CONVERGE_WINDOW", 500)
    monkeypatch.setattr(regimes, "CONVERGE_TOL", 0.01)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(2, 1500, 2, generator=gen)
    z_train, z_eval, z_val = z[:, :1000], z[:, 1000:1250], z[:, 1250:]
    books = torch.cat([0.01 * torch.randn(2, 8, 2, generator=gen), z_train[:, :8].clone()])  # a collapsed and a data start per seed
    with pytest.raises(ValueError, match="trains alone"):
        codebook_training.train_codebooks(z_train, z_eval, books, ["seeds-budget", "converged"], 50, 32, 0, z_val=z_val)
    hist = codebook_training.train_codebooks(z_train, z_eval, books, ["converged"], 4000, 32, 0, eval_every=250, z_val=z_val, min_steps=500)
    ends = hist.groupby("book").agg(stop=("stop_step", "first"), met=("met_rule", "first"), last=("step", "max"))
    assert ends.met.any() and ends["last"].max() == ends.stop.max()
    for book, e in ends.iterrows():
        after = hist[(hist.book == book) & (hist.step >= e.stop)].latent_distortion
        assert after.nunique() == 1, book  # frozen from its stop step on
    assert "val_distortion" in hist.columns and not np.allclose(hist.val_distortion, hist.latent_distortion)
