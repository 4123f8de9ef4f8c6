"""Training regimes: complete, named recipes fixed before any verdict is computed.

A verdict drawn from one training setting is a statement about that setting, so every estimator and
initialization claim is evaluated in each regime. A regime states the optimizer and the learning rate of
each parameter group (encoder/decoder vs codebook), the codebook update rule (gradient of the codebook
loss, or EMA of assigned encoder outputs), the codebook start and the step budget. The values below were
chosen from the literature and the optimizer's mechanics (Adam moves a parameter about lr per step), never
toward a seed's number; changing one re-executes every chapter that uses it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from vqlib.checks import check_choice


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


def optimizer(regime: Regime, params: list[torch.nn.Parameter], codebook: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The regime's optimizer over two parameter groups: `params` at lr, `codebook` at codebook_lr.

    With EMA updates the codebook is not handed to the optimizer (pass an empty list).
    """
    groups = [{"params": params, "lr": regime.lr}]
    if codebook:
        groups.append({"params": codebook, "lr": regime.codebook_lr})
    if regime.optimizer == "adam":
        return torch.optim.Adam(groups)
    return torch.optim.SGD(groups, momentum=regime.momentum)
