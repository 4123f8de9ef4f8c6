"""The one training loop reproduces the old entry points' outputs bit for bit (tests/reference/make_reference.py)."""

import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "reference"))
import make_reference

REFERENCE = torch.load(Path(__file__).parent / "reference" / "trainer.pt", weights_only=False)


def assert_same(a, b, key: str) -> None:
    """Equal bit for bit: frames exactly (dtypes, values, NaN where NaN), tensors by torch.equal."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=key)
    else:
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), key


@pytest.mark.parametrize("case", list(make_reference.CASES))
def test_reproduces_reference(case):
    torch.set_num_threads(1)
    got = make_reference.CASES[case]()
    ref = REFERENCE[case]
    assert sorted(got) == sorted(ref)
    for key in ref:
        assert_same(got[key], ref[key], f"{case}/{key}")


def test_regimes_resolved_in_one_place():
    from vqlib import regimes
    from vqlib.studies import common

    for name in regimes.REGIMES:
        assert regimes.rescale(name) == regimes.get(name)
        assert common.regime_recipe(name, 20, 1e-2) == regimes.rescale(name, 20, 1e-2)
    r = regimes.rescale("codebook-lr", 50, 2e-3)
    assert (r.steps, r.lr, r.codebook_lr) == (50, 2e-3, 2e-2)
    assert regimes.ema_decay(regimes.get("sgd")) == regimes.get("ema").ema_decay


def test_fit_stop_rule_and_schedule():
    """A toy model through the loop: evaluation schedule, on_step order, stop rule, EMA of one block."""
    from vqlib import regimes, trainer

    z = torch.randn(2, 50, 3, generator=torch.Generator().manual_seed(0))
    blocks = [torch.nn.Parameter(torch.zeros(2, 4, 3)), torch.zeros(2, 4, 3)]
    model = trainer.CodebookOnly(blocks)
    calls = []
    stop = trainer.Converge(4, 10.0, 8, lambda row: 1.0)  # never improves: stops at the first check from step 8
    run = trainer.fit(model, lambda step: z[:, :8], 20, regimes.optimizer(regimes.adam(0.1), *model.param_groups()),
                      [trainer.EMACodebook(model, torch.arange(2, 4), 0.5)], evaluate=lambda step: step, eval_every=3,
                      stop=stop, on_step=calls.append)
    assert run.history == [0, 3, 6, 8] and run.steps_run == 8 and calls == list(range(9))
    assert not torch.equal(model.blocks[1], torch.zeros(2, 4, 3)) and not model.blocks[1].requires_grad
