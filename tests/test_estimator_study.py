"""The estimator study's pieces: NSVQ, the mixed estimator, dead-code restart, mixture data, the batched grid,
the experiment helpers and the statistics."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from vqlib import data, grid, init, metrics, params, stats
from vqlib import estimators as est
from vqlib.models import LinearVQ
from vqlib.restart import DeadCodeRestart
from vqlib.studies import common


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- NSVQ -------------------------------------------------------------------------------------------


def test_nsvq_value_is_z_plus_noise_scaled_to_the_quantization_error():
    z, q = _randn(3, 7, 5, seed=1), _randn(3, 7, 5, seed=2)
    out = est.nsvq(z, q, torch.Generator().manual_seed(11))
    v = torch.randn(z.shape, generator=torch.Generator().manual_seed(11), dtype=z.dtype)
    expected = z + (z - q).norm(dim=-1, keepdim=True) / v.norm(dim=-1, keepdim=True) * v
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close((out - z).norm(dim=-1), (q - z).norm(dim=-1))


def test_nsvq_gradients_follow_the_formula_with_v_constant():
    z, q, g = _randn(4, 6, seed=3), _randn(4, 6, seed=4), _randn(4, 6, seed=5)
    zr, qr = z.clone().requires_grad_(True), q.clone().requires_grad_(True)
    est.nsvq(zr, qr, torch.Generator().manual_seed(7)).backward(g)
    v = torch.randn(z.shape, generator=torch.Generator().manual_seed(7), dtype=z.dtype)
    v_hat = v / v.norm(dim=-1, keepdim=True)
    w = (z - q) / (z - q).norm(dim=-1, keepdim=True)
    gv = (g * v_hat).sum(-1, keepdim=True)
    torch.testing.assert_close(zr.grad, g + gv * w)
    torch.testing.assert_close(qr.grad, -gv * w)


def test_nsvq_at_q_equal_z_is_z_with_identity_gradient():
    z, g = _randn(5, 3, seed=6), _randn(5, 3, seed=7)
    zr, qr = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    out = est.nsvq(zr, qr, torch.Generator().manual_seed(0))
    out.backward(g)
    assert torch.equal(out.detach(), z)
    assert torch.equal(zr.grad, g)
    assert torch.equal(qr.grad, torch.zeros_like(g))


def test_nsvq_noise_is_centred_on_z():
    z = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64).expand(20000, 3)
    q = torch.tensor([[1.5, -1.0, 0.0]], dtype=torch.float64).expand(20000, 3)
    out = est.nsvq(z, q, torch.Generator().manual_seed(3))
    # Directions are uniform on the sphere: the mean displacement vanishes (its std is 1.2/sqrt(3·20000) ≈ 0.005).
    assert (out - z).mean(0).abs().max() < 0.03
    assert not torch.allclose(out, z)


@pytest.mark.parametrize("scale", [1e-15, 1e20, 1e30])
def test_nsvq_in_float32_is_scale_free_and_finite(scale):
    z, q, g = _randn(64, 8, seed=20), _randn(64, 8, seed=21), _randn(64, 8, seed=22)
    grads = []
    for zz, qq, gg in ((z, q, g), (scale * z.float(), scale * q.float(), g.float())):
        zr = zz.clone().requires_grad_(True)
        out = est.nsvq(zr, qq, torch.Generator().manual_seed(4))
        out.backward(gg)
        assert torch.isfinite(out).all() and torch.isfinite(zr.grad).all()
        grads.append(zr.grad)
    torch.testing.assert_close(grads[1].double(), grads[0], rtol=1e-4, atol=1e-4)


def test_nsvq_is_registered_seeded_and_training_only():
    assert "nsvq" in est.ESTIMATORS and "nsvq" in est.TRAINING_ONLY
    z, q = _randn(2, 4, 3, seed=8), _randn(2, 4, 3, seed=9)
    a, b, c = est.get_estimator("nsvq", 5), est.get_estimator("nsvq", 5), est.get_estimator("nsvq", 6)
    first = a(z, q)
    assert torch.equal(first, b(z, q))
    assert not torch.equal(first, c(z, q))
    assert not torch.equal(first, a(z, q))  # the stream advances from call to call


def test_nsvq_model_evaluates_with_hard_q():
    g = torch.Generator().manual_seed(0)
    enc = data.random_orthonormal(2, 8, 3, g).transpose(1, 2)
    cb = torch.randn(2, 5, 3, generator=g)
    x = torch.randn(2, 40, 8, generator=g)
    noisy = LinearVQ(enc, cb, enc.transpose(1, 2), "nsvq", estimator_seed=1)
    plain = LinearVQ(enc, cb, enc.transpose(1, 2), "ste")
    for key, value in noisy.evaluate(x).items():
        assert torch.equal(value, plain.evaluate(x)[key]), key
    assert not torch.equal(noisy(x)["x_hat"], noisy(x, hard=True)["x_hat"])


# --- the mixed estimator ----------------------------------------------------------------------------


def test_mixed_estimator_applies_each_slices_own_estimator():
    names = ["projection", "ste", "rotation_trick", "ste"]
    z, q, g = _randn(4, 6, 3, seed=10), _randn(4, 6, 3, seed=11), _randn(4, 6, 3, seed=12)
    zr = z.clone().requires_grad_(True)
    out = est.mixed(names)(zr, q)
    out.backward(g)
    assert torch.equal(out.detach(), q)
    for i, name in enumerate(names):
        zi = z[i].clone().requires_grad_(True)
        est.get_estimator(name)(zi, q[i]).backward(g[i])
        torch.testing.assert_close(zr.grad[i], zi.grad, rtol=0, atol=0)


def test_mixed_estimator_checks_the_slice_count_and_names():
    with pytest.raises(ValueError, match="leading dimension 3"):
        est.mixed(["ste", "ste", "projection"])(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="rotation_trick"):
        est.mixed(["ste", "rotation"])


# --- dead-code restart ------------------------------------------------------------------------------


def _restart_setup(active):
    cb = torch.nn.Parameter(torch.arange(16, dtype=torch.float32).view(2, 4, 2))
    opt = torch.optim.Adam([cb], lr=0.1)
    cb.grad = torch.ones_like(cb)
    opt.step()  # creates Adam moments, all non-zero
    z = 100 + torch.arange(20, dtype=torch.float32).view(2, 5, 2)
    idx = torch.tensor([[0, 1, 0, 1, 0], [1, 0, 1, 0, 1]])  # codes 2 and 3 never picked
    return cb, opt, z, idx, DeadCodeRestart(2, 4, window=3, active=torch.tensor(active), seed=0)


def test_restart_reseeds_codes_unused_for_the_window_from_batch_vectors():
    cb, opt, z, idx, restart = _restart_setup([True, True])
    before = cb.data.clone()
    for step in (1, 2):
        assert not restart.step(cb, z, idx, step, opt).any()
    assert torch.equal(cb.data, before)
    stale = restart.step(cb, z, idx, 3, opt)
    assert stale[:, 2:].all() and not stale[:, :2].any()
    assert torch.equal(cb.data[:, :2], before[:, :2])
    for s in range(2):
        for k in (2, 3):
            assert any(torch.equal(cb.data[s, k], z[s, b]) for b in range(5))
    state = opt.state[cb]
    assert torch.all(state["exp_avg"][:, 2:] == 0) and torch.all(state["exp_avg_sq"][:, 2:] == 0)
    assert torch.all(state["exp_avg"][:, :2] != 0)
    assert restart.restarts.tolist() == [2, 2]
    # Re-seeded codes get a fresh window.
    assert not restart.step(cb, z, idx, 4, opt).any()


def test_restart_leaves_inactive_slices_alone():
    cb, opt, z, idx, restart = _restart_setup([False, True])
    before = cb.data.clone()
    restart.step(cb, z, idx, 3, opt)
    assert torch.equal(cb.data[0], before[0])
    assert not torch.equal(cb.data[1], before[1])
    assert restart.restarts.tolist() == [0, 2]


def test_restart_window_must_be_positive():
    with pytest.raises(ValueError, match="restart_window"):
        DeadCodeRestart(2, 4, window=0)


# --- mixture data -----------------------------------------------------------------------------------


def test_gaussian_mixture_clusters_have_the_stated_centres_and_spread():
    mix = data.gaussian_mixture(2, 12, 3, 4, 2.0, 0.3, 0.0, 20000, 100, seed=1)
    assert mix.x_train.shape == (2, 20000, 12) and mix.labels_train.shape == (2, 20000)
    assert mix.labels_train.min() >= 0 and mix.labels_train.max() == 3
    s = mix.x_train @ mix.A  # latent coordinates (exact when σ = 0)
    torch.testing.assert_close(s @ mix.A.transpose(1, 2), mix.x_train, atol=1e-4, rtol=0)
    for seed in range(2):
        for c in range(4):
            pts = s[seed][mix.labels_train[seed] == c]
            torch.testing.assert_close(pts.mean(0), mix.centers[seed, c], atol=0.02, rtol=0)
            assert pts.std(0).sub(0.3).abs().max() < 0.02
        counts = torch.bincount(mix.labels_train[seed], minlength=4).double() / 20000
        assert counts.sub(0.25).abs().max() < 0.02


def test_gaussian_mixture_is_deterministic_and_labels_give_purity_one():
    a = data.gaussian_mixture(2, 8, 2, 8, 1.0, 0.5, 0.1, 50, 60, seed=3)
    b = data.gaussian_mixture(2, 8, 2, 8, 1.0, 0.5, 0.1, 50, 60, seed=3)
    assert torch.equal(a.x_eval, b.x_eval) and torch.equal(a.labels_eval, b.labels_eval)
    assert torch.equal(metrics.cluster_purity(a.labels_eval, a.labels_eval, 8, 8), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("kwargs,name", [({"cluster_std": 0.0}, "cluster_std"), ({"n_clusters": 0}, "n_clusters"),
                                         ({"center_scale": -1.0}, "center_scale"), ({"m": 9}, "m")])
def test_gaussian_mixture_rejects_bad_input_by_name(kwargs, name):
    args = {"n_seeds": 1, "D": 8, "m": 2, "n_clusters": 8, "center_scale": 1.0, "cluster_std": 0.5, "sigma": 0.1,
            "n_train": 10, "n_eval": 10, **kwargs}
    with pytest.raises((ValueError, TypeError), match=name):
        data.gaussian_mixture(**args)


# --- the batched grid -------------------------------------------------------------------------------


def _grid_model(methods=("ste", "projection", "rotation_trick"), rows=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    L, D, m, K = rows * len(methods), 10, 3, 6
    enc = data.random_orthonormal(L, D, m, g).transpose(1, 2)
    model = LinearVQ(enc, torch.randn(L, K, m, generator=g), torch.randn(L, D, m, generator=g),
                     [name for _ in range(rows) for name in methods])
    layout = grid.RowLayout(torch.arange(L) // len(methods), torch.arange(L) // len(methods))
    return model, layout, g


def test_grid_losses_equal_the_models_losses_in_value_and_gradient():
    model, layout, g = _grid_model()
    x_rows = torch.randn(2, 16, 10, generator=g)
    beta = torch.tensor([0.0, 0.25, 1.0, 0.5, 0.1, 2.0])
    losses, _ = grid.grid_losses(model, layout, x_rows, beta)
    losses["total"].sum().backward()
    ours = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    ref = model.losses(x_rows[layout.row_of_slice], beta)
    ref["total"].sum().backward()
    for key in ("total", "recon", "codebook", "commitment"):
        torch.testing.assert_close(losses[key], ref[key], rtol=1e-5, atol=1e-5)
    for a, b in zip(ours, model.parameters()):
        torch.testing.assert_close(a, b.grad, rtol=1e-4, atol=1e-5)


def test_grid_evaluate_matches_the_models_evaluate():
    model, layout, g = _grid_model()
    x_eval = torch.randn(2, 300, 10, generator=g)
    A = data.random_orthonormal(2, 10, 3, g)
    beta = torch.full((6,), 0.25)
    ours = grid.evaluate(model, layout, x_eval, beta, A)
    ref = model.evaluate(x_eval[layout.row_of_slice], A[layout.row_of_slice])
    for key, value in ref.items():
        torch.testing.assert_close(ours[key], value, rtol=1e-4, atol=1e-5, msg=key)
    torch.testing.assert_close(ours["objective"], ref["sq_error"] + 1.25 * ours["latent_distortion"])
    angles = metrics.principal_angles_deg(model.encoder.transpose(1, 2), A[layout.row_of_slice]).max(-1).values
    torch.testing.assert_close(ours["angle_encoder_deg"], angles)


def test_row_layout_needs_one_seed_per_row():
    """Rows may hold different numbers of slices (padded; tests/test_compaction.py), but one seed each."""
    assert grid.RowLayout(torch.tensor([0, 0, 1]), torch.tensor([0, 0, 1])).n == 2
    with pytest.raises(ValueError, match="share its seed"):
        grid.RowLayout(torch.tensor([0, 0]), torch.tensor([0, 1]))


def test_slices_are_checked():
    x = torch.zeros(1, 5, 4)
    bad = pd.DataFrame({"data": [0], "seed": [0], "method": ["rotation"], "beta": [0.25]})
    with pytest.raises(ValueError, match="method must be one of"):
        grid.check_slices(bad, 1)
    with pytest.raises(ValueError, match="missing"):
        grid.check_slices(bad.drop(columns="beta"), 1)
    with pytest.raises(ValueError, match="beta"):
        grid.check_slices(bad.assign(method="ste", beta=-1.0), 1)
    with pytest.raises(ValueError, match="index the 1 data sets"):
        grid.check_slices(bad.assign(method="ste", data=1), x.shape[0])


@pytest.fixture(scope="module")
def small_tb():
    torch.set_num_threads(1)
    return common.testbed_data(3, 16, 3, 0.1, 4.0, 0.5, 2000, 500, 0, torch.device("cpu"))


def test_grid_reproduces_the_reference_training_loop(small_tb):
    names = ["ste", "projection", "rotation_trick"]
    ref = common.train_estimators(small_tb, 8, names, 30, 64, 1e-2, 0.25, 0, 0)
    run = common.estimator_grid([small_tb], 8, names, [0.25], 30, 64, 1e-2, 0, 0)
    a = ref[ref.step == 30].sort_values(["method", "seed"]).reset_index(drop=True)
    b = run.final.sort_values(["method", "seed"]).reset_index(drop=True)
    for col in ("recon_mse", "sq_error", "dead_codes", "entropy_bits", "subspace_distortion"):
        np.testing.assert_allclose(b[col], a[col], rtol=1e-4, atol=1e-6, err_msg=col)


def test_slices_do_not_interact(small_tb):
    alone = common.estimator_grid([small_tb], 8, ["ste"], [0.25], 25, 64, 1e-2, 0, 0).final
    mixed = common.estimator_grid([small_tb], 8, ["nsvq", "ste", "restart"], [0.25, 1.0], 25, 64, 1e-2, 0, 0).final
    mixed = mixed[(mixed.method == "ste") & (mixed.beta == 0.25)]
    np.testing.assert_allclose(mixed.sq_error.to_numpy(), alone.sq_error.to_numpy(), rtol=1e-4)


def test_restart_method_revives_dead_codes(small_tb):
    run = common.estimator_grid([small_tb], 16, ["ste", "restart"], [0.25], 150, 64, 1e-2, 0, 0, restart_window=10)
    f = run.final
    assert f[f.method == "restart"].dead_codes.max() == 0
    assert f[f.method == "ste"].dead_codes.sum() > 0  # STE leaves dead codes here (on some seeds), restart none
    assert (run.restarts[torch.tensor((run.slices.method == "ste").to_numpy())] == 0).all()


def test_collapsed_start_is_collapsed(small_tb):
    run = common.estimator_grid([small_tb], 8, ["ste"], [0.25], 1, 64, 1e-2, 0, 0, starts=["standard", "collapsed"],
                                     collapse_scale=0.001)
    h0 = run.history[run.history.step == 0]
    assert (h0[h0.start == "collapsed"].dead_codes >= 6).all()
    assert h0[h0.start == "collapsed"].dead_codes.mean() > h0[h0.start == "standard"].dead_codes.mean()
    with pytest.raises(ValueError, match="start must be one of"):
        common.estimator_grid([small_tb], 8, ["ste"], [0.25], 1, 64, 1e-2, 0, 0, starts=["broken"])


def test_far_collapse_keeps_z_off_the_origin_and_kills_codes(small_tb):
    run = common.estimator_grid([small_tb], 16, ["ste"], [0.25], 1, 64, 1e-2, 0, 0, starts=["standard", "collapsed_far"])
    h0 = run.history[run.history.step == 0]
    assert h0[h0.start == "collapsed_far"].dead_codes.min() >= 4  # the codes pushed out of the data are not picked
    assert h0[h0.start == "collapsed_far"].dead_codes.mean() > h0[h0.start == "standard"].dead_codes.mean()
    far = torch.tensor((run.slices.start == "collapsed_far").to_list())
    enc = run.model.encoder.detach()  # the standard encoder, not shrunk: z keep their usual scale (one step of training apart)
    assert torch.allclose(enc[far].norm(dim=(1, 2)), enc[~far].norm(dim=(1, 2)), rtol=0.2)


def test_several_data_sets_are_trained_on_their_own_data(small_tb):
    clean = common.testbed_data(3, 16, 3, 0.0, 4.0, 0.5, 2000, 500, 0, torch.device("cpu"))
    run = common.estimator_grid([small_tb, clean], 8, ["ste"], [0.25], 5, 64, 1e-2, 0, 0)
    single = common.estimator_grid([clean], 8, ["ste"], [0.25], 5, 64, 1e-2, 0, 0).final
    both = run.final
    np.testing.assert_allclose(both[both.data == 1].sq_error.to_numpy(), single.sq_error.to_numpy(), rtol=1e-4)
    assert (both[both.data == 0].sq_error.to_numpy() > both[both.data == 1].sq_error.to_numpy()).all()


def test_lloyd_gain_is_zero_at_a_fixed_point_and_positive_away_from_it(small_tb):
    run = common.estimator_grid([small_tb], 8, ["ste"], [0.25], 2, 64, 1e-2, 0, 0)
    z = small_tb.x_eval @ run.model.encoder.detach().transpose(1, 2)
    with torch.no_grad():
        run.model.codebook.copy_(init.kmeans(z, 8, iters=300, seed=0))
    assert grid.lloyd_gain(run, small_tb.x_eval, 5).abs().max() < 1e-4
    with torch.no_grad():
        run.model.codebook.add_(0.3)
    assert (grid.lloyd_gain(run, small_tb.x_eval, 5) > 0.01).all()


def test_pca_lloyd_reports_purity_on_mixture_data():
    mix = data.gaussian_mixture(2, 8, 2, 4, 3.0, 0.2, 0.05, 2000, 1000, seed=0)
    frame = common.pca_lloyd(mix, 8, 20, 0)
    assert ((frame.purity > 0.9) & (frame.purity <= 1.0)).all()  # well separated clusters, codes stay inside them


# --- statistics, parameters ---------------------------------------------------------------


def test_ratio_ci_is_the_geometric_mean_ratio():
    ci = stats.ratio_ci([2.0, 8.0], [1.0, 2.0])
    assert ci.mean == pytest.approx(math.sqrt(2 * 4))
    assert ci.low < ci.mean < ci.high
    with pytest.raises(ValueError):
        stats.ratio_ci([1.0, -1.0], [1.0, 1.0])


def test_summarize_by_groups_on_several_keys():
    frame = pd.DataFrame({"K": [4, 4, 8, 8], "method": ["a", "a", "a", "a"], "v": [1.0, 3.0, 5.0, 7.0]})
    shown, numbers = stats.summarize_by(frame, ["K", "method"], ["v"])
    assert shown.K.tolist() == [4, 8]
    assert numbers.v_mean.tolist() == [2.0, 6.0]


def test_new_parameters_are_checked_by_name():
    assert params.check({"methods": ["ste", "restart", "nsvq"], "restart_window": 5, "collapse_scale": 0.01}) == {
        "methods": ["ste", "restart", "nsvq"], "restart_window": 5, "collapse_scale": 0.01}
    for bad, name in [({"methods": ["rotation"]}, "methods"), ({"restart_window": 0}, "restart_window"),
                      ({"cluster_std": 0.0}, "cluster_std"), ({"timing_repeats": 0}, "timing_repeats")]:
        with pytest.raises((ValueError, TypeError), match=name):
            params.check(bad)
