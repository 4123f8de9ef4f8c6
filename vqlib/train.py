"""Training loops: Adam on S seeds at once (one autograd graph, losses summed over independent seeds)."""

from __future__ import annotations

import os
from typing import Callable

import pandas as pd
import torch
from tqdm.auto import tqdm

from vqlib.checks import check_float, check_int
from vqlib.models import LinearVQ


def progress_enabled() -> bool:
    """Progress bars only when asked for (VQLIB_PROGRESS=1, set by the command line), never in notebooks."""
    return os.environ.get("VQLIB_PROGRESS") == "1"


def batch_indices(n_seeds: int, n: int, steps: int, batch_size: int, seed: int) -> torch.Tensor:
    """Minibatch indices for every step and seed, drawn up front: (steps, S, B), with replacement."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randint(n, (steps, n_seeds, batch_size), generator=gen)


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
    S, N, _ = x_train.shape
    idx = batch_indices(S, N, steps, batch_size, seed).to(x_train.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rows = [_eval_rows(model, x_eval, A, 0)]
    if callback is not None:
        callback(model, 0)
    for step in tqdm(range(1, steps + 1), disable=not progress_enabled(), desc=model.estimator_name, leave=False):
        batch = torch.gather(x_train, 1, idx[step - 1].unsqueeze(-1).expand(-1, -1, x_train.shape[-1]))
        loss = model.losses(batch, beta)["total"].sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if callback is not None:
            callback(model, step)
        if step == steps or (eval_every and step % eval_every == 0):
            rows.append(_eval_rows(model, x_eval, A, step))
    return pd.concat(rows, ignore_index=True)


def _eval_rows(model: LinearVQ, x_eval: torch.Tensor, A: torch.Tensor | None, step: int) -> pd.DataFrame:
    result = model.evaluate(x_eval, A)
    frame = pd.DataFrame({k: v.cpu().numpy() for k, v in result.items()})
    frame.insert(0, "seed", range(len(frame)))
    frame.insert(0, "step", step)
    return frame


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
