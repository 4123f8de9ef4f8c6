"""Training regimes: complete, named recipes fixed before any verdict is computed.

A verdict drawn from one training setting is a statement about that setting, so every estimator and
initialization claim is evaluated in each regime. A regime states the optimizer and the learning rate of
each parameter group (encoder/decoder vs codebook), the codebook update rule (gradient of the codebook
loss, or EMA of assigned encoder outputs), the codebook start and the step budget. The values below were
chosen from the literature and the optimizer's mechanics (Adam moves a parameter about lr per step), never
toward a seed's number; changing one re-executes every chapter that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from vqlib.checks import check_choice, check_float, check_int

if TYPE_CHECKING:
    from vqlib.trainer import Converge


@dataclass(frozen=True)
class Regime:
    """One training recipe. `steps` is the budget; with `converge`, a cap (stop rule: :data:`CONVERGE_RULE`)."""

    name: str
    optimizer: str  # "adam" or "sgd" (heavy-ball momentum)
    lr: float  # encoder and decoder
    codebook_lr: float  # codebook (unused when codebook_update == "ema")
    codebook_update: str  # "gradient" (codebook loss ‖sg(z) − q‖²) or "ema" (vqlib.ema)
    init: str  # codebook initializer (vqlib.init.INITIALIZERS)
    steps: int
    converge: bool = False
    momentum: float = 0.0  # SGD only
    ema_decay: float = 0.99  # EMA only
    summary: str = ""

    def as_row(self) -> dict:
        """The recipe as a table row (for the chapters' settings tables)."""
        return asdict(self)


#: "converged": evaluate every CONVERGE_EVERY steps; from the seeds' budget (500 steps) on, stop when the held-out
#: objective, averaged over all slices, improved by less than CONVERGE_TOL (relative) over the last CONVERGE_EVERY
#: steps; at most `steps`. (The rule is not applied before the budget: early on ‖z‖ grows faster than the codebook
#: follows and the objective rises, which a rule applied from the first check would take for convergence.)
CONVERGE_EVERY = 250
CONVERGE_TOL = 0.005

REGIMES: dict[str, Regime] = {
    r.name: r
    for r in [
        Regime("seeds-budget", "adam", 1e-3, 1e-3, "gradient", "uniform", 500,
               summary="the seeds' setting: Adam 1e-3 for every parameter, uniform [−1/K, 1/K] codebook, 500 steps"),
        Regime("converged", "adam", 1e-3, 1e-3, "gradient", "uniform", 5000, converge=True,
               summary="as seeds-budget, trained until the held-out objective stops improving (cap 5000 steps)"),
        Regime("codebook-lr", "adam", 1e-3, 1e-2, "gradient", "uniform", 500,
               summary="as seeds-budget with the codebook's learning rate 10× the rest, so codes can keep up with the latent"),
        Regime("ema", "adam", 1e-3, 0.0, "ema", "uniform", 500, ema_decay=0.99,
               summary="codebook by EMA of assigned encoder outputs (decay 0.99, Laplace smoothing, as VQ-VAE); "
                       "the rotation-trick paper's VQ-VAE runs used EMA with decay 0.8"),
        Regime("data-init", "adam", 1e-3, 1e-3, "gradient", "data_samples", 500,
               summary="as seeds-budget with the codebook started at K distinct encoded training vectors"),
        Regime("sgd", "sgd", 1e-2, 1e-2, "gradient", "uniform", 500, momentum=0.9,
               summary="SGD with momentum 0.9 at lr 1e-2 for every parameter: no per-parameter scaling, so the "
                       "projection's 1/m energy loss and the rotation trick's λ act on the step size"),
    ]
}


def get(name: str) -> Regime:
    """The regime called `name` (a clear error naming the allowed ones otherwise)."""
    return REGIMES[check_choice("regime", name, list(REGIMES))]


def adam(lr: float, steps: int = 500) -> Regime:
    """No named regime: Adam at `lr` for every parameter, codebook by gradient (the book's first setting)."""
    check_float("lr", lr, 0.0, strict_low=True)
    return Regime("adam", "adam", lr, lr, "gradient", "uniform", steps)


#: The learning rate and step budget of the seeds-budget regime: a chapter's `lr` and `steps` rescale every regime.
BASE_LR = REGIMES["seeds-budget"].lr
BASE_STEPS = REGIMES["seeds-budget"].steps


def rescale(name: str, steps: int = BASE_STEPS, lr: float = BASE_LR) -> Regime:
    """The regime `name` with a chapter's budget: learning rates × lr/BASE_LR, budget × steps/BASE_STEPS.

    At the defaults it is the recipe above unchanged (the converged regime's cap stays 10× the fixed budget);
    a chapter's `-p steps 5` shrinks every regime alike, so small test runs stay small.
    """
    r = get(name)
    check_int("steps", steps, 1)
    check_float("lr", lr, 0.0, strict_low=True)
    f = lr / BASE_LR
    return replace(r, lr=r.lr * f, codebook_lr=r.codebook_lr * f, steps=max(1, round(r.steps * steps / BASE_STEPS)))


def ema_decay(regime: Regime) -> float:
    """The EMA decay a codebook updated by EMA uses under `regime`: its own, else the "ema" regime's."""
    return regime.ema_decay if regime.codebook_update == "ema" else REGIMES["ema"].ema_decay


def optimizer(regime: Regime, params: list[torch.nn.Parameter], codebook: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The regime's optimizer over two parameter groups: `params` at lr, `codebook` at codebook_lr (empty groups left out).

    With EMA updates the codebook is not handed to the optimizer (pass an empty list).
    """
    groups = [g for g in ({"params": params, "lr": regime.lr}, {"params": codebook, "lr": regime.codebook_lr}) if g["params"]]
    if regime.optimizer == "adam":
        return torch.optim.Adam(groups)
    return torch.optim.SGD(groups, momentum=regime.momentum)


class Optimizers:
    """Several optimizers stepped as one (e.g. one per regime over its own codebook block)."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        self.optimizers = optimizers

    @property
    def state(self) -> dict:
        """Every member's per-parameter state."""
        return {p: s for o in self.optimizers for p, s in o.state.items()}

    def zero_grad(self, set_to_none: bool = True) -> None:
        """zero_grad of every member."""
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        """One step of every member, in order."""
        for o in self.optimizers:
            o.step()


def stop_rule(regime: Regime, min_steps: int, score: Callable[[Any], float]) -> Converge | None:
    """The regime's stop rule (vqlib.trainer.Converge: CONVERGE_EVERY, CONVERGE_TOL, from `min_steps` on), or None."""
    from vqlib.trainer import Converge

    return Converge(CONVERGE_EVERY, CONVERGE_TOL, min_steps, score) if regime.converge else None
