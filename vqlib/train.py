"""Training loops: Adam on S seeds at once (one autograd graph, losses summed over independent seeds)."""

from __future__ import annotations

import os
import sys

import pandas as pd
import torch
from tqdm import tqdm

from vqlib.checks import check_finite, check_float, check_int
from vqlib.models import LinearVQ


def progress_enabled() -> bool:
    """Progress bars on stderr only when asked for (VQLIB_PROGRESS=1), never inside a notebook kernel."""
    return os.environ.get("VQLIB_PROGRESS") == "1" and "ipykernel" not in sys.modules


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
) -> pd.DataFrame:
    """Train with Adam; return evaluation metrics (long format: step, seed, metric columns).

    Evaluation runs at step 0, every `eval_every` steps (0: only at the start and end) and at the end.
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
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rows = [_eval_rows(model, x_eval, A, 0)]
    for step in tqdm(range(1, steps + 1), disable=not progress_enabled(), desc=model.estimator_name, leave=False):
        batch = torch.gather(x_train, 1, idx[step - 1].unsqueeze(-1).expand(-1, -1, x_train.shape[-1]))
        loss = model.losses(batch, beta)["total"].sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step == steps or (eval_every and step % eval_every == 0):
            rows.append(_eval_rows(model, x_eval, A, step))
    return pd.concat(rows, ignore_index=True)


def _eval_rows(model: LinearVQ, x_eval: torch.Tensor, A: torch.Tensor | None, step: int) -> pd.DataFrame:
    result = model.evaluate(x_eval, A)
    frame = pd.DataFrame({k: v.cpu().numpy() for k, v in result.items()})
    frame.insert(0, "seed", range(len(frame)))
    frame.insert(0, "step", step)
    return frame
