"""Reference outputs of the training entry points on small grids, for tests/test_trainer.py.

    PYTHONPATH=. python tests/reference/make_reference.py [OUT]   # default tests/reference/trainer.pt

Run once on the training code before the one-loop refactor (commit 9b9100e); the test reruns :func:`cases`
and compares every frame and tensor bit for bit. One CPU thread.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch

from vqlib import codebook_training, data, grid, realdata, regimes, train
from vqlib.models import LinearVQ
from vqlib.studies import common

ESTIMATORS = ["ste", "projection", "rotation_trick", "nsvq"]
REGIMES = ["seeds-budget", "converged", "codebook-lr", "ema", "data-init", "sgd"]
MLP_METHODS = ["ste", "projection", "rotation_trick", "nsvq", "diveq", "restart", "ema", "simvq"]
MLP_REGIMES = ["seeds-budget", "codebook-lr", "ema", "sgd", "data-init"]


def _testbed(seeds: int = 2) -> data.LinearGaussian:
    return common.testbed_data(seeds, 8, 2, 0.1, 4.0, 0.5, 300, 200, 11, torch.device("cpu"))


def case_train() -> dict:
    """train.train: one LinearVQ per estimator, with a CodebookRecorder."""
    tb = _testbed()
    rec = train.CodebookRecorder(every=5)
    out = {}
    hist = common.train_estimators(tb, 8, ESTIMATORS, 20, 32, 1e-2, 0.25, 5, eval_every=7, callback=rec)
    out["history"] = hist
    for name in ESTIMATORS:
        out[f"traj/{name}"] = rec.trajectory(name)
        for k, v in rec.last[name].items():
            out[f"last/{name}/{k}"] = v
    enc = common.start_encoder(tb, 5)
    model = LinearVQ(enc, torch.randn(2, 8, 2, generator=torch.Generator().manual_seed(1)), enc.transpose(1, 2), ["ste", "rotation_trick"], learn_encoder=False)
    out["fixed_encoder"] = train.train(model, tb.x_train, tb.x_eval, 15, 16, 1e-2, 0.5, 3, 0, tb.A)
    out["fixed_encoder/codebook"] = model.codebook.detach().clone()
    return out


def case_train_codebook() -> dict:
    """train.train_codebook."""
    g = torch.Generator().manual_seed(3)
    z, ze, cb = torch.randn(2, 200, 3, generator=g), torch.randn(2, 100, 3, generator=g), 0.1 * torch.randn(2, 8, 3, generator=g)
    hist, final = train.train_codebook(z, ze, cb, 25, 16, 0.05, seed=4, eval_every=10)
    return {"history": hist, "codebook": final}


def case_codebooks() -> dict:
    """codebook_training.train_codebooks under adam, sgd, ema, codebook-lr (curve subset, eval_every)."""
    g = torch.Generator().manual_seed(5)
    z, ze, cb = torch.randn(2, 200, 3, generator=g), torch.randn(2, 100, 3, generator=g), 0.1 * torch.randn(4, 8, 3, generator=g)
    out = {"all": codebook_training.train_codebooks(z, ze, cb, ["seeds-budget", "sgd", "ema", "codebook-lr"], 20, 16, 6, eval_every=6, n_curve=40)}
    out["ema_only"] = codebook_training.train_codebooks(z, ze, cb, ["ema"], 12, 16, 7)
    out["adam_only"] = codebook_training.train_codebooks(z, ze, cb[:2], ["seeds-budget"], 12, 16, 7, eval_every=5)
    return out


def _grid_out(run: grid.GridRun) -> dict:
    out = {"history": run.history, "restarts": run.restarts, "steps_run": torch.tensor(run.steps_run)}
    for k, v in run.model.state_dict().items():
        out[f"state/{k}"] = v.detach().clone()
    return out


def case_grid() -> dict:
    """grid.train_grid through studies.common: no regime, every regime (restart and every estimator), starts, mixture data."""
    tb = _testbed()
    methods = ESTIMATORS + ["restart"]
    out = {}
    run = common.estimator_grid([tb], 8, methods, [0.25, 1.0], 20, 32, 1e-2, 9, eval_every=5, restart_window=4,
                                starts=("standard", "collapsed", "collapsed_far"))
    out.update({f"plain/{k}": v for k, v in _grid_out(run).items()})
    runs = common.regime_grids([tb], 8, methods, [0.25], REGIMES, 20, 32, 1e-3, 9, eval_every=10, restart_window=4)
    for name, r in runs.items():
        out.update({f"{name}/{k}": v for k, v in _grid_out(r).items()})
    conv = common.regime_grids([tb], 8, ["ste"], [0.25], ["converged"], 30, 32, 1e-2, 2, restart_window=4)["converged"]
    out.update({f"converged-stop/{k}": v for k, v in _grid_out(conv).items()})
    mix = data.gaussian_mixture(2, 8, 2, 4, 2.0, 0.3, 0.1, 300, 200, 3)
    r = common.estimator_grid([tb, mix], 8, ["ste", "restart"], [0.25], 12, 32, 1e-2, 4, restart_window=3)
    out.update({f"mixture/{k}": v for k, v in _grid_out(r).items()})
    timing = common.estimator_grid([tb], 8, ["ste"], [0.25], 5, 32, 1e-2, 1, evaluation=False)
    out.update({f"noeval/{k}": v for k, v in _grid_out(timing).items()})
    return out


def case_realdata() -> dict:
    """realdata.train_study: every MLP method and several initializers, in several regimes (short budgets)."""
    d = data.digits(2, n_train=300, n_eval=100, seed=7)
    out = {}
    for name in MLP_REGIMES:
        reg = dataclasses.replace(regimes.get(name), steps=15)
        run = realdata.train_study(d, 16, MLP_METHODS, reg, inits=["uniform", "kmeans", "data_samples"], hidden=16, m=2,
                                   batch_size=32, seed=3, restart_window=4, init_vectors=200, n_val=0)
        out[f"{name}/initial"], out[f"{name}/final"] = run.initial, run.final
        for k, v in run.model.state_dict().items():
            out[f"{name}/state/{k}"] = v.detach().clone()
    return out


CASES = {"train": case_train, "train_codebook": case_train_codebook, "codebooks": case_codebooks, "grid": case_grid, "realdata": case_realdata}


def cases() -> dict[str, dict]:
    """Every case's outputs, on one CPU thread."""
    torch.set_num_threads(1)
    return {name: fn() for name, fn in CASES.items()}


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("trainer.pt")
    torch.save(cases(), path)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
