"""Training regimes in the batched trainer: per-group learning rates, EMA codebooks, the stop rule, slices independent."""

import numpy as np
import pytest
import torch

from vqlib import chapter_regimes, grid, regimes
from vqlib.studies import common


@pytest.fixture(scope="module")
def small_tb():
    torch.set_num_threads(1)
    return common.testbed_data(3, 16, 3, 0.1, 4.0, 0.5, 2000, 500, 0, torch.device("cpu"))


@pytest.mark.parametrize("name", ["codebook-lr", "ema", "sgd", "data-init"])
def test_a_regimes_grid_equals_the_slice_trained_alone(small_tb, name):
    alone = common.regime_grids([small_tb], 8, ["ste"], [0.25], [name], 20, 64, 1e-3, 0)[name].final
    both = common.regime_grids([small_tb], 8, ["rotation_trick", "ste", "restart"], [0.25, 1.0], [name], 20, 64, 1e-3, 0)[name].final
    both = both[(both.method == "ste") & (both.beta == 0.25)]
    np.testing.assert_allclose(both.sq_error.to_numpy(), alone.sq_error.to_numpy(), rtol=1e-4)
    assert (both.regime == name).all()


def test_seeds_budget_regime_is_the_books_first_setting(small_tb):
    old = common.estimator_grid([small_tb], 8, ["ste", "projection"], [0.25], 20, 64, 1e-3, 0).final
    new = common.regime_grids([small_tb], 8, ["ste", "projection"], [0.25], ["seeds-budget"], 20, 64, 1e-3, 0)["seeds-budget"].final
    np.testing.assert_allclose(new.sq_error.to_numpy(), old.sq_error.to_numpy(), rtol=1e-6)


def _captured_groups(monkeypatch, small_tb, name):
    seen = []
    real = regimes.optimizer

    def spy(regime, params, codebook):
        opt = real(regime, params, codebook)
        seen.append((regime, opt))
        return opt

    monkeypatch.setattr(grid.regimes_mod, "optimizer", spy)
    run = common.regime_grids([small_tb], 8, ["ste"], [0.25], [name], 2, 64, 1e-3, 0)[name]
    (regime, opt), = seen
    return run, regime, opt


@pytest.mark.parametrize("name", ["sgd", "codebook-lr", "seeds-budget"])
def test_encoder_decoder_and_codebook_get_the_stated_learning_rates(monkeypatch, small_tb, name):
    run, regime, opt = _captured_groups(monkeypatch, small_tb, name)
    stated = regimes.get(name)
    assert isinstance(opt, torch.optim.SGD if stated.optimizer == "sgd" else torch.optim.Adam)
    rest, cb = opt.param_groups
    assert rest["lr"] == pytest.approx(stated.lr) and cb["lr"] == pytest.approx(stated.codebook_lr)
    assert {id(p) for p in rest["params"]} == {id(run.model.encoder), id(run.model.decoder)}
    assert [id(p) for p in cb["params"]] == [id(run.model.codebook)]
    if stated.optimizer == "sgd":
        assert rest["momentum"] == stated.momentum == 0.9


def test_ema_codebook_is_not_a_gradient_parameter(monkeypatch, small_tb):
    run, _, opt = _captured_groups(monkeypatch, small_tb, "ema")
    assert len(opt.param_groups) == 1
    assert id(run.model.codebook) not in {id(p) for p in opt.param_groups[0]["params"]}


def test_ema_grid_moves_live_codes_to_their_cluster_means(small_tb):
    """With the encoder fixed, EMA codes end at (near) a k-means fixed point; gradient codes at lr 1e-3 are far from it."""
    S, _, D = small_tb.x_train.shape
    enc = common.start_encoder(small_tb, 0)
    z0 = small_tb.x_train @ enc.transpose(1, 2)
    from vqlib import init

    cb = init.data_samples(z0, 8, seed=2)
    import pandas as pd

    slices = pd.DataFrame({"data": range(S), "seed": range(S), "method": "ste", "beta": 0.25})
    gains = {}
    for name in ("ema", "seeds-budget"):
        run = grid.train_grid(small_tb.x_train, small_tb.x_eval, slices, enc, cb, 600, 256, 1e-3, 0, learn_encoder=False,
                              regime=regimes.get(name), evaluation=False)
        gains[name] = grid.lloyd_gain(run, small_tb.x_train, iters=1)  # one Lloyd step: codes to their cells' means
    assert (gains["ema"] < 0.005).all(), gains
    assert (gains["seeds-budget"] > 3 * gains["ema"]).all(), gains


@pytest.fixture(scope="module")
def converged_runs(small_tb):
    """The converged regime with a short window and a loose tolerance (so the rule fires in a small test), lr 1e-2."""
    mp = pytest.MonkeyPatch()
    mp.setattr(regimes, "CONVERGE_WINDOW", 500)
    mp.setattr(regimes, "CONVERGE_TOL", 0.01)
    try:
        both = common.regime_grids([small_tb], 8, ["ste", "rotation_trick"], [0.25], ["converged"], 50, 64, 1e-2, 0, eval_every=250)
        alone = common.regime_grids([small_tb], 8, ["ste"], [0.25], ["converged"], 50, 64, 1e-2, 0, eval_every=250)
    finally:
        mp.undo()
    return both["converged"], alone["converged"]


def test_converged_regime_stops_each_slice_by_its_own_validation_rule(converged_runs):
    run, _ = converged_runs
    every, window, tol, cap = regimes.CONVERGE_EVERY, 500, 0.01, regimes.rescale("converged", 50).steps
    assert cap == 2000 and run.met_rule.any() and run.steps_run == int(run.stop_step.max())
    assert len(set(run.stop_step.tolist())) > 1  # slices stop at their own steps, not when an average flattens
    for sl in run.final.itertuples():
        h = run.history[(run.history.method == sl.method) & (run.history.seed == sl.seed)].set_index("step")
        best = h.val_excess.cummin()
        for t in range(max(50, window), int(sl.stop_step) + 1, every):
            gain = best[t - window] - best[t]
            if t < sl.stop_step:
                assert gain >= tol * best[t - window], (sl, t)  # it did not stop while its validation error still fell
            elif sl.met_rule:
                assert gain < tol * best[t - window], (sl, t)  # and stopped when it no longer did
        if not sl.met_rule:
            assert sl.stop_step == run.steps_run
        after = h.loc[h.index >= sl.stop_step, ["sq_error", "val_excess", "dead_codes", "z_norm"]]
        assert (after == after.iloc[0]).all().all(), sl  # frozen: nothing moves after the stop, Adam's momentum included


def test_a_converged_slice_does_not_depend_on_the_slices_beside_it(converged_runs):
    both, alone = converged_runs
    ste = both.slices.method == "ste"
    np.testing.assert_array_equal(both.stop_step.numpy()[ste.to_numpy()], alone.stop_step.numpy())
    f = both.final
    np.testing.assert_allclose(f[f.method == "ste"].sq_error.to_numpy(), alone.final.sq_error.to_numpy(), rtol=1e-5)


def test_the_stop_rule_reads_a_validation_set_not_the_evaluation_set(small_tb):
    import dataclasses

    with pytest.raises(ValueError, match="validation"):
        common.regime_grids([dataclasses.replace(small_tb, x_val=None)], 8, ["ste"], [0.25], ["converged"], 2, 64, 1e-3, 0)
    assert small_tb.x_val.shape == small_tb.x_eval.shape and not torch.equal(small_tb.x_val, small_tb.x_eval)
    again = common.testbed_data(3, 16, 3, 0.1, 4.0, 0.5, 2000, 500, 0, torch.device("cpu"), n_val=0)
    assert again.x_val is None and torch.equal(again.x_train, small_tb.x_train) and torch.equal(again.x_eval, small_tb.x_eval)


def test_observing_the_rule_trains_every_slice_to_the_cap(small_tb, monkeypatch):
    monkeypatch.setattr(regimes, "CONVERGE_WINDOW", 500)
    monkeypatch.setattr(regimes, "CONVERGE_TOL", 0.01)
    run = common.regime_grids([small_tb], 8, ["ste"], [0.25], ["converged"], 50, 64, 1e-2, 0, eval_every=250, observe=True)["converged"]
    assert run.steps_run == 2000 and run.met_rule.any()
    h = run.history.groupby("step").sq_error.apply(list)
    stopped = int(run.stop_step[run.met_rule].min())
    assert h[2000] != h[stopped]  # nothing was frozen


@pytest.mark.parametrize("name", ["affine", "cosine"])
def test_codebook_forms(small_tb, name):
    run = common.regime_grids([small_tb], 8, ["ste", "rotation_trick"], [0.25], [name], 30, 64, 1e-3, 0)[name]
    model = run.model
    cb = grid.codebook_of(model)
    if name == "affine":
        assert model.affine_mean.shape == (6, 1, 3) and not torch.equal(model.affine_mean, torch.zeros_like(model.affine_mean))
        torch.testing.assert_close(cb, model.affine_mean + model.affine_scale * model.codebook)
    else:
        torch.testing.assert_close(cb.norm(dim=-1), torch.ones(6, 8))
    plain = common.regime_grids([small_tb], 8, ["ste", "rotation_trick"], [0.25], ["seeds-budget"], 30, 64, 1e-3, 0)["seeds-budget"]
    assert not np.allclose(run.final.sq_error, plain.final.sq_error)
    with pytest.raises(ValueError, match="form"):
        common.regime_grids([small_tb], 8, ["restart"], [0.25], [name], 2, 64, 1e-3, 0)


def test_affine_parameters_learn_at_the_codebook_rate(monkeypatch, small_tb):
    run, regime, opt = _captured_groups(monkeypatch, small_tb, "affine")
    rest, cb = opt.param_groups
    assert {id(p) for p in cb["params"]} == {id(run.model.codebook), id(run.model.affine_mean), id(run.model.affine_scale)}
    assert cb["lr"] == regime.codebook_lr


def test_ema_data_starts_at_data_scale(small_tb):
    """Its first codebook is K encoded training vectors: the latent distortion at step 0 is a fraction of the uniform start's."""
    start = {name: common.regime_grids([small_tb], 8, ["ste"], [0.25], [name], 1, 64, 1e-3, 0)[name].history.query("step == 0")
             for name in ("ema-data", "ema")}
    assert (start["ema-data"].latent_distortion.to_numpy() < 0.5 * start["ema"].latent_distortion.to_numpy()).all()
    assert regimes.get("ema-data").codebook_update == "ema" and regimes.get("ema-data").init == "data_samples"


def test_rescale_scales_learning_rates_and_budget():
    r = regimes.rescale("sgd", steps=50, lr=2e-3)
    assert r.lr == pytest.approx(2e-2) and r.codebook_lr == pytest.approx(2e-2) and r.steps == 50
    assert regimes.rescale("converged", steps=50).steps == 2000
    assert regimes.rescale("ema") == regimes.get("ema")
    with pytest.raises(ValueError, match="regime"):
        regimes.rescale("adamw")


def test_regimes_must_not_repeat(small_tb):
    with pytest.raises(ValueError, match="regimes must not repeat"):
        common.regime_grids([small_tb], 8, ["ste"], [0.25], ["ema", "ema"], 2, 64, 1e-3, 0)


def test_the_chapter_regimes_table_is_what_each_chapter_runs():
    """vqlib.chapter_regimes.CHAPTER_REGIMES (shown in the book) states each chapter's `regimes` default, in order, with a reason."""
    from vqlib.runner import chapters

    for name, (names, why) in chapter_regimes.CHAPTER_REGIMES.items():
        defaults = chapters.chapter_defaults(chapters.read_chapter(chapters.ROOT / "book" / f"{name}.md"))
        assert tuple(defaults["regimes"]) == names, name
        assert why and all(r in regimes.REGIMES for r in names)


def test_every_regime_states_its_whole_recipe():
    for r in regimes.REGIMES.values():
        row = r.as_row()
        assert {"optimizer", "lr", "codebook_lr", "codebook_update", "init", "form", "stop_rule"} <= set(row) and r.summary
        assert row["stop_rule"].startswith("per slice" if r.converge else "fixed budget")
        assert r.form in regimes.FORMS


def test_a_converged_grid_over_noise_levels_reads_each_slices_own_floor():
    """Data sets of different σ in one converged grid (the σ sweep): each slice's stop rule reads its validation error less
    its own data set's floor (D − m)σ², so a noisier data set is not judged on noise no training removes."""
    torch.set_num_threads(1)
    sets = [common.testbed_data(2, 16, 3, s, 4.0, 0.5, 1000, 200, 0, torch.device("cpu")) for s in (0.0, 0.4)]
    run = common.regime_grids(sets, 8, ["ste"], [0.25], ["converged"], 4, 64, 1e-3, 0)["converged"]
    last = run.history[run.history.step == run.history.step.max()].reset_index(drop=True)
    raw = grid.validation_error(run.model, run.layout, torch.cat([ds.x_val for ds in sets])).numpy()
    floors = np.array([common.floor_of(sets[d]) for d in last.data])
    assert floors.tolist() == [0.0, 0.0, common.floor_of(sets[1]), common.floor_of(sets[1])] and floors[-1] > 0
    np.testing.assert_allclose(last.val_excess.to_numpy(), raw - floors, rtol=1e-6)
    assert {"stop_step", "met_rule"} <= set(run.final.columns) and len(run.final) == len(run.slices)
