"""What the estimator studies share: the testbed's data, paired starts, and one batched grid per regime."""

from __future__ import annotations

import pandas as pd
import torch

from vqlib import data, grid, init, metrics, rd, regimes
from vqlib.checks import check_choice, check_float, check_int
from vqlib.models import LinearVQ
from vqlib.train import train


def testbed_data(
    seeds: int, D: int, m: int, sigma: float, lambda_1: float, decay: float, n_train: int, n_eval: int, seed: int, device: torch.device,
    n_val: int | None = None,
) -> data.LinearGaussian:
    """The linear Gaussian testbed with a geometric latent spectrum, one draw per seed, on `device`.

    With it a validation set of n_val vectors per seed (default n_eval), drawn after the training and evaluation
    sets, for the converged regimes' stop rule: it never sees the evaluation set that produces the reported metrics.
    """
    if m > D:
        raise ValueError(f"m (the latent dimension, {m}) must be at most D ({D})")
    n_val = n_eval if n_val is None else n_val
    tb = data.linear_gaussian(seeds, D, data.spectrum(m, lambda_1, decay), sigma, n_train, n_eval, seed, n_val)
    tb.x_train, tb.x_eval, tb.s_eval, tb.A = (t.to(device) for t in (tb.x_train, tb.x_eval, tb.s_eval, tb.A))
    if tb.x_val is not None:
        tb.x_val = tb.x_val.to(device)
    return tb


def floor_of(ds) -> float:
    """The error no m-dimensional linear code removes, per vector: (D − m)σ² (0 for data sets without a stated noise)."""
    if isinstance(ds, data.LinearGaussian):
        D, m = ds.A.shape[-2:]
        return metrics.noise_floor(D, m, ds.sigma)
    return 0.0


def bound(tb: data.LinearGaussian, K: int) -> float:
    """Shannon's D(R) at R = log2 K bits for the full data covariance (squared error per vector)."""
    return rd.gaussian_dr(tb.covariance_eigenvalues, rd.bits(K))


def start_encoder(tb, seed: int) -> torch.Tensor:
    """The learned encoder's start, shared by every method of a seed: a random orthonormal map (S, m, D)."""
    S, _, D = tb.x_train.shape
    m = tb.A.shape[-1]
    return data.random_orthonormal(S, D, m, torch.Generator().manual_seed(seed + 1)).transpose(1, 2).to(tb.x_train.device)


def train_estimators(
    tb: data.LinearGaussian,
    K: int,
    estimators: list[str],
    steps: int,
    batch_size: int,
    lr: float,
    beta: float,
    seed: int,
    eval_every: int = 0,
    init_name: str = "uniform",
    callback=None,
) -> pd.DataFrame:
    """Train one learned-encoder model per estimator from the same start (encoder, codebook, batches).

    Returns the evaluation history: one row per (method, step, seed). `callback(model, step)` is handed
    to :func:`vqlib.train.train` (e.g. a :class:`vqlib.train.CodebookRecorder`).
    """
    check_int("K", K, 1)
    device = tb.x_train.device
    enc = start_encoder(tb, seed)
    z0 = tb.x_train @ enc.transpose(1, 2)
    cb = init.codebook(init_name, z0, K, seed=seed + 2).to(device)
    frames = []
    for name in estimators:
        model = LinearVQ(enc, cb, enc.transpose(1, 2), name).to(device)
        hist = train(model, tb.x_train, tb.x_eval, steps, batch_size, lr, beta, seed + 3, eval_every, tb.A, callback)
        hist.insert(0, "method", name)
        frames.append(hist)
    return pd.concat(frames, ignore_index=True)


def pca_lloyd(tb: data.LinearGaussian, K: int, iters: int, seed: int) -> pd.DataFrame:
    """No gradient training: PCA encoder, decoder its transpose, codebook by k-means on encoded training data.

    On mixture data (a data set with labels_eval) the frame also has the cluster purity of the codes.
    """
    m = tb.A.shape[-1]
    enc, _ = init.pca(tb.x_train.cpu(), m)
    enc = enc.to(tb.x_train.device)
    cb = init.kmeans(tb.x_train @ enc.transpose(1, 2), K, iters, seed=seed + 2)
    model = LinearVQ(enc, cb, enc.transpose(1, 2), "ste", learn_encoder=False, learn_decoder=False)
    frame = pd.DataFrame({k: v.cpu().numpy() for k, v in model.evaluate(tb.x_eval, tb.A).items()})
    frame["z_norm"] = (tb.x_eval @ enc.transpose(1, 2)).double().norm(dim=-1).mean(-1).cpu().numpy()
    if hasattr(tb, "labels_eval"):  # mixture data: cluster purity of the k-means codes
        idx = model(tb.x_eval, hard=True)["idx"]
        frame["purity"] = metrics.cluster_purity(idx, tb.labels_eval, K, int(tb.labels_eval.max()) + 1).cpu().numpy()
        nmi, ari = metrics.cluster_agreement(idx, tb.labels_eval)
        frame["nmi"], frame["ari"] = nmi.numpy(), ari.numpy()
    frame.insert(0, "seed", range(len(frame)))
    frame.insert(0, "method", "pca_lloyd")
    return frame


STARTS = ("standard", "collapsed", "collapsed_far")
FAR_FACTOR = 4.0


def estimator_grid(
    datasets: list,
    K: int,
    methods: list[str],
    betas: list[float],
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    eval_every: int = 0,
    init_name: str = "uniform",
    restart_window: int = 50,
    starts: tuple[str, ...] | list[str] = ("standard",),
    collapse_scale: float = 0.01,
    evaluation: bool = True,
    regime: regimes.Regime | None = None,
    min_steps: int = 0,
    observe: bool = False,
    compact: bool = True,
) -> grid.GridRun:
    """Every (data set, start, β, method, seed) trained as one batched model from paired starts.

    `datasets` are testbeds (data.LinearGaussian or data.GaussianMixture) with equal shapes; all slices of a
    seed share the encoder, the codebook of their start and data set, and the minibatch indices. Returns
    the grid run; its history has columns data (index into `datasets`), start, beta, method, seed, step.
    With a `regime` (vqlib.regimes.rescale), its optimizer, codebook update, codebook start (instead of
    `init_name`) and stop rule apply (:func:`vqlib.grid.train_grid`); `steps` and `lr` are then the regime's.
    """
    check_int("K", K, 1)
    if not datasets:
        raise ValueError("datasets must hold at least one data set")
    for s in starts:
        check_choice("start", s, STARTS)
    check_float("collapse_scale", collapse_scale, 0.0, strict_low=True)
    if regime is not None:
        init_name, steps, lr = regime.init, regime.steps, regime.lr
    S, _, D = datasets[0].x_train.shape
    device = datasets[0].x_train.device
    enc = start_encoder(datasets[0], seed)
    inits = {}
    for g, ds in enumerate(datasets):
        z0 = ds.x_train @ enc.transpose(1, 2)
        for start in starts:
            if start == "standard":
                inits[g, start] = (enc, init.codebook(init_name, z0, K, seed=seed + 2).to(device))
            elif start == "collapsed":
                inits[g, start] = (collapse_scale * enc, init.data_samples(z0, K, seed=seed + 2).to(device))
            else:
                inits[g, start] = (enc, FAR_FACTOR * init.data_samples(z0, K, seed=seed + 2).to(device))
    rows = [
        {"data": g, "start": start, "beta": float(b), "method": name, "seed": s}
        for g in range(len(datasets)) for start in starts for b in betas for name in methods for s in range(S)
    ]
    slices = pd.DataFrame(rows)
    pick = lambda i: torch.stack([inits[r.data, r.start][i][r.seed] for r in slices.itertuples()])  # noqa: E731
    # Data set g of seed s is row g * S + s of the stacked tensors.
    slices_idx = slices.assign(data=slices.data * S + slices.seed)
    stack = lambda attr: torch.cat([getattr(ds, attr) for ds in datasets])  # noqa: E731
    labels = stack("labels_eval") if hasattr(datasets[0], "labels_eval") else None
    x_val = stack("x_val") if all(getattr(ds, "x_val", None) is not None for ds in datasets) else None
    # Data row g * S + s has data set g's floor: each slice's stop rule reads its own data set's excess error.
    floors = torch.tensor([floor_of(ds) for ds in datasets], dtype=torch.float64).repeat_interleave(S)
    run = grid.train_grid(
        stack("x_train"), stack("x_eval"), slices_idx, pick(0), pick(1), steps, batch_size, lr, seed,
        eval_every, restart_window, decoder=torch.stack([enc[s].T for s in slices.seed]), A=stack("A"), labels_eval=labels,
        evaluation=evaluation, regime=regime, min_steps=min_steps, x_val=x_val, floor=floors, observe=observe, compact=compact,
    )
    run.slices = slices
    run.history["data"] = run.history["data"] // S
    return run


#: The learning rate and step budget of the seeds-budget regime: a chapter's `lr` and `steps` rescale every regime.
def regime_grids(
    datasets: list, K: int, methods: list[str], betas: list[float], regime_names: list[str], steps: int, batch_size: int,
    lr: float, seed: int, eval_every: int = 0, restart_window: int = 50, **kwargs,
) -> dict[str, grid.GridRun]:
    """:func:`estimator_grid` once per regime (same data, encoder start, seeds and minibatch stream); {name: run}.

    One batched model per regime, not one for all: regimes differ in optimizer class, codebook update rule,
    codebook start and stop rule, and a step's cost grows with the number of slices either way, so batching
    regimes would only save the per-step Python overhead. Each run's history carries a `regime` column.
    The converged regime tests its stop rule only from the fixed budget (`steps`) on (see vqlib.grid.train_grid).
    """
    if len(set(regime_names)) != len(regime_names):
        raise ValueError(f"regimes must not repeat a name, got {regime_names}")
    runs = {}
    for name in regime_names:
        recipe = regimes.rescale(name, steps, lr)
        run = estimator_grid(datasets, K, methods, betas, recipe.steps, batch_size, recipe.lr, seed, eval_every,
                             recipe.init, restart_window, regime=recipe, min_steps=steps if recipe.converge else 0, **kwargs)
        run.history.insert(0, "regime", name)
        runs[name] = run
    return runs


def time_methods(
    tb, K: int, methods: list[str], steps: int, batch_size: int, lr: float, beta: float, seed: int, repeats: int, restart_window: int = 50
) -> pd.DataFrame:
    """Wall time of one training step per method (all seeds of `tb` in one batched model), `repeats` times.

    Methods are timed in turn, in a rotated order on each repeat so slow phases of a shared machine spread
    over all of them. Returns columns method, repeat, seconds_per_step.
    """
    check_int("repeats", repeats, 1)
    rows = []
    for r in range(repeats):
        for name in methods[r % len(methods):] + methods[: r % len(methods)]:
            run = estimator_grid([tb], K, [name], [beta], steps, batch_size, lr, seed, 0, "uniform", restart_window, evaluation=False)
            rows.append({"method": name, "repeat": r, "seconds_per_step": run.seconds_per_step})
    return pd.DataFrame(rows)
