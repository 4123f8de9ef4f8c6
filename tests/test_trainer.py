"""The one training loop reproduces the old entry points' outputs (tests/reference/make_reference.py made them).

On the machine and instruction set that made the reference (tests/reference/trainer.machine.json) the outputs
must agree bit for bit. Elsewhere the last bits of float32 kernels differ (README, "Where last bits differ"), so
every history and final table is compared by the results verifier's rule (vqlib.runner.verify.compare), with
floats within a relative 1 % (these short runs start from collapsed and far codebooks, where near-ties move
the error by up to 0.3 % under the restricted instruction set), words and integers equal, counts that move with argmin near-ties (dead codes, usage,
perplexity, restarts, and the latent distortion, objective and ‖z‖ that follow the assignments) inside the seeds' spread; the slices of the dead-code restart, the projection and the rotation trick
(CHAOTIC_METHODS) and of the collapsed and far starts (bimodal recovery) are compared wholly against their seeds' spread.
"""

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "reference"))
import make_reference

from vqlib.runner.verify import compare
from vqlib.store import _cpu_name

REFERENCE = torch.load(Path(__file__).parent / "reference" / "trainer.pt", weights_only=False)
MADE_ON = json.loads((Path(__file__).parent / "reference" / "trainer.machine.json").read_text())
RTOL = 1e-2
#: Methods whose training follows near-ties: restart re-seeds codes from a batch; the projection and the rotation trick
#: send a gradient along the direction to the chosen code, which turns with the assignment.
CHAOTIC_METHODS = ("restart", "projection", "rotation_trick")
RESTRICTED = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
#: Columns that count codes, hence move with argmin near-ties when the last bits differ.
COUNTS = {"dead_codes", "usage", "usage_pct", "usage_batch", "perplexity", "entropy_bits", "restarts", "dead_pct", "purity", "nmi", "ari",
          # latent-space quantities follow the assignments of the few codes of these small runs (K = 8)
          "latent_distortion", "objective", "z_norm"}


def same_machine() -> bool:
    """Whether this is the processor and instruction set the reference was made on (bit-for-bit comparable)."""
    return (_cpu_name() == MADE_ON["cpu"] and torch.backends.cpu.get_cpu_capability() == MADE_ON["torch_capability"]
            and not any(os.environ.get(k) for k in RESTRICTED))


def assert_close(ref: pd.DataFrame, got: pd.DataFrame, key: str) -> None:
    """The verifier's rule; the restart method's rows against their seeds' spread in every float column."""
    chaotic = ref["method"].isin(CHAOTIC_METHODS).to_numpy().copy() if "method" in ref.columns else None
    if chaotic is not None and "start" in ref.columns:  # collapsed and far starts: recovery is decided by near-ties
        chaotic |= ref["start"].ne("standard").to_numpy()
    if chaotic is not None and chaotic.any():
        floats = {c for c in ref.columns if pd.api.types.is_float_dtype(ref[c])}
        for rows, spread in ((~chaotic, COUNTS), (chaotic, COUNTS | floats)):
            n, problems, _ = compare(ref[rows].reset_index(drop=True), got[rows].reset_index(drop=True), spread & set(ref.columns), set(), RTOL)
            assert not problems, f"{key}: {problems[:5]}"
        return
    n, problems, _ = compare(ref, got, COUNTS & set(ref.columns), set(), RTOL)
    assert not problems, f"{key}: {problems[:5]}"


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
    exact = same_machine()
    for key in ref:
        if exact:
            assert_same(got[key], ref[key], f"{case}/{key}")
        elif isinstance(ref[key], pd.DataFrame):
            assert_close(ref[key], got[key], f"{case}/{key}")
        else:  # parameters after training: only their shapes are machine-independent; the tables above judge the run
            assert got[key].shape == ref[key].shape and got[key].dtype == ref[key].dtype, f"{case}/{key}"


def test_regimes_resolved_in_one_place():
    from vqlib import regimes
    from vqlib.studies import common

    assert not hasattr(common, "regime_recipe")  # one rescaling, vqlib.regimes.rescale
    for name in regimes.REGIMES:
        assert regimes.rescale(name) == regimes.get(name)
    r = regimes.rescale("codebook-lr", 50, 2e-3)
    assert (r.steps, r.lr, r.codebook_lr) == (50, 2e-3, 2e-2)
    assert regimes.ema_decay(regimes.get("sgd")) == regimes.get("ema").ema_decay


def test_fit_schedule_and_ema_of_one_block():
    """A toy model through the loop: evaluation schedule, on_step order, EMA of one block."""
    from vqlib import regimes, trainer

    z = torch.randn(2, 50, 3, generator=torch.Generator().manual_seed(0))
    blocks = [torch.nn.Parameter(torch.zeros(2, 4, 3)), torch.zeros(2, 4, 3)]
    model = trainer.CodebookOnly(blocks)
    calls = []
    run = trainer.fit(model, lambda step: z[:, :8], 8, regimes.optimizer(regimes.adam(0.1), *model.param_groups()),
                      [trainer.EMACodebook(model, torch.arange(2, 4), 0.5)], evaluate=lambda step: step, eval_every=3,
                      on_step=calls.append)
    assert run.history == [0, 3, 6, 8] and run.steps_run == 8 and calls == list(range(9))
    assert not torch.equal(model.blocks[1], torch.zeros(2, 4, 3)) and not model.blocks[1].requires_grad


def _stop_run(scores, steps=40, min_steps=8):
    """Two codebook slices trained by Adam; slice scores scores(step) -> (2,); the stop rule checks every 4 over a window of 8."""
    from vqlib import regimes, trainer

    z = torch.randn(2, 50, 3, generator=torch.Generator().manual_seed(0))
    model = trainer.CodebookOnly([torch.nn.Parameter(torch.zeros(2, 4, 3))])
    stop = trainer.SliceStop(2, 4, 8, 0.01, min_steps, scores)
    seen = {}
    run = trainer.fit(model, lambda step: z[:, (step % 6) * 8:(step % 6) * 8 + 8], steps,
                      regimes.optimizer(regimes.adam(0.1), *model.param_groups()), evaluate=lambda step: step, eval_every=4,
                      stop=stop, on_step=lambda step: seen.__setitem__(step, model.blocks[0].detach().clone()))
    return run, stop, seen


def test_slice_stop_freezes_a_stopped_slice_and_lets_the_other_run_to_the_cap():
    """Slice 0 never improves (stops at the first check with a full window past min_steps); slice 1 keeps improving."""
    run, stop, seen = _stop_run(lambda step: torch.tensor([1.0, 1.0 / (1 + step)]))
    assert stop.met.tolist() == [True, False] and stop.stop_step.tolist() == [8, 40] and run.steps_run == 40
    assert run.history == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
    # Adam moves a parameter even at zero gradient: the frozen slice must not move at all, the other must
    assert torch.equal(seen[40][0], seen[8][0]) and not torch.equal(seen[40][1], seen[8][1])
    assert not torch.equal(seen[8][0], seen[4][0])  # it did train before it stopped


def test_slice_stop_reads_the_best_so_far_over_the_window_and_ends_when_all_stopped():
    """Slice 1 improves 10 % per check until step 16, then plateaus: it stops at the first check whose window saw < 1 %."""
    def scores(step):
        return torch.tensor([1.0, 0.9 ** min(step, 16) / 4 + (0.5 if step == 24 else 0.0)])  # a one-off spike at 24

    run, stop, _ = _stop_run(scores)
    # slice 1: best(16) = best(20) = best(24) (the spike does not count) = 0.9**16/4; the window 8 steps back from 24 is 16
    assert stop.stop_step.tolist() == [8, 24] and stop.met.all() and run.steps_run == 24 and run.history[-1] == 24


def test_slice_stop_needs_a_window_that_is_a_multiple_of_the_check():
    from vqlib import trainer

    with pytest.raises(ValueError, match="multiple"):
        trainer.SliceStop(2, 4, 6, 0.01, 0, lambda e: e)


def test_the_other_machine_rule_still_catches_a_wrong_loop():
    """Off the reference machine the comparison is looser, but a 5 % change of STE's error is still a failure."""
    ref = REFERENCE["grid"]["seeds-budget/history"]
    wrong = ref.assign(recon_mse=ref.recon_mse.where(ref.method != "ste", ref.recon_mse * 1.05))
    assert_close(ref, ref.copy(), "same")
    with pytest.raises(AssertionError, match="recon_mse"):
        assert_close(ref, wrong, "wrong")


def test_minibatches_drawn_in_blocks_equal_the_indices_drawn_at_once():
    """The block-wise stream (grid, codebook and real-data training) is batch_indices step for step, across block ends."""
    from vqlib.trainer import Minibatches, batch_indices

    stream = Minibatches(3, 50, 4, seed=7, block=3)
    assert torch.equal(torch.stack([stream(s) for s in range(1, 9)]), batch_indices(3, 50, 8, 4, seed=7))
    with pytest.raises(ValueError, match="in order"):
        stream(1)
