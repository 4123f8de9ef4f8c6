"""Adam on S seeds at once (one autograd graph, losses summed over independent seeds), through the one loop vqlib.trainer.fit."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch

from vqlib import regimes
from vqlib.checks import check_finite, check_float, check_int
from vqlib.models import LinearVQ
from vqlib.trainer import CodebookOnly, VQObjective, batch_indices, fit, progress_enabled, take_rows

__all__ = ["CodebookRecorder", "batch_indices", "evaluate_codebook", "progress_enabled", "take_rows", "train", "train_codebook"]


def train(
    model: LinearVQ,
    x_train: torch.Tensor,
    x_eval: torch.Tensor,
    steps: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    beta: float = 0.25,
    seed: int = 0,
    eval_every: int = 0,
    A: torch.Tensor | None = None,
    callback: Callable[[LinearVQ, int], None] | None = None,
) -> pd.DataFrame:
    """Train with Adam; return evaluation metrics (long format: step, seed, metric columns).

    Evaluation runs at step 0, every `eval_every` steps (0: only at the start and end) and at the end.
    `callback(model, step)`, if given, is called at step 0 and after every optimizer step (e.g. a
    :class:`CodebookRecorder`).
    """
    check_int("steps", steps, 1)
    check_int("batch_size", batch_size, 1)
    check_float("lr", lr, 0.0, strict_low=True)
    check_float("beta", beta, 0.0)
    check_int("eval_every", eval_every, 0)
    check_finite("x_train", x_train)
    check_finite("x_eval", x_eval)
    S_model, _, D_model = model.encoder.shape
    for name, x in (("x_train", x_train), ("x_eval", x_eval)):
        if x.ndim != 3 or x.shape[0] != S_model or x.shape[2] != D_model:
            raise ValueError(f"{name} must have shape (S={S_model}, N, D={D_model}) to match the model, got {tuple(x.shape)}")
    S, N, _ = x_train.shape
    idx = batch_indices(S, N, steps, batch_size, seed).to(x_train.device)
    task = VQObjective(model, beta)
    opt = regimes.optimizer(regimes.adam(lr), *task.param_groups())
    run = fit(
        task, lambda step: take_rows(x_train, idx[step - 1]), steps, opt,
        evaluate=lambda step: _eval_rows(model, x_eval, A, step), eval_every=eval_every,
        on_step=None if callback is None else lambda step: callback(model, step), desc=model.estimator_name,
    )
    return pd.concat(run.history, ignore_index=True)


def _eval_rows(model: LinearVQ, x_eval: torch.Tensor, A: torch.Tensor | None, step: int) -> pd.DataFrame:
    result = model.evaluate(x_eval, A)
    frame = pd.DataFrame({k: v.cpu().numpy() for k, v in result.items()})
    frame.insert(0, "seed", range(len(frame)))
    frame.insert(0, "step", step)
    return frame


@torch.no_grad()
def evaluate_codebook(z: torch.Tensor, codebook: torch.Tensor, batch_size: int = 256, chunk: int = 2048) -> dict[str, torch.Tensor]:
    """Quantizer metrics of a codebook (S, K, m) on held-out encoded vectors z (S, N, m), per seed (S,).

    Assignment runs over chunks of `chunk` vectors so K = 256 with many stacked models stays small in memory.
    """
    from vqlib import metrics
    from vqlib.quantize import assign

    idx = torch.cat([assign(z[:, i : i + chunk], codebook) for i in range(0, z.shape[1], chunk)], 1)
    q = torch.gather(codebook, 1, idx.unsqueeze(-1).expand(-1, -1, codebook.shape[-1]))
    counts = metrics.code_counts(idx, codebook.shape[1])
    return {
        "latent_distortion": ((z - q) ** 2).double().sum(-1).mean(-1),
        "dead_codes": metrics.dead_codes(counts),
        "usage": metrics.usage(counts),
        "entropy_bits": metrics.entropy_bits(counts),
        "perplexity": metrics.perplexity(counts),
        "dead_per_batch": metrics.dead_codes_per_batch(idx, codebook.shape[1], min(batch_size, z.shape[1])),
    }


def train_codebook(
    z_train: torch.Tensor,
    z_eval: torch.Tensor,
    codebook: torch.Tensor,
    steps: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
    eval_every: int = 0,
) -> tuple[pd.DataFrame, torch.Tensor]:
    """Adam on the codebook loss E‖sg(z) − q‖² alone, on fixed encoded vectors z (S, N, m); S models at once.

    This is exactly what training a LinearVQ with a fixed encoder and decoder does to its codebook: every
    estimator sends gradient only to z and the commitment term only to the encoder, so neither the
    estimator nor β can change the codebook's path. Minibatches are drawn as in :func:`train`.
    Returns the evaluation history (as :func:`train`, metrics of :func:`evaluate_codebook`) and the final codebook.
    """
    check_int("steps", steps, 1)
    check_int("batch_size", batch_size, 1)
    check_float("lr", lr, 0.0, strict_low=True)
    check_int("eval_every", eval_every, 0)
    if z_train.ndim != 3 or codebook.ndim != 3 or z_train.shape[0] != codebook.shape[0] or z_train.shape[-1] != codebook.shape[-1]:
        raise ValueError(f"z_train (S, N, m) and codebook (S, K, m) must agree in S and m, got {tuple(z_train.shape)} and {tuple(codebook.shape)}")
    S, N, m = z_train.shape
    idx = batch_indices(S, N, steps, batch_size, seed).to(z_train.device)
    cb = torch.nn.Parameter(codebook.detach().clone().float())
    task = CodebookOnly([cb])
    opt = regimes.optimizer(regimes.adam(lr), *task.param_groups())

    def rows(step: int) -> pd.DataFrame:
        frame = pd.DataFrame({k: v.cpu().numpy() for k, v in evaluate_codebook(z_eval, cb.detach(), batch_size).items()})
        frame.insert(0, "seed", range(S))
        frame.insert(0, "step", step)
        return frame

    run = fit(task, lambda step: take_rows(z_train, idx[step - 1]), steps, opt, evaluate=rows,
              eval_every=eval_every, desc="codebook")
    return pd.concat(run.history, ignore_index=True), cb.detach()


class CodebookRecorder:
    """A training callback that keeps each model's codebook every `every` steps and its last state, by estimator name."""

    def __init__(self, every: int = 1) -> None:
        self.every = check_int("every", every, 1)
        self.steps: dict[str, list[int]] = {}
        self.codebooks: dict[str, list[torch.Tensor]] = {}
        self.last: dict[str, dict[str, torch.Tensor]] = {}  # encoder, codebook, decoder after the last call

    def __call__(self, model: LinearVQ, step: int) -> None:
        self.last[model.estimator_name] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if step % self.every == 0:
            self.steps.setdefault(model.estimator_name, []).append(step)
            self.codebooks.setdefault(model.estimator_name, []).append(model.codebook.detach().cpu().clone())

    def trajectory(self, name: str) -> torch.Tensor:
        """Recorded codebooks of estimator `name` as one tensor (T, S, K, m)."""
        if name not in self.codebooks:
            raise ValueError(f"no codebooks recorded for {name!r}; recorded: {sorted(self.codebooks)}")
        return torch.stack(self.codebooks[name])
