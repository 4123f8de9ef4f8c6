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

from vqlib import regimes as regimes_mod
from vqlib.checks import check_int
from vqlib.train import evaluate_codebook
from vqlib.trainer import CodebookOnly, EMACodebook, Minibatches, fit, take_rows


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
    z_val: torch.Tensor | None = None,
    min_steps: int = 0,
) -> pd.DataFrame:
    """Train codebooks (C, K, m) on fixed encoded vectors z (S, N, m) under each regime; C is a multiple of S.

    Codebook c trains on the vectors of seed c mod S, and every codebook of a seed sees the same minibatches
    in every regime (paired comparisons). Evaluation (vqlib.train.evaluate_codebook) at step 0 and at the end
    on all of z_eval, and every `eval_every` steps on its first `n_curve` vectors (all when None).
    Returns one row per (regime, step, codebook) with columns regime, step, book (index into C) and the metrics;
    rows evaluated on the curve subset have curve=True.

    A converging regime (vqlib.regimes.stop_rule; `steps` is then its cap) trains alone: each codebook stops when
    its distortion on the validation latents `z_val` (S, N_val, m), never z_eval, improved by less than the rule's
    tolerance over its window, checked from `min_steps` on; its rows then carry stop_step and met_rule.
    """
    check_int("steps", steps, 1)
    check_int("batch_size", batch_size, 1)
    check_int("eval_every", eval_every, 0)
    S, N, m = z_train.shape
    C, K, _ = codebooks.shape
    if C % S or codebooks.shape[-1] != m:
        raise ValueError(f"codebooks (C, K, m) must have C a multiple of the {S} seeds and m = {m}, got {tuple(codebooks.shape)}")
    specs = [regimes_mod.get(r) for r in regimes]
    converging = any(spec.converge for spec in specs)
    if converging and (len(specs) > 1 or z_val is None):
        raise ValueError(f"a converging regime trains alone and needs validation latents z_val, got regimes {regimes}")
    reps = C // S
    batches = Minibatches(S, N, batch_size, seed)
    ema_blocks = [spec.codebook_update == "ema" for spec in specs]
    blocks = [codebooks.detach().clone().float() if e else torch.nn.Parameter(codebooks.detach().clone().float()) for e in ema_blocks]
    model = CodebookOnly(blocks)
    opts = [regimes_mod.optimizer(spec, *CodebookOnly([block]).param_groups()) for spec, block, e in zip(specs, blocks, ema_blocks) if not e]
    emas = [EMACodebook(model, torch.arange(r * C, (r + 1) * C), spec.ema_decay) for r, spec in enumerate(specs) if ema_blocks[r]]
    n_curve = z_eval.shape[1] if n_curve is None else check_int("n_curve", n_curve, 1, z_eval.shape[1])
    seed_of = torch.arange(C, device=z_train.device) % S
    subset = n_curve < z_eval.shape[1]

    def rows(step: int, curve: bool) -> pd.DataFrame:
        z = z_eval[:, :n_curve] if curve else z_eval
        frames = []
        for spec, block in zip(specs, model.blocks):
            metrics = evaluate_codebook(z[seed_of], block.detach(), batch_size)
            frame = pd.DataFrame({k: v.cpu().numpy() for k, v in metrics.items()})
            frame.insert(0, "book", range(C))
            frame.insert(0, "step", step)
            frame.insert(0, "regime", spec.name)
            frame["curve"] = curve
            if converging:
                frame["val_distortion"] = evaluate_codebook(z_val[seed_of], block.detach(), batch_size)["latent_distortion"].cpu().numpy()
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def evaluate(step: int) -> list[pd.DataFrame]:
        if step in (0, steps):  # all of z_eval, and the curve subset where curves are drawn on one
            return [rows(step, False)] + ([rows(step, True)] if subset and eval_every else [])
        return [rows(step, subset)]

    stop = regimes_mod.stop_rule(specs[0], C, min_steps, lambda frames: torch.tensor(frames[0].val_distortion.to_numpy())) if converging else None
    optimizer = regimes_mod.Optimizers(opts) if opts else None
    run = fit(model, lambda step: take_rows(z_train, batches(step).to(z_train.device)).repeat(reps, 1, 1), steps, optimizer, emas, evaluate=evaluate,
              eval_every=eval_every, stop=stop, desc="codebooks")
    if stop is not None and subset and run.steps_run < steps:  # every codebook stopped early: the end on all of z_eval too
        run.history.append([rows(run.steps_run, False)])
    out = pd.concat([f for frames in run.history for f in frames], ignore_index=True)
    if stop is not None:
        out["stop_step"], out["met_rule"] = stop.stop_step.numpy()[out.book], stop.met.numpy()[out.book]
    return out
