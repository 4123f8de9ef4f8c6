"""The one training loop: every VQ model (linear testbed, MLP, codebook alone), every regime, many slices at once.

A model is a small object (:class:`Trainable`): per-slice training losses of a minibatch with the encoder
outputs z and assignments idx, the codebook the EMA and restart act on, and a way to write codes. The loop
(:func:`fit`) takes one optimizer step on the summed loss, then the EMA codebook updates (vqlib.ema), then
the dead-code restart (vqlib.restart), evaluates on a schedule and applies the stop rule. It knows nothing of
chapters: optimizers and stop rules come from vqlib.regimes, data and evaluation from the caller.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from tqdm import tqdm

from vqlib import ema
from vqlib.quantize import codebook_loss, quantize
from vqlib.restart import DeadCodeRestart

#: Offsets of the random streams drawn from a run's seed (seed + offset seeds each generator).
STREAMS: dict[str, int] = {"encoder": 1, "codebook": 2, "batches": 3, "estimator": 4, "restart": 5, "simvq": 6}


def stream(seed: int, name: str) -> int:
    """The seed of the random stream `name` of a run seeded `seed` (:data:`STREAMS`)."""
    return int(seed) + STREAMS[name]


def progress_enabled() -> bool:
    """Progress bars on stderr only when asked for (VQLIB_PROGRESS=1), never inside a notebook kernel."""
    return os.environ.get("VQLIB_PROGRESS") == "1" and "ipykernel" not in sys.modules


def batch_indices(n_seeds: int, n: int, steps: int, batch_size: int, seed: int) -> torch.Tensor:
    """Minibatch indices for every step and seed, drawn up front: (steps, S, B), with replacement."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randint(n, (steps, n_seeds, batch_size), generator=gen)


#: Steps of minibatch indices drawn at a time (:class:`Minibatches`).
BATCH_BLOCK = 500


class Minibatches:
    """Minibatch rows (S, B) for step = 1, 2, … in order, drawn BATCH_BLOCK steps at a time from one generator.

    The stream is the same whatever the budget (a 500-step regime sees the first 500 steps of a 20,000-step one), and
    equals :func:`batch_indices` (S, n, steps, B, seed) step for step, without holding a long run's indices at once.
    """

    def __init__(self, n_seeds: int, n: int, batch_size: int, seed: int, block: int = BATCH_BLOCK) -> None:
        self.n, self.shape = n, (block, n_seeds, batch_size)
        self.gen = torch.Generator().manual_seed(int(seed))
        self.block, self.rows = -1, torch.empty(0, dtype=torch.long)

    def __call__(self, step: int) -> torch.Tensor:
        """The rows of step `step` (1-based; steps must come in increasing order)."""
        b = (step - 1) // self.shape[0]
        if b < self.block:
            raise ValueError(f"steps must come in order: step {step} after block {self.block}")
        while self.block < b:
            self.rows, self.block = torch.randint(self.n, self.shape, generator=self.gen), self.block + 1
        return self.rows[(step - 1) % self.shape[0]]


def take_rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x[s, idx[s, b]] for x (S, N, d) and idx (S, B): the minibatch, by one index_select on the flattened rows.

    Same values as torch.gather along dim 1, several times faster on CPU for wide rows.
    """
    S, N, d = x.shape
    flat = (idx + N * torch.arange(S, device=idx.device).unsqueeze(-1)).reshape(-1)
    return x.reshape(S * N, d).index_select(0, flat).view(S, idx.shape[1], d)


class Trainable(Protocol):
    """What the loop needs of a model: per-slice losses, the codebook (L, K, m), a way to set codes, parameter groups."""

    @property
    def codebook(self) -> torch.Tensor: ...

    def param_groups(self, codebook: bool = True) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]: ...

    def train_losses(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    # Optional: `compactable = True` and train_losses(x, rows) computing only the slices `rows` (LongTensor, sorted):
    # losses (len(rows),) and z, idx of those slices, parameters gathered inside the graph (see :func:`fit`).

    def set_codes(self, rows: torch.Tensor, values: torch.Tensor) -> None: ...


#: Parameters of a VQ module in the regimes' codebook group (learning rate codebook_lr): SimVQ's W, the affine form's μ and s too.
CODEBOOK_PARAMETERS = ("codebook", "simvq_w", "affine_mean", "affine_scale")


class VQObjective:
    """A VQ autoencoder module (LinearVQ, MLPVQ) trained on its losses at β; `losses(x)` may replace them (same values).

    compactable: the module's forward takes `rows` (or `losses(x, rows)` does), so :func:`fit` may train a subset of slices.
    """

    def __init__(self, module: torch.nn.Module, beta: float | torch.Tensor, losses: Callable | None = None, compactable: bool = False) -> None:
        self.module, self.beta, self.losses, self.compactable = module, beta, losses, compactable

    @property
    def codebook(self) -> torch.Tensor:
        """The module's codebook parameter (L, K, m)."""
        return self.module.codebook

    def param_groups(self, codebook: bool = True) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
        """(encoder and decoder parameters, codebook parameters: the codebook and SimVQ's W; none when `codebook` is False)."""
        book = [p for name, p in self.module.named_parameters() if name in CODEBOOK_PARAMETERS]
        return [p for name, p in self.module.named_parameters() if name not in CODEBOOK_PARAMETERS], book if codebook else []

    def train_losses(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss per slice (L,) and the forward outputs (z, idx, ...) of minibatch x (x per slice: (L, B, D)).

        rows: only those slices (the loss and outputs have len(rows) entries), for a module that is compactable.
        """
        if self.losses is not None:
            return self.losses(x) if rows is None else self.losses(x, rows)
        if rows is None:
            out = self.module(x)
            return self.module.losses(x, self.beta, out)["total"], out
        x = x.index_select(0, rows.to(x.device))
        beta = self.beta[rows] if torch.is_tensor(self.beta) and self.beta.ndim else self.beta
        out = self.module(x, rows=rows)
        return self.module.losses(x, beta, out)["total"], out

    @torch.no_grad()
    def set_codes(self, rows: torch.Tensor, values: torch.Tensor) -> None:
        """Overwrite the codebooks of slices `rows` (EMA updates)."""
        self.module.codebook[rows] = values


class CodebookOnly:
    """Codebook blocks (each (C, K, m), a Parameter or a tensor set by EMA) on fixed vectors: the codebook loss alone.

    A minibatch z (C, B, m) serves every block: the blocks are stacked for one nearest-code search.
    """

    def __init__(self, blocks: list[torch.Tensor]) -> None:
        self.blocks = blocks

    @property
    def codebook(self) -> torch.Tensor:
        """All blocks stacked, (R·C, K, m)."""
        return self.blocks[0] if len(self.blocks) == 1 else torch.cat(list(self.blocks))

    def param_groups(self, codebook: bool = True) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
        """(no network parameters, the blocks learned by gradient)."""
        return [], [b for b in self.blocks if isinstance(b, torch.nn.Parameter)] if codebook else []

    def train_losses(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Codebook loss per stacked codebook (R·C,) of minibatch x (C, B, m), and z (the batch per block) and idx."""
        if len(self.blocks) == 1:
            q, idx = quantize(x, self.blocks[0])
            return codebook_loss(x, q), {"z": x, "idx": idx}
        z = x.repeat(len(self.blocks), 1, 1)
        q, idx = quantize(z, torch.cat(list(self.blocks)))
        return codebook_loss(z, q), {"z": z, "idx": idx}

    def set_codes(self, rows: torch.Tensor, values: torch.Tensor) -> None:
        """Replace the block that rows (one whole block, in order) index."""
        C = self.blocks[0].shape[0]
        r = int(rows[0]) // C
        if len(rows) != C or int(rows[0]) != r * C:
            raise ValueError(f"EMA rows must span one whole block of {C} codebooks")
        self.blocks[r] = values


class EMACodebook:
    """EMA codebook updates (vqlib.ema) for the slices `rows` of a model, at `decay`.

    mask_grad: the codebook is also in the optimizer (other slices learn by gradient), so these rows' gradients
    are zeroed before its step.
    """

    def __init__(self, model: Trainable, rows: torch.Tensor, decay: float, mask_grad: bool = False) -> None:
        self.rows, self.decay, self.mask_grad = rows, decay, mask_grad
        self.state = ema.ema_init(model.codebook.detach()[rows])

    def before_step(self, model: Trainable) -> None:
        """Zero these rows' codebook gradients (the codes are set after the step, not by the optimizer)."""
        if self.mask_grad and model.codebook.grad is not None:
            model.codebook.grad[self.rows] = 0.0

    @torch.no_grad()
    def update(self, model: Trainable, out: dict[str, torch.Tensor], active: torch.Tensor | None = None) -> None:
        """One EMA step from the minibatch's z and assignments; writes the new codes.

        active: out holds only these slices (sorted); the EMA rows among them are updated, the others left as they are.
        """
        if active is None:
            model.set_codes(self.rows, ema.ema_update(self.state, out["z"][self.rows], out["idx"][self.rows], self.decay))
            return
        keep = torch.isin(self.rows, active)
        if not keep.any():
            return
        at = torch.searchsorted(active, self.rows[keep])
        part = ema.EMAState(self.state.counts[keep], self.state.sums[keep])
        codes = ema.ema_update(part, out["z"][at], out["idx"][at], self.decay)
        self.state.counts[keep], self.state.sums[keep] = part.counts, part.sums
        model.set_codes(self.rows[keep], codes)

    @torch.no_grad()
    def reseed(self, model: Trainable, fresh: torch.Tensor) -> None:
        """Codes re-seeded by a restart (mask (L, K)) restart their running means at the new code."""
        fresh = fresh[self.rows.to(fresh.device)].to(self.state.counts.device)
        if fresh.any():
            self.state.counts[fresh] = 1.0
            self.state.sums[fresh] = model.codebook.detach()[self.rows].double()[fresh]


class SliceStop:
    """Per-slice stop rule: every `every` steps, from `min_steps` on, slice l stops when its own validation score
    improved by less than `tol` (relative) over the last `window` steps; a stopped slice is frozen.

    score(evaluation) -> (L,) tensor, lower is better (e.g. the validation error's excess over the noise floor).
    The improvement at check t is best(≤ t − window) − best(≤ t), the best score up to each step, so one noisy
    check neither stops a slice nor keeps it going. A frozen slice keeps its parameters, codebook, EMA statistics
    and restart counters bit for bit from its stopping step on: :meth:`freeze` snapshots the rows of every
    tensor handed to :meth:`watch` with a leading slice axis, :meth:`restore` writes them back after each step
    (an optimizer like Adam moves a parameter even at zero gradient, so masking the gradient would not do).
    stop_step (L,): the step each slice stopped at (the last step run where it did not); met (L,): whether the rule
    stopped it (False: it ran to the cap). observe=True applies the rule without acting on it: stop steps are
    recorded, but no slice is frozen and the run goes on to the cap (to measure what training on would change).
    """

    def __init__(self, n_slices: int, every: int, window: int, tol: float, min_steps: int, score: Callable[[Any], torch.Tensor],
                 observe: bool = False) -> None:
        if every < 1 or window < every or window % every:
            raise ValueError(f"window ({window}) must be a positive multiple of every ({every})")
        self.every, self.window, self.tol, self.min_steps, self.score = every, window, tol, min_steps, score
        self.observe = observe
        self.best: dict[int, torch.Tensor] = {}  # step -> best score per slice up to that step
        self.met = torch.zeros(n_slices, dtype=torch.bool)
        self.stop_step = torch.zeros(n_slices, dtype=torch.long)
        self.tensors: list[torch.Tensor] = []
        self.snapshots: list[torch.Tensor] = []

    def watch(self, tensors: Sequence[torch.Tensor]) -> None:
        """Tensors to freeze per slice (those whose leading axis is the slices'; others are ignored)."""
        seen = {id(t) for t in self.tensors}
        for t in tensors:
            if t.ndim and t.shape[0] == len(self.met) and id(t) not in seen:
                seen.add(id(t))
                self.tensors.append(t)
                self.snapshots.append(t.detach().clone())

    def start(self, evaluation: Any) -> None:
        """The score at step 0."""
        self.best[0] = self.score(evaluation).detach().double().cpu()

    def update(self, step: int, evaluation: Any) -> torch.Tensor:
        """Record the check at `step`; return the slices that stop now (newly, (L,) bool) and freeze them."""
        current = self.score(evaluation).detach().double().cpu()
        self.best[step] = torch.minimum(self.best[step - self.every], current)
        then = self.best.get(step - self.window)
        if step < self.min_steps or then is None:
            return torch.zeros_like(self.met)
        gain = then - self.best[step]
        new = (gain < self.tol * then.abs()) & ~self.met
        if new.any():
            self.met |= new
            self.stop_step[new] = step
            if not self.observe:
                self.freeze(new)
        return new

    @torch.no_grad()
    def freeze(self, rows: torch.Tensor) -> None:
        """Snapshot the watched tensors' rows `rows` (their values now are kept from here on)."""
        for t, snap in zip(self.tensors, self.snapshots):
            snap[rows.to(t.device)] = t.detach()[rows.to(t.device)]

    @torch.no_grad()
    def restore(self) -> None:
        """Write the frozen rows back (after an optimizer step, EMA update or restart touched them)."""
        if self.observe or not self.met.any():
            return
        for t, snap in zip(self.tensors, self.snapshots):
            mask = self.met.to(t.device).view(-1, *([1] * (t.ndim - 1)))
            t.data.copy_(torch.where(mask, snap, t.detach()))

    def finish(self, steps_run: int) -> None:
        """Slices the rule never stopped ran to the end: their stop step is the last step run."""
        self.stop_step[~self.met] = steps_run

    def live(self) -> torch.Tensor | None:
        """The slices still training (sorted indices), or None while every slice is (or when only observing)."""
        if self.observe or not self.met.any():
            return None
        return torch.nonzero(~self.met).view(-1)

    @property
    def done(self) -> bool:
        """Whether every slice has stopped (never, when only observing)."""
        return not self.observe and bool(self.met.all())


@dataclass
class Fit:
    """What the loop returns: the recorded evaluations, steps taken and the cost of one step (evaluation excluded)."""

    history: list = field(default_factory=list)
    steps_run: int = 0
    seconds_per_step: float = 0.0  # wall time
    cpu_seconds_per_step: float = 0.0  # CPU time of this process
    slice_steps: int = 0  # slice-steps computed (forward and backward of one slice for one step)


def fit(
    model: Trainable,
    batch: Callable[[int], torch.Tensor],
    steps: int,
    optimizer: torch.optim.Optimizer | None,
    emas: Sequence[EMACodebook] = (),
    restart: DeadCodeRestart | None = None,
    evaluate: Callable[[int], Any] | None = None,
    eval_every: int = 0,
    record: bool = True,
    stop: SliceStop | None = None,
    on_step: Callable[[int], None] | None = None,
    desc: str = "train",
    compact: bool = True,
) -> Fit:
    """Train `model` for `steps` steps on minibatches batch(step) (step = 1..steps); return a :class:`Fit`.

    Each step: losses, optimizer step on their sum (EMA rows' gradients zeroed first), EMA updates, dead-code
    restart (and the EMA statistics of re-seeded codes), on_step(step). evaluate(step) runs at step 0 and when
    recorded (every `eval_every` steps and at the end, if `record`) or the stop rule checks (every stop.every
    steps, and at the end); a check that stops is recorded too. on_step(0) runs after the first evaluation.

    With a compactable model (train_losses(x, rows)) and a stop rule that acts, once slices have stopped the EMA and
    the restart see only the slices still training, and with `compact` so do the losses and the backward pass: a
    stopped slice then costs nothing but the elementwise optimizer step that stop.restore() undoes. compact=False
    computes every slice and gives the same values (to rounding): the switch exists to check that.
    """
    result = Fit()
    first = evaluate(0) if evaluate is not None and (record or stop is not None) else None
    if record and first is not None:
        result.history.append(first)
    if stop is not None:
        stop.watch([model.codebook, *(p for g in (optimizer.param_groups if optimizer is not None else []) for p in g["params"])])
        for e in emas:
            if len(e.rows) == len(stop.met):
                stop.watch([e.state.counts, e.state.sums])
        if restart is not None:
            stop.watch([restart.restarts, restart.last_used])
        stop.start(first)
    if on_step is not None:
        on_step(0)
    elapsed = cpu = 0.0
    narrow = getattr(model, "compactable", False)  # other models: every slice trains, stop.restore() undoes the stopped ones
    for step in tqdm(range(1, steps + 1), disable=not progress_enabled(), desc=desc, leave=False):
        tic, cpu_tic = time.perf_counter(), time.process_time()
        live = stop.live() if stop is not None and narrow else None
        if live is not None and compact:
            total, out = model.train_losses(batch(step), live)
        else:
            total, out = model.train_losses(batch(step))
            if live is not None:
                out = {k: out[k][live.to(out[k].device)] for k in ("z", "idx")}
        result.slice_steps += len(total)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            total.sum().backward()
            for e in emas:
                e.before_step(model)
            optimizer.step()
        for e in emas:
            e.update(model, out, live)
        if restart is not None:
            fresh = restart.step(model.codebook, out["z"], out["idx"], step, optimizer, live)
            for e in emas:
                e.reseed(model, fresh)
        if stop is not None:
            stop.restore()
        elapsed += time.perf_counter() - tic
        cpu += time.process_time() - cpu_tic
        result.steps_run = step
        if on_step is not None:
            on_step(step)
        check = stop is not None and step % stop.every == 0
        due = evaluate is not None and record and (step == steps or (eval_every and step % eval_every == 0))
        row = evaluate(step) if evaluate is not None and (check or due or (stop is not None and step == steps)) else None
        if check:
            stop.update(step, row)
        halt = check and stop.done
        if row is not None and (due or halt or step == steps):
            result.history.append(row)
        if halt:
            break
    if stop is not None:
        stop.finish(result.steps_run)
    result.seconds_per_step = elapsed / max(result.steps_run, 1)
    result.cpu_seconds_per_step = cpu / max(result.steps_run, 1)
    return result
