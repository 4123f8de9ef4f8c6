"""The real-data model's training (book/realdata.md): a nonlinear VQ-VAE on digits and image patches, every method as one batched model.

Each (method, initializer, seed) run is a slice of :class:`vqlib.mlpvq.MLPVQ`. All slices of a seed start from
the same network weights and codebook (per initializer) and see the same minibatches, so methods are compared
on paired runs. A training regime (vqlib.regimes) fixes the optimizer, learning rates, codebook update rule,
codebook start and step budget; a converging regime stops each slice on its own when its error on a validation set
(the last vectors of its seed's training set, withheld from training in every regime so all regimes train on the same
vectors and minibatches) stops improving. The study that runs it is vqlib.studies.realdata; the chapter's tables, labels and
verdicts are in vqlib.analysis.realdata.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch

from vqlib import init, metrics, regimes
from vqlib.checks import check_float, check_int
from vqlib.data import RealImages
from vqlib.mlpvq import MLPVQ, init_weights
from vqlib.restart import DeadCodeRestart
from vqlib.trainer import EMACodebook, Minibatches, VQObjective, fit, stream, take_rows

#: A method: its gradient estimator and what it adds (dead-code restart, EMA codebook, SimVQ codebook).
METHODS: dict[str, dict] = {
    "ste": {"estimator": "ste"},
    "projection": {"estimator": "projection"},
    "rotation_trick": {"estimator": "rotation_trick"},
    "nsvq": {"estimator": "nsvq"},
    "diveq": {"estimator": "diveq"},
    "restart": {"estimator": "ste", "restart": True},
    "ema": {"estimator": "ste", "ema": True},
    "simvq": {"estimator": "ste", "simvq": True},
}

#: Methods that make no sense when the regime itself updates every codebook by EMA, and why.
NOT_IN_EMA_REGIME = {
    "ema": "is plain STE when every codebook is updated by EMA",
    "simvq": "learns its codes through W by gradient; an EMA of assigned outputs has no W to update",
}

#: Validation vectors per seed the converged regime's stop rule reads (at most a quarter of the training set).
N_VAL = 4096


def validation_size(n_train: int, batch_size: int, n_val: int | None = None) -> int:
    """Training vectors per seed withheld as the stop rule's validation set: n_val, default min(N_VAL, n_train // 4)
    (0: none withheld, for fixed budgets only)."""
    n_val = max(1, min(N_VAL, n_train // 4)) if n_val is None else check_int("n_val", n_val, 0)
    if n_train - n_val < batch_size:
        raise ValueError(f"n_val must leave at least batch_size = {batch_size} of the {n_train} training vectors per seed, got n_val = {n_val}")
    return n_val


def slice_table(methods: list[str], inits: list[str], regime: regimes.Regime, n_seeds: int) -> tuple[pd.DataFrame, dict[str, str]]:
    """The runs of one regime: every method from the regime's codebook start, and STE from every other initializer.

    Returns (slices with columns variant, method, init, seed; methods dropped in this regime with the reason).
    """
    check_int("n_seeds", n_seeds, 1)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"methods must be among {sorted(METHODS)}, got {unknown}")
    bad = sorted(set(inits) - set(init.INITIALIZERS))
    if bad:
        raise ValueError(f"inits must be among {sorted(init.INITIALIZERS)}, got {bad}")
    dropped = {m: NOT_IN_EMA_REGIME[m] for m in methods if regime.codebook_update == "ema" and m in NOT_IN_EMA_REGIME}
    rows = [(m, m, regime.init) for m in methods if m not in dropped]
    rows += [(f"ste/{i}", "ste", i) for i in inits if i != regime.init]
    frame = pd.DataFrame([{"variant": v, "method": m, "init": i, "seed": s} for v, m, i in rows for s in range(n_seeds)])
    return frame, dropped


@dataclass
class StudyRun:
    """A trained regime: one row per slice at the start and at the end, and what a step cost."""

    slices: pd.DataFrame
    initial: pd.DataFrame
    final: pd.DataFrame
    model: MLPVQ
    seconds_per_step: float  # wall time of one training step of all slices (evaluation excluded)
    dropped: dict[str, str] = field(default_factory=dict)
    regime: str = ""
    cpu_seconds_per_step: float = 0.0  # CPU time of this process per step (one thread: the one-core cost, load-independent)
    n_val: int = 0  # training vectors per seed withheld as the stop rule's validation set (in every regime)
    slice_steps: int = 0  # slice-steps computed (stopped slices drop out of the steps after their stop)


def simvq_basis(n_seeds: int, K: int, m: int, seed: int) -> torch.Tensor:
    """SimVQ's frozen codebook C per seed, (S, K, m) drawn from N(0, I_m) (Zhu et al. 2025: a random, frozen C)."""
    return torch.randn(n_seeds, K, m, generator=torch.Generator().manual_seed(int(seed)))


def encode_start(x_train: torch.Tensor, weights: dict[str, torch.Tensor], activation: str) -> torch.Tensor:
    """Encoded training vectors x_train (S, N, D) of every seed's starting encoder: (S, N, m), the data-based initializers' input."""
    S = x_train.shape[0]
    cb = torch.zeros(S, 1, weights["enc2"].shape[-1])
    model = MLPVQ(weights, cb, ["ste"] * S, activation=activation)
    with torch.no_grad():
        return model.encode(x_train)


@torch.no_grad()
def evaluate(model: MLPVQ, x_eval: torch.Tensor, usage_batch: int = 256, chunk: int = 1024) -> dict[str, torch.Tensor]:
    """Held-out metrics per slice (L,) with hard q: x_eval (L, N, D) is each slice's held-out set.

    PSNR is that of the mean per-pixel MSE over the set (peak 1). Usage per set counts codes used at least once
    on the whole set; usage per batch averages the share used within consecutive batches of `usage_batch` vectors.
    """
    L, N, D = x_eval.shape
    sq, idx = [], []
    for i in range(0, N, chunk):
        x = x_eval[:, i : i + chunk]
        out = model(x, hard=True)
        sq.append(((x - out["x_hat"]) ** 2).double().sum(-1))
        idx.append(out["idx"])
    sq, idx = torch.cat(sq, 1), torch.cat(idx, 1)
    counts = metrics.code_counts(idx, model.K)
    mse = sq.mean(-1) / D
    return {
        "recon_mse": mse,
        "psnr_db": metrics.psnr_db(mse),
        "sq_error": sq.mean(-1),
        "dead_codes": metrics.dead_codes(counts),
        "usage": metrics.usage(counts),
        "usage_batch": metrics.usage_per_batch(idx, model.K, min(usage_batch, N)),
        "perplexity": metrics.perplexity(counts),
        "entropy_bits": metrics.entropy_bits(counts),
    }


@torch.no_grad()
def validation_mse(model: MLPVQ, x_val: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Per-slice reconstruction MSE per pixel (L,) with hard q on x_val (L, N, D): the stop rule's objective (as evaluate's recon_mse)."""
    L, N, D = x_val.shape
    sq = torch.zeros(L, dtype=torch.float64, device=x_val.device)
    for i in range(0, N, chunk):
        x = x_val[:, i : i + chunk]
        sq += ((x - model(x, hard=True)["x_hat"]) ** 2).double().sum((1, 2))
    return sq / (N * D)


def _frame(slices: pd.DataFrame, result: dict[str, torch.Tensor], step: int) -> pd.DataFrame:
    frame = slices.copy()
    frame["step"] = step
    for k, v in result.items():
        frame[k] = v.cpu().numpy()
    return frame


def train_study(
    data: RealImages,
    K: int,
    methods: list[str],
    regime: regimes.Regime,
    inits: list[str] = (),
    hidden: int = 64,
    m: int = 4,
    beta: float = 0.25,
    batch_size: int = 256,
    seed: int = 0,
    restart_window: int = 50,
    activation: str = "gelu",
    usage_batch: int = 256,
    init_vectors: int = 4096,
    n_val: int | None = None,
    compact: bool = True,
) -> StudyRun:
    """Train every slice of :func:`slice_table` under `regime` as one batched MLPVQ; evaluate at the start and end.

    SimVQ slices quantize with C·W, C from :func:`simvq_basis` (its own start: the regime's initializer does not
    apply to it) and W = I at the start. Gradient regimes: the regime's optimizer with `lr` on the network and `codebook_lr` on the codebook (and on
    SimVQ's W); the "ema" method's codes are instead set by vqlib.ema after each step (decay of the "ema"
    regime). The "ema" regime: every codebook by EMA (decay regime.ema_decay). Dead-code restart re-seeds stale
    codes (and their EMA statistics) from the batch. The loss is eq. realdata-loss (LinearVQ's, summed over slices).
    Data-based codebook starts (k-means, data samples, R(D)-optimal) see the first `init_vectors` encoded
    training vectors of each seed (a random subset: the split is random). In every regime the last `n_val` training vectors
    of each seed (:func:`validation_size`) are withheld from training; a converging regime (regime.converge) stops each
    slice on its own by vqlib.regimes.stop_rule on its relative reconstruction MSE there (images have no known noise
    floor), and its final table gains stop_step (the step it stopped at, or the cap) and met_rule (stopped before the cap);
    the steps after a slice stops compute only the others (vqlib.trainer.fit; compact=False computes every slice, same values).
    """
    check_int("K", K, 1)
    check_int("hidden", hidden, 1)
    check_int("m", m, 1)
    check_float("beta", beta, 0.0)
    check_int("batch_size", batch_size, 1)
    check_int("restart_window", restart_window, 1)
    if regime.form != "plain":
        raise ValueError(f"regime must have a plain codebook (the MLP model has no {regime.form} form), got {regime.name!r}")
    S, N, D = data.x_train.shape
    n_val = validation_size(N, batch_size, n_val)
    x_pool, x_val = data.x_train[:, : N - n_val], data.x_train[:, N - n_val :]  # the split is random: the last rows are a random subset
    slices, dropped = slice_table(list(methods), list(inits), regime, S)
    L = len(slices)
    seed_of = torch.tensor(slices.seed.to_list())
    start = init_weights(S, D, hidden, m, stream(seed, "encoder"))
    z0 = encode_start(x_pool[:, : check_int("init_vectors", init_vectors, 1)], start, activation)
    books = {name: init.codebook(name, z0, K, seed=stream(seed, "codebook")) for name in dict.fromkeys(slices.init)}
    codebook = torch.stack([books[i][s] for i, s in zip(slices.init, slices.seed)])
    spec = [METHODS[mth] for mth in slices.method]
    grad_codebook = regime.codebook_update == "gradient"
    ema_mask = torch.tensor([not grad_codebook or s.get("ema", False) for s in spec])
    restart_mask = torch.tensor([s.get("restart", False) for s in spec])
    simvq_mask = torch.tensor([s.get("simvq", False) for s in spec])
    basis = simvq_basis(S, K, m, stream(seed, "simvq"))[seed_of]
    model = MLPVQ({k: v[seed_of] for k, v in start.items()}, codebook, [s["estimator"] for s in spec], simvq_mask,
                  activation, estimator_seed=stream(seed, "estimator"), basis=basis)
    task = VQObjective(model, beta, compactable=True)
    opt = regimes.optimizer(regime, *task.param_groups(codebook=grad_codebook))
    ema_rows = torch.nonzero(ema_mask).view(-1)  # EMA statistics are kept for these slices only
    emas = [EMACodebook(task, ema_rows, regimes.ema_decay(regime), mask_grad=grad_codebook)] if len(ema_rows) else []
    restart = DeadCodeRestart(L, K, restart_window, restart_mask, stream(seed, "restart")) if restart_mask.any() else None
    batches = Minibatches(S, N - n_val, batch_size, stream(seed, "batches"))
    x_eval, x_check = data.x_eval[seed_of], x_val[seed_of]
    stop = regimes.stop_rule(regime, L, regimes.BASE_STEPS, lambda mse: mse)
    if stop is not None and not n_val:
        raise ValueError(f"n_val must be at least 1 in the converging regime {regime.name!r} (its stop rule reads them), got 0")
    initial = _frame(slices, evaluate(model, x_eval, usage_batch), 0)
    run = fit(task, lambda step: take_rows(x_pool, batches(step))[seed_of], regime.steps, opt, emas, restart,
              evaluate=(lambda step: validation_mse(model, x_check)) if stop is not None else None, record=False, stop=stop,
              desc="realdata", compact=compact)
    final = _frame(slices, evaluate(model, x_eval, usage_batch), run.steps_run)
    if stop is not None:  # fit restored the stopped slices after the last step: the table is at each slice's stop step
        final = final.assign(stop_step=stop.stop_step.numpy(), met_rule=stop.met.numpy())
    return StudyRun(slices, initial, final, model, run.seconds_per_step, dropped, regime.name, run.cpu_seconds_per_step, n_val,
                    run.slice_steps)


@torch.no_grad()
def reconstruct_blocks(model: MLPVQ, blocks: torch.Tensor) -> torch.Tensor:
    """Every slice's hard-q reconstruction of the same vectors blocks (N, D): (L, N, D)."""
    L = model.codebook.shape[0]
    return model(blocks.unsqueeze(0).expand(L, -1, -1).contiguous(), hard=True)["x_hat"].clamp(0, 1)

