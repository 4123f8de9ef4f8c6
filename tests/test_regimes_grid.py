"""Training regimes in the batched trainer: per-group learning rates, EMA codebooks, the stop rule, slices independent."""

import numpy as np
import pytest
import torch

from vqlib import grid, regimes
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


def test_converged_regime_stops_by_its_rule_between_the_budget_and_the_cap(small_tb):
    every = regimes.CONVERGE_EVERY
    run = common.regime_grids([small_tb], 8, ["ste"], [0.25], ["converged"], 500, 64, 1e-3, 0, eval_every=every)["converged"]
    cap = common.regime_recipe("converged", 500).steps
    assert cap == regimes.get("converged").steps
    assert 500 <= run.steps_run <= cap and run.steps_run % every == 0
    obj = run.history.groupby("step").objective.mean()
    assert obj.index.max() == run.steps_run
    gain = -(obj.diff() / obj.shift())  # relative improvement over the last `every` steps, at each check
    later = gain[(gain.index >= 500)]
    assert (later.iloc[:-1] >= regimes.CONVERGE_TOL).all()  # it did not stop while still improving
    if run.steps_run < cap:
        assert later.iloc[-1] < regimes.CONVERGE_TOL  # and stopped when it no longer was


def test_regime_recipe_scales_learning_rates_and_budget():
    r = common.regime_recipe("sgd", steps=50, lr=2e-3)
    assert r.lr == pytest.approx(2e-2) and r.codebook_lr == pytest.approx(2e-2) and r.steps == 50
    assert common.regime_recipe("converged", steps=50).steps == 500
    assert common.regime_recipe("ema") == regimes.get("ema")
    with pytest.raises(ValueError, match="regime"):
        common.regime_recipe("adamw")


def test_regimes_must_not_repeat(small_tb):
    with pytest.raises(ValueError, match="regimes must not repeat"):
        common.regime_grids([small_tb], 8, ["ste"], [0.25], ["ema", "ema"], 2, 64, 1e-3, 0)
