"""Training regimes: complete, named recipes fixed before any verdict is computed.

A verdict drawn from one training setting is a statement about that setting, so every estimator and
initialization claim is evaluated in each regime. A regime states the optimizer and the learning rate of
each parameter group (encoder/decoder vs codebook), the codebook update rule (gradient of the codebook
loss, or EMA of assigned encoder outputs), the codebook start and the step budget. The values below were
chosen from the literature and the optimizer's mechanics (Adam moves a parameter about lr per step), never
toward a seed's number; changing one re-executes every chapter that uses it. Which regimes each chapter runs is
vqlib.chapter_regimes (not part of any result's key, so choosing a regime for one chapter leaves the others' results fresh).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from vqlib.checks import check_choice, check_float, check_int

if TYPE_CHECKING:
    from vqlib.trainer import SliceStop


@dataclass(frozen=True)
class Regime:
    """One training recipe. `steps` is the budget; with `converge`, the cap of the per-slice stop rule (:func:`stop_rule`)."""

    name: str
    optimizer: str  # "adam" or "sgd" (heavy-ball momentum)
    lr: float  # encoder and decoder
    codebook_lr: float  # codebook, and the affine form's mean and scale (unused when codebook_update == "ema")
    codebook_update: str  # "gradient" (codebook loss ‖sg(z) − q‖²) or "ema" (vqlib.ema)
    init: str  # codebook initializer (vqlib.init.INITIALIZERS)
    steps: int
    converge: bool = False
    momentum: float = 0.0  # SGD only
    ema_decay: float = 0.99  # EMA only
    summary: str = ""
    #: How codes are parameterized and compared: "plain" (codes are parameters, Euclidean nearest code), "affine"
    #: (Huh et al. 2023: code_k = μ + s ⊙ c_k with μ, s ∈ R^m learned at codebook_lr, started at 0 and 1) or "cosine"
    #: (z and codes ℓ2-normalized before the nearest-code search, the losses and the decoder).
    form: str = "plain"

    def as_row(self) -> dict:
        """The recipe as a table row (for the chapters' settings tables), its stop rule in words."""
        return {**asdict(self), "stop_rule": describe_stop(self)}


#: Forms of the codebook a regime may use (:attr:`Regime.form`).
FORMS = ("plain", "affine", "cosine")

#: The per-slice stop rule of the converged regimes (vqlib.trainer.SliceStop). Every CONVERGE_EVERY steps, from the
#: seeds' budget on, a slice stops when its validation excess error E‖x − x̂‖² − floor (on a validation set drawn apart
#: from the evaluation set; floor: the noise no m-dimensional code removes, (D − m)σ² on the testbed) improved by less
#: than CONVERGE_TOL (relative) over the last CONVERGE_WINDOW steps (best value so far against the best a window
#: earlier). Why this objective: the reconstruction error is invariant to the linear model's free scale (E → aE,
#: C → aC, W → W/a), unlike the latent terms (1 + β)E‖z − q‖² that the old rule included and that weighted large-‖z‖
#: slices over small-‖z‖ ones; and the floor is removed because no training removes it, so a tolerance relative to
#: the whole error would be diluted by it. The tolerance was chosen on a pilot (20,000 steps, 8 seeds, every
#: estimator, tests/test_converged_stop.py and the testbed's stored check) so that training on to the cap moves the
#: reported error by less than 1 %.
CONVERGE_EVERY = 250
CONVERGE_WINDOW = 2000
CONVERGE_TOL = 0.002


def describe_stop(r: Regime) -> str:
    """The regime's stop rule in words (a fixed budget, or the per-slice rule with its cap)."""
    if not r.converge:
        return f"fixed budget: {r.steps} steps"
    return (f"per slice: validation excess error improved < {100 * CONVERGE_TOL:g} % over {CONVERGE_WINDOW} steps "
            f"(checked every {CONVERGE_EVERY}); cap {r.steps} steps")


_CAP = 20000  # the converged regimes' cap at the seeds' budget (40× it)

REGIMES: dict[str, Regime] = {
    r.name: r
    for r in [
        Regime("seeds-budget", "adam", 1e-3, 1e-3, "gradient", "uniform", 500,
               summary="the seeds' setting: Adam 1e-3 for every parameter, uniform [−1/K, 1/K] codebook, 500 steps"),
        Regime("converged", "adam", 1e-3, 1e-3, "gradient", "uniform", _CAP, converge=True,
               summary="as seeds-budget, each slice trained until its own validation excess error stops improving "
                       f"(cap {_CAP} steps)"),
        Regime("codebook-lr", "adam", 1e-3, 1e-2, "gradient", "uniform", 500,
               summary="as seeds-budget with the codebook's learning rate 10× the rest, so codes can keep up with the latent"),
        Regime("ema", "adam", 1e-3, 0.0, "ema", "uniform", 500, ema_decay=0.99,
               summary="codebook by EMA of assigned encoder outputs (decay 0.99, Laplace smoothing, as VQ-VAE); "
                       "the rotation-trick paper's VQ-VAE runs used EMA with decay 0.8"),
        Regime("ema-data", "adam", 1e-3, 0.0, "ema", "data_samples", 500, ema_decay=0.99,
               summary="as ema with the codebook started at data scale: K distinct encoded training vectors, so EMA "
                       "is not judged from a start ±1/K that leaves most codes without a vector"),
        Regime("data-init", "adam", 1e-3, 1e-3, "gradient", "data_samples", 500,
               summary="as seeds-budget with the codebook started at K distinct encoded training vectors"),
        Regime("sgd", "sgd", 1e-2, 1e-2, "gradient", "uniform", 500, momentum=0.9,
               summary="SGD with momentum 0.9 at lr 1e-2 for every parameter: no per-parameter scaling, so the "
                       "projection's 1/m energy loss and the rotation trick's λ act on the step size"),
        Regime("affine", "adam", 1e-3, 1e-3, "gradient", "uniform", 500, form="affine",
               summary="as seeds-budget with Huh et al. (2023)'s affine-reparameterized codebook μ + s ⊙ c_k, μ and s "
                       "learned (the paper's version, not vector-quantize-pytorch's running statistics), started at 0 and 1"),
        Regime("cosine", "adam", 1e-3, 1e-3, "gradient", "uniform", 500, form="cosine",
               summary="as seeds-budget with ℓ2-normalized z and codes (the rotation trick's VQ-VAE runs): "
                       "removes the free latent scale ‖z‖ from the codebook's race"),
        Regime("converged-affine", "adam", 1e-3, 1e-3, "gradient", "uniform", _CAP, converge=True, form="affine",
               summary=f"affine, each slice trained until its own stop rule (cap {_CAP} steps), as converged"),
        Regime("converged-cosine", "adam", 1e-3, 1e-3, "gradient", "uniform", _CAP, converge=True, form="cosine",
               summary=f"cosine, each slice trained until its own stop rule (cap {_CAP} steps), as converged"),
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

    At the defaults it is the recipe above unchanged (the converged regimes' cap stays 40× the fixed budget);
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

    @property
    def param_groups(self) -> list[dict]:
        """Every member's parameter groups (what the trainer's stop rule watches), in order."""
        return [g for o in self.optimizers for g in o.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """zero_grad of every member."""
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        """One step of every member, in order."""
        for o in self.optimizers:
            o.step()


def stop_rule(regime: Regime, n_slices: int, min_steps: int, score: Callable[[Any], torch.Tensor], observe: bool = False) -> SliceStop | None:
    """The regime's per-slice stop rule (vqlib.trainer.SliceStop: CONVERGE_EVERY, CONVERGE_WINDOW, CONVERGE_TOL, from
    `min_steps` on), or None for a fixed budget; observe=True records the stop steps but trains every slice to the cap."""
    from vqlib.trainer import SliceStop

    if not regime.converge:
        return None
    return SliceStop(n_slices, CONVERGE_EVERY, CONVERGE_WINDOW, CONVERGE_TOL, min_steps, score, observe)
