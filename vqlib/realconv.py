"""Training the convolutional VQ-VAE (vqlib.convvq) on held-out photographs (vqlib.images), every method as slices.

One call trains every (method, seed) slice of a regime through vqlib.trainer.fit: the VQ methods as one grouped
model, FSQ (levels with ∏L_i = K) as a second. Slices of a seed share the starting network and see the same
crops. A method whose codebook path the regime removes (SimVQ, DiVeQ, NSVQ and FSQ have no EMA form; "ema" is
STE there) is left out of an EMA regime, with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
import torch

from vqlib import init, published, regimes
from vqlib.checks import check_float, check_int, resolve_device
from vqlib.convvq import METHODS, ConvObjective, ConvVQ, evaluate, init_weights
from vqlib.images import Crops
from vqlib.restart import DeadCodeRestart
from vqlib.trainer import EMACodebook, fit, stream

#: Methods an EMA regime leaves out, and why.
NOT_IN_EMA_REGIME = {
    "ema": "is plain STE when every codebook is updated by EMA",
    "simvq": "learns its codes through its linear layer by gradient; an EMA of assigned outputs has no layer to update",
    "diveq": "learns its codebook only through ‖q − z‖ by gradient, which EMA discards",
    "diveq_variant": "learns its codebook by gradient (its noisy direction and the VQ loss), which EMA discards: what is left "
                     "is STE + EMA with noise on the encoder's gradient",
    "nsvq": "learns its codebook only through ‖z − q‖ by gradient, which EMA discards",
}


#: Validation crops of a converging regime's stop rule (withheld from the training crops).
N_VAL = 1024


@dataclass
class ConvRun:
    """A trained regime: one row per slice at the start and at the end, and the cost of a step."""

    final: pd.DataFrame
    initial: pd.DataFrame
    seconds_per_step: float
    cpu_seconds_per_step: float
    dropped: dict[str, str] = field(default_factory=dict)


def _table(methods: list[str], n_seeds: int, result: dict[str, torch.Tensor], step: int) -> pd.DataFrame:
    frame = pd.DataFrame({"method": [m for m in methods for _ in range(n_seeds)], "seed": list(range(n_seeds)) * len(methods)})
    frame["step"] = step
    for k, v in result.items():
        frame[k] = v.cpu().numpy()
    return frame


def _starts(methods, S, K, m, z0, regime, seed) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Per slice (method-major, seed-minor): the starting codebook and SimVQ's (C, W, b)."""
    regime_book = init.codebook(regime.init, z0, K, seed=stream(seed, "codebook")) if K <= z0.shape[1] else None
    own = {"diveq": published.diveq_start(S, K, m, stream(seed, "codebook")), "nsvq": published.nsvq_start(S, K, m, stream(seed, "codebook"))}
    C, W, b = published.simvq_start(S, K, m, stream(seed, "simvq"))
    books = [own.get(METHODS[mt]["start"], regime_book if regime_book is not None else own["nsvq"]) for mt in methods]
    rep = len(methods)
    return torch.cat(books), (C.repeat(rep, 1, 1), W.repeat(rep, 1, 1), b.repeat(rep, 1, 1))


def train(data: Crops, K: int, methods: list[str], regime: regimes.Regime, n_seeds: int = 5, seed: int = 0, hidden: int = 16,
          m: int = 8, beta: float = 0.25, batch_size: int = 64, device: str | torch.device = "auto", init_vectors: int = 4096,
          replace_every: int = 100, n_val: int = N_VAL) -> ConvRun:
    """Train every method's slices under `regime` and evaluate them on the held-out tiles at the start and the end.

    A converging regime stops each slice on its own (vqlib.regimes.stop_rule, checked every CONVERGE_EVERY steps from
    the seeds' budget on) when its per-pixel MSE on `n_val` validation crops (at most a quarter of them) improved by less than the rule's relative
    tolerance over its window. The validation crops are drawn from the training images and withheld from training,
    never from the held-out images that every reported number comes from (the images have no known noise floor, so
    the relative MSE itself is the rule's objective). There, per slice, `stop_step` is the step it stopped at (or the
    cap) and `met_rule` whether the rule stopped it (as in the synthetic grids; a fixed budget has neither column).
    """
    check_int("K", K, 2)
    check_int("n_seeds", n_seeds, 1)
    check_int("batch_size", batch_size, 1)
    check_float("beta", beta, 0.0)
    for name, value in (("hidden", hidden), ("m", m), ("init_vectors", init_vectors), ("replace_every", replace_every)):
        check_int(name, value, 1)
    device = resolve_device(device) if isinstance(device, str) else device
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"methods must be among {sorted(METHODS)}, got {unknown}")
    ema_regime = regime.codebook_update == "ema"
    dropped = {mt: NOT_IN_EMA_REGIME[mt] for mt in methods if ema_regime and mt in NOT_IN_EMA_REGIME}
    vq = [mt for mt in methods if mt not in dropped and mt != "fsq"]
    parts = [(vq, m, None)] if vq else []
    if "fsq" in methods:
        if ema_regime:
            dropped["fsq"] = "has no codebook to update by EMA"
        else:
            levels = published.fsq_levels(K)
            parts.append((["fsq"], len(levels), levels))
    n_val = min(check_int("n_val", n_val, 1), data.x_train.shape[0] // 4)  # at most a quarter of the crops
    gen = torch.Generator().manual_seed(stream(seed, "batches"))  # first the validation crops, then the minibatches
    order = torch.randperm(data.x_train.shape[0], generator=gen)
    x_val, x_pool = data.x_train[order[:n_val]], data.x_train[order[n_val:]]
    steps = torch.randint(x_pool.shape[0], (regime.steps, batch_size), generator=gen)  # one minibatch stream for every part
    finals, initials, cost, cpu = [], [], 0.0, 0.0
    for part_methods, width, levels in parts:
        start = init_weights(n_seeds, hidden, width, stream(seed, "encoder"))
        slices = [mt for mt in part_methods for _ in range(n_seeds)]
        seed_of = torch.arange(n_seeds).repeat(len(part_methods))
        probe = ConvVQ({k: v[:n_seeds] for k, v in start.items()}, torch.zeros(n_seeds, 1, width), ["ste"] * n_seeds) if levels is None else None
        if probe is not None:
            with torch.no_grad():
                pick = torch.randperm(x_pool.shape[0], generator=torch.Generator().manual_seed(seed))[: check_int("init_vectors", init_vectors, 1)]
                z0 = probe.encode(x_pool[pick].unsqueeze(0).expand(n_seeds, -1, -1, -1).contiguous())
            book, simvq = _starts(part_methods, n_seeds, K, width, z0, regime, seed)
        else:
            book, simvq = torch.zeros(len(slices), math.prod(levels), width), None
        model = ConvVQ({k: v[seed_of] for k, v in start.items()}, book, slices, beta, stream(seed, "estimator"), simvq, levels).to(device)
        spec = [METHODS[mt] for mt in slices]
        L = len(slices)
        replacement = _replacements(spec, K, replace_every, regime.steps, stream(seed, "restart"))
        task = ConvObjective(model, _Both(replacement) if replacement else None)
        opt = regimes.optimizer(regime, *task.param_groups(codebook=not ema_regime))
        ema_rows = torch.tensor([i for i, s in enumerate(spec) if ema_regime or s.get("ema")], dtype=torch.long)
        emas = [EMACodebook(task, ema_rows, regimes.ema_decay(regime), mask_grad=not ema_regime)] if len(ema_rows) and levels is None else []
        restart_mask = torch.tensor([bool(s.get("restart")) for s in spec])
        restart = DeadCodeRestart(L, K, 50, restart_mask, stream(seed, "restart")) if restart_mask.any() else None
        x_train, x_eval, x_check = x_pool.to(device), data.x_eval.to(device), x_val.to(device)

        def batch(step: int, x_train=x_train, steps=steps, L=L) -> torch.Tensor:
            return x_train[steps[step - 1].to(device)].unsqueeze(0).expand(L, -1, -1, -1)

        def on_step(step: int, replacement=replacement, model=model) -> None:
            for r in (replacement or {}).values():
                r.step(model.codebook, step) if step else None

        def validation(step: int, model=model, x_check=x_check) -> torch.Tensor:
            return evaluate(model, x_check)["recon_mse"]

        initials.append(_table(part_methods, n_seeds, evaluate(model, x_eval), 0))
        stop = regimes.stop_rule(regime, L, regimes.BASE_STEPS, lambda mse: mse)
        run = fit(task, batch, regime.steps, opt, emas, restart, evaluate=validation if stop is not None else None, record=False,
                  on_step=on_step, stop=stop, desc="realconv")
        if stop is not None:
            stop.restore()  # the authors' replacement (on_step) ran after the last step's restore
        final = _table(part_methods, n_seeds, evaluate(model, x_eval), run.steps_run)
        finals.append(final.assign(stop_step=stop.stop_step.numpy(), met_rule=stop.met.numpy()) if stop is not None else final)
        cost += run.seconds_per_step
        cpu += run.cpu_seconds_per_step
    return ConvRun(pd.concat(finals, ignore_index=True), pd.concat(initials, ignore_index=True), cost, cpu, dropped)


def _replacements(spec: list[dict], K: int, every: int, steps: int, seed: int) -> dict[str, published.UsageReplacement] | None:
    """The authors' codebook replacement per rule, each acting on its own methods' slices (None when no method has one).

    NSVQ's stops two intervals before the end (its authors' example); DiVeQ's runs to the end (its module has no stop).
    """
    rules = dict.fromkeys(s["replace"] for s in spec if s.get("replace"))
    out = {}
    for rule in rules:
        settings = published.DIVEQ_REPLACE if rule == "diveq" else published.NSVQ_REPLACE
        active = torch.tensor([s.get("replace") == rule for s in spec])
        out[rule] = published.UsageReplacement(len(spec), K, rule, every, settings["threshold"], settings["eps"], active, seed,
                                               stop_after=steps - 2 * every if rule == "nsvq" else None)
    return out or None


class _Both:
    """Several replacement rules observing the same assignments."""

    def __init__(self, rules: dict[str, published.UsageReplacement]) -> None:
        self.rules = rules

    def observe(self, idx: torch.Tensor) -> None:
        for r in self.rules.values():
            r.observe(idx)
