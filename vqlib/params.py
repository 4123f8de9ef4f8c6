"""Chapter parameters: one registry of every knob a chapter may expose, with its type and allowed range.

A chapter's first code cell (tagged `parameters`) assigns its knobs; the next cell calls
:func:`check_namespace` so a bad value stops the run at once, naming the parameter and what is allowed.
The command line (:mod:`vqlib.run`) also checks names against the chapter's own parameters cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vqlib.checks import check_choice, check_float, check_int
from vqlib.estimators import ESTIMATORS


@dataclass(frozen=True)
class Spec:
    """What a parameter accepts: a checker that returns the (normalised) value or raises."""

    check: Callable[[str, Any], Any]
    help: str


def _int(low: int | None = None, high: int | None = None):
    return lambda name, v: check_int(name, v, low, high)


def _float(low: float | None = None, high: float | None = None, strict_low: bool = False):
    return lambda name, v: check_float(name, v, low, high, strict_low)


def _choice(options: Callable[[], list[str]]):
    return lambda name, v: check_choice(name, v, options())


def _list(item: Callable[[str, Any], Any], min_len: int = 1):
    def check(name: str, v: Any) -> list:
        if not isinstance(v, (list, tuple)) or len(v) < min_len:
            raise TypeError(f"{name} must be a list of at least {min_len} item(s), got {v!r}")
        return [item(f"{name}[{i}]", x) for i, x in enumerate(v)]

    return check


def _bool(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"{name} must be true or false, got {type(v).__name__} {v!r}")
    return v


def _initializers() -> list[str]:
    from vqlib.init import INITIALIZERS

    return sorted(INITIALIZERS)


SPECS: dict[str, Spec] = {
    "seeds": Spec(_int(1, 1000), "number of independent seeds (each: new data, subspace, init, batches)"),
    "seed": Spec(_int(0), "base random seed"),
    "D": Spec(_int(1), "ambient data dimension"),
    "m": Spec(_int(1), "latent (code vector) dimension"),
    "K": Spec(_int(1), "codebook size"),
    "K_list": Spec(_list(_int(1)), "codebook sizes to sweep"),
    "steps": Spec(_int(1), "training steps"),
    "batch_size": Spec(_int(1), "minibatch size"),
    "lr": Spec(_float(0.0, strict_low=True), "Adam learning rate"),
    "beta": Spec(_float(0.0), "commitment weight β"),
    "beta_list": Spec(_list(_float(0.0)), "commitment weights to sweep"),
    "sigma": Spec(_float(0.0), "isotropic noise std σ"),
    "sigma_list": Spec(_list(_float(0.0)), "noise levels to sweep"),
    "lambda_1": Spec(_float(0.0, strict_low=True), "largest latent variance λ₁"),
    "decay": Spec(_float(0.0, 1.0, strict_low=True), "spectrum ratio: λ_i = λ₁ · decay^(i−1)"),
    "n_train": Spec(_int(1), "training vectors per seed"),
    "n_eval": Spec(_int(1), "held-out evaluation vectors per seed"),
    "eval_every": Spec(_int(0), "evaluate every this many steps (0: start and end only)"),
    "kmeans_iters": Spec(_int(0), "Lloyd iterations after k-means++ seeding"),
    "device": Spec(_choice(lambda: ["auto", "cpu", "cuda"]), "where tensors live ('auto': CUDA when present)"),
    "estimator": Spec(_choice(lambda: sorted(ESTIMATORS)), "gradient estimator"),
    "estimators": Spec(_list(_choice(lambda: sorted(ESTIMATORS))), "gradient estimators to compare"),
    "init": Spec(_choice(_initializers), "codebook initializer"),
    "inits": Spec(_list(_choice(_initializers)), "codebook initializers to compare"),
    "learn_encoder": Spec(_bool, "train the encoder (false: fixed PCA encoder)"),
    "n_samples": Spec(_int(1), "Monte Carlo samples per seed"),
    "K_2d": Spec(_int(2), "codebook size of the 2-D experiments"),
    "snapshot_every": Spec(_int(1), "keep the codebook every this many training steps"),
    "grid_size": Spec(_int(2), "points per axis of a plotting grid"),
    "n_levels_list": Spec(_list(_int(1, 4096)), "numbers of levels N of scalar quantizers"),
    "max_rate_bits": Spec(_int(1, 12), "largest rate (bits per sample) drawn for scalar quantizers"),
    "dims": Spec(_list(_int(1)), "vector dimensions to sweep"),
    "n_check": Spec(_int(1), "random cases on which a derived formula is checked against autograd"),
}

#: Names the Jupyter kernel itself puts in a notebook's namespace.
_KERNEL_NAMES = {"In", "Out", "exit", "quit", "get_ipython", "open"}


def check(params: dict[str, Any], allowed: set[str] | None = None) -> dict[str, Any]:
    """Check every parameter (name, type, range); return them normalised (ints accepted as floats)."""
    known = set(SPECS) if allowed is None else set(allowed)
    out = {}
    for name, value in params.items():
        if name not in known or name not in SPECS:
            raise ValueError(f"unknown parameter {name!r}; allowed parameters: {sorted(known & set(SPECS))}")
        out[name] = SPECS[name].check(name, value)
    return out


def check_namespace(namespace: dict[str, Any]) -> dict[str, Any]:
    """Check the parameters a chapter's namespace holds right after its parameters cell (and papermill's).

    Every public plain-data name must be a known parameter: papermill only warns on an unknown name, we fail.
    """
    params = {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_") and k not in _KERNEL_NAMES and isinstance(v, (bool, int, float, str, list, tuple, type(None)))
    }
    checked = check(params)
    namespace.update(checked)
    return checked
