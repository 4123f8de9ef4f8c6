"""The benchmark's bookkeeping: every method runs one real step, and ratios are within-round ratios."""

import pandas as pd
import pytest
import torch

from vqlib import bench
from vqlib.analysis import cost


def test_every_method_runs_a_step_and_sends_gradients():
    fns = bench.step_functions(64, 4, 8)
    assert set(fns) == {"matmul", *bench.OURS, *bench.VQP}
    for fn in fns.values():
        fn()  # must not raise
    z = torch.randn(64, 4, requires_grad=True)
    cb = torch.randn(8, 4, requires_grad=True)
    bench._our_step(bench.estimators.rotation_trick, z, cb, torch.randn(64, 4))()
    assert z.grad is not None and cb.grad is not None and torch.isfinite(z.grad).all()


def test_ratios_are_medians_of_within_round_ratios():
    rows = []
    for r, load in enumerate([1.0, 3.0, 1.0]):  # round 1 ran on a loaded machine: everything 3x slower
        for method, t in {"matmul": 1.0, "ste": 10.0, "rotation_trick": 12.0, "vqp_ste": 20.0, "vqp_rotation_trick": 30.0}.items():
            rows.append({"B": 8, "m": 2, "K": 4, "round": r, "method": method, "seconds": t * load * 1e-6})
    out = bench.ratios(pd.DataFrame(rows)).set_index("method")
    assert out.loc["rotation_trick", "vs_ste"] == pytest.approx(1.2) and out.loc["ste", "vs_matmul"] == pytest.approx(10.0)
    assert out.loc["ste", "vs_vqp"] == pytest.approx(0.5) and out.loc["rotation_trick", "vs_vqp"] == pytest.approx(0.4)
    assert out.loc["ste", "us_per_step"] == pytest.approx(10.0)  # the median round, not the mean (which 3x would pull up)
    worst = cost.targets(out.reset_index(), pd.DataFrame({"seeds": [1, 5], "seconds": [1.0, 2.0], "vs_one_seed": [1.0, 2.0]}))
    assert worst["rotation_trick_vs_ste"] == pytest.approx(1.2) and worst["ours_vs_vqp"] == pytest.approx(0.5)
    assert worst["seeds_vs_one"] == 2.0


def test_quick_command_line_prints_both_tables(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "rotation_trick" in out and "vqp_rotation_trick" in out and "vs_one_seed" in out


def test_trainer_cost_per_slice_step():
    cost = bench.trainer_cost(seeds=1, steps=2, rounds=1)
    assert list(cost.slices) == [len(bench.TRAINER_METHODS)]
    assert cost[["ms_per_step", "ms_per_slice_step", "wall_ms_per_step"]].notna().all().all() and (cost.wall_ms_per_step > 0).all()
    assert cost.wall_ms_per_slice_step.iloc[0] * len(bench.TRAINER_METHODS) == pytest.approx(cost.wall_ms_per_step.iloc[0])
