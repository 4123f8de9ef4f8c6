"""Codebook-only training under the named training regimes (vqlib.regimes), many regimes in one stacked model.

With a fixed encoder only the codebook trains (the initialization chapter shows the estimator and β then
have no effect), so a regime reduces to its codebook update: Adam or SGD with momentum on the codebook
loss E‖sg(z) − q‖² at the regime's codebook learning rate, or EMA of the assigned vectors (vqlib.ema).
A regime's `init` and encoder learning rate do not apply. All regimes × codebooks share one nearest-code
search per step (one stacked tensor); each regime's block then takes its own update.
"""

from __future__ import annotations

import pandas as pd
import torch

from vqlib import ema
from vqlib.checks import check_int
from vqlib.quantize import codebook_loss, quantize
from vqlib.regimes import Regime, get
from vqlib.train import batch_indices, evaluate_codebook, take_rows


def _optimizer(regime: Regime, param: torch.nn.Parameter) -> torch.optim.Optimizer:
    """The regime's optimizer for the codebook alone, at its codebook learning rate."""
    if regime.optimizer == "adam":
        return torch.optim.Adam([param], lr=regime.codebook_lr)
    return torch.optim.SGD([param], lr=regime.codebook_lr, momentum=regime.momentum)


def train_codebooks(
    z_train: torch.Tensor,
    z_eval: torch.Tensor,
    codebooks: torch.Tensor,
    regimes: list[str],
    steps: int,
    batch_size: int,
    seed: int,
    eval_every: int = 0,
    n_curve: int | None = None,
) -> pd.DataFrame:
    """Train codebooks (C, K, m) on fixed encoded vectors z (S, N, m) under each regime; C is a multiple of S.

    Codebook c trains on the vectors of seed c mod S, and every codebook of a seed sees the same minibatches
    in every regime (paired comparisons). Evaluation (vqlib.train.evaluate_codebook) at step 0 and `steps`
    on all of z_eval, and every `eval_every` steps on its first `n_curve` vectors (all when None).
    Returns one row per (regime, step, codebook) with columns regime, step, book (index into C) and the metrics;
    rows evaluated on the curve subset have curve=True.
    """
    check_int("steps", steps, 1)
    check_int("batch_size", batch_size, 1)
    check_int("eval_every", eval_every, 0)
    S, N, m = z_train.shape
    C, K, _ = codebooks.shape
    if C % S or codebooks.shape[-1] != m:
        raise ValueError(f"codebooks (C, K, m) must have C a multiple of the {S} seeds and m = {m}, got {tuple(codebooks.shape)}")
    specs = [get(r) for r in regimes]
    R, reps = len(specs), C // S
    idx = batch_indices(S, N, steps, batch_size, seed).to(z_train.device)
    blocks, opts, states = [], [], []
    for spec in specs:
        block = codebooks.detach().clone().float()
        if spec.codebook_update == "ema":
            blocks.append(block)
            opts.append(None)
            states.append(ema.ema_init(block))
        else:
            param = torch.nn.Parameter(block)
            blocks.append(param)
            opts.append(_optimizer(spec, param))
            states.append(None)
    n_curve = z_eval.shape[1] if n_curve is None else check_int("n_curve", n_curve, 1, z_eval.shape[1])
    seed_of = torch.arange(C, device=z_train.device) % S

    def rows(step: int, curve: bool) -> pd.DataFrame:
        z = z_eval[:, :n_curve] if curve else z_eval
        frames = []
        for spec, block in zip(specs, blocks):
            metrics = evaluate_codebook(z[seed_of], block.detach(), batch_size)
            frame = pd.DataFrame({k: v.cpu().numpy() for k, v in metrics.items()})
            frame.insert(0, "book", range(C))
            frame.insert(0, "step", step)
            frame.insert(0, "regime", spec.name)
            frame["curve"] = curve
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    history = [rows(0, False)]
    if n_curve < z_eval.shape[1] and eval_every:
        history.append(rows(0, True))
    for step in range(1, steps + 1):
        batch = take_rows(z_train, idx[step - 1]).repeat(reps, 1, 1)  # (C, B, m): the seed's batch for every codebook
        stacked = torch.cat(list(blocks))  # one nearest-code search for every regime
        q, code_idx = quantize(batch.repeat(R, 1, 1), stacked)
        loss = codebook_loss(batch.repeat(R, 1, 1), q).sum()
        for opt in opts:
            if opt is not None:
                opt.zero_grad(set_to_none=True)
        if any(opt is not None for opt in opts):
            loss.backward()
        for r, (spec, opt, state) in enumerate(zip(specs, opts, states)):
            if opt is not None:
                opt.step()
            else:
                blocks[r] = ema.ema_update(state, batch, code_idx[r * C:(r + 1) * C].detach(), spec.ema_decay)
        if eval_every and step % eval_every == 0 and step != steps:
            history.append(rows(step, n_curve < z_eval.shape[1]))
    history.append(rows(steps, False))
    if n_curve < z_eval.shape[1] and eval_every:
        history.append(rows(steps, True))
    return pd.concat(history, ignore_index=True)
