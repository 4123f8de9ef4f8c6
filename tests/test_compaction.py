"""Stopped slices leave the batch: a compacted run (only still-active slices computed) equals the full one per slice."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from vqlib import data, estimators, grid, realdata, regimes
from vqlib.mlpvq import MLPVQ, init_weights
from vqlib.models import LinearVQ
from vqlib.restart import DeadCodeRestart
from vqlib.studies import common


@pytest.fixture
def quick_rule(monkeypatch):
    """A short window and a loose tolerance, one torch thread: the stop rule fires at different checks in a small run."""
    monkeypatch.setattr(regimes, "CONVERGE_WINDOW", 500)
    monkeypatch.setattr(regimes, "CONVERGE_TOL", 0.01)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def small_tb():
    return common.testbed_data(3, 16, 3, 0.1, 4.0, 0.5, 2000, 500, 0, torch.device("cpu"))


def _same_per_slice(on: pd.DataFrame, off: pd.DataFrame, columns: list[str]) -> None:
    """Stop steps, met flags and the metric columns equal bit for bit (the same operations on each slice's rows)."""
    assert on.stop_step.tolist() == off.stop_step.tolist() and on.met_rule.tolist() == off.met_rule.tolist()
    for col in columns:
        np.testing.assert_array_equal(on[col].to_numpy(float), off[col].to_numpy(float), err_msg=col)


def _slice_steps_are_the_stop_steps(on, off, final: pd.DataFrame, steps_run: int) -> None:
    """Compacted: each slice costs its own stop step; full: every slice costs every step run."""
    L = len(final)
    assert on.slice_steps == int(final.stop_step.sum()) < L * steps_run
    assert off.slice_steps == L * steps_run
    assert final.stop_step.nunique() > 1 and final.met_rule.any()


@pytest.mark.parametrize("name, methods", [("converged", ["ste", "projection", "rotation_trick", "restart", "nsvq"]),
                                           ("ema", ["ste", "nsvq"]), ("converged-affine", ["ste", "rotation_trick"])])
def test_compacted_grid_equals_the_full_grid_per_slice(small_tb, quick_rule, name, methods):
    recipe = regimes.rescale(name, 50, 1e-2)
    if name == "ema":  # the EMA codebook under the stop rule (no named regime has both)
        recipe = dataclasses.replace(recipe, converge=True, steps=2000)
    runs = {c: common.estimator_grid([small_tb], 8, methods, [0.25], recipe.steps, 64, recipe.lr, 0, 250, recipe.init,
                                     regime=recipe, min_steps=50, compact=c) for c in (True, False)}
    on, off = runs[True], runs[False]
    assert on.steps_run == off.steps_run and len(on.history) == len(off.history)
    _same_per_slice(on.final, off.final, ["sq_error", "objective", "latent_distortion", "dead_codes", "val_excess"])
    assert torch.equal(on.restarts, off.restarts)
    _slice_steps_are_the_stop_steps(on, off, on.final, on.steps_run)


def test_compacted_mlp_equals_the_full_mlp_per_slice(quick_rule):
    digits = data.digits(2, n_eval=300, seed=7)
    recipe = dataclasses.replace(regimes.get("converged"), steps=2000, lr=1e-2, codebook_lr=1e-2)
    methods = ["ste", "rotation_trick", "restart", "ema", "simvq", "nsvq", "diveq"]
    runs = {c: realdata.train_study(digits, 8, methods, recipe, hidden=4, m=2, batch_size=16, compact=c) for c in (True, False)}
    on, off = runs[True], runs[False]
    _same_per_slice(on.final, off.final, ["recon_mse", "psnr_db", "dead_codes", "perplexity"])
    _slice_steps_are_the_stop_steps(on, off, on.final, int(on.final.step.max()))


def test_row_layout_pads_rows_with_fewer_slices():
    """Unequal data rows: each slice's projection is its own row's x times its own map, values and gradients."""
    g = torch.Generator().manual_seed(0)
    data_rows = torch.tensor([2, 0, 2, 2, 0, 5])
    layout = grid.RowLayout(data_rows, data_rows)
    assert len(layout.groups) == 3 and layout.rows.tolist() == [0, 2, 5] and layout.n == 3
    x = torch.randn(3, 7, 5, generator=g)
    maps = torch.randn(6, 5, 2, generator=g, requires_grad=True)
    y = layout.project(x, maps)
    ref = torch.bmm(x[layout.row_of_slice], maps)
    torch.testing.assert_close(y, ref)
    (grad,) = torch.autograd.grad((y * y).sum(), maps)
    torch.testing.assert_close(grad, torch.autograd.grad((ref * ref).sum(), maps)[0])
    sub, pick = layout.subset(torch.tensor([0, 5]))
    assert sub.rows.tolist() == [2, 5] and pick.tolist() == [1, 2]


def test_grid_losses_on_rows_are_the_full_losses_of_those_rows():
    """A subset's losses and outputs equal the full pass's rows (the random estimator's noise included); the rest get no gradient."""
    g = torch.Generator().manual_seed(1)
    names = ["ste", "nsvq", "rotation_trick"] * 2
    L, D, m, K = 6, 8, 2, 5
    enc, cb, dec = torch.randn(L, m, D, generator=g), torch.randn(L, K, m, generator=g), torch.randn(L, D, m, generator=g)
    layout = grid.RowLayout(torch.arange(L) // 3, torch.arange(L) // 3)
    x = torch.randn(2, 16, D, generator=g)
    beta = torch.full((L,), 0.25)
    rows = torch.tensor([1, 2, 4])
    grads = []
    for subset in (None, rows):  # bit for bit: every group is padded to the full width (RowLayout)
        model = LinearVQ(enc, cb, dec, names, estimator_seed=3)
        parts, out = grid.grid_losses(model, layout, x, beta, rows=subset)
        parts["total"].sum().backward()
        grads.append(model.encoder.grad)
        if subset is None:
            full = (parts["total"].detach(), out["z"].detach(), out["idx"])
    assert torch.equal(parts["total"].detach(), full[0][rows]) and torch.equal(out["z"].detach(), full[1][rows])
    assert torch.equal(out["idx"], full[2][rows]) and torch.equal(grads[1][rows], grads[0][rows])
    assert not grads[1][[0, 3, 5]].any()


def test_mlp_forward_on_rows_and_seeded_estimators_repeat_the_full_pass():
    g = torch.Generator().manual_seed(2)
    L, D, K, m = 5, 6, 4, 2
    names = ["diveq", "ste", "nsvq", "diveq", "nsvq"]

    def make() -> MLPVQ:
        return MLPVQ({k: v.repeat(L, 1, 1) for k, v in init_weights(1, D, 3, m, 0).items()},
                     torch.randn(L, K, m, generator=torch.Generator().manual_seed(0)), names, estimator_seed=4)

    x = torch.randn(L, 9, D, generator=g)
    rows = torch.tensor([0, 2, 3])
    full, part = make()(x), make()(x[rows], rows=rows)
    for key in ("z", "idx", "x_hat"):
        torch.testing.assert_close(part[key], full[key][rows])
    grid_names = ["nsvq", "ste", "nsvq", "projection", "nsvq"]  # a random estimator in two runs: the gather path
    z, q = torch.randn(L, 9, m, generator=g), torch.randn(L, 9, m, generator=g)
    torch.testing.assert_close(estimators.mixed(grid_names, 4)(z[rows], q[rows], rows), estimators.mixed(grid_names, 4)(z, q)[rows])


def test_restart_on_rows_draws_as_the_full_pass():
    """The slices left out are neither noted nor re-seeded; the re-seeded codes of the others are the full pass's."""
    g = torch.Generator().manual_seed(3)
    L, K, m, B = 4, 6, 2, 3
    z = torch.randn(L, B, m, generator=g)
    idx = torch.zeros(L, B, dtype=torch.long)
    rows = torch.tensor([1, 3])
    books, restarts = [], []
    for subset in (None, rows):
        cb, r = torch.zeros(L, K, m), DeadCodeRestart(L, K, 2, seed=9)
        for step in (1, 2):
            fresh = r.step(cb, z if subset is None else z[subset], idx if subset is None else idx[subset], step, rows=subset)
        books.append(cb)
        restarts.append(r)
    assert fresh[[0, 2]].sum() == 0 and fresh[rows].sum() == 2 * (K - 1)
    assert torch.equal(books[1][rows], books[0][rows]) and not books[1][[0, 2]].any()
    assert torch.equal(restarts[1].restarts[rows], restarts[0].restarts[rows])
