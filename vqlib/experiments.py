"""The experiments the chapters run: each maps stated settings to tidy per-seed results (pandas)."""

from __future__ import annotations

import pandas as pd
import torch

from vqlib import data, grid, init, metrics, rd
from vqlib.checks import check_choice, check_float, check_int, resolve_device
from vqlib.models import LinearVQ
from vqlib.plotting import style
from vqlib.train import train


def setup(device: str = "cpu") -> torch.device:
    """Start a chapter: one CPU thread (results repeat bit for bit on a machine), the figure style, the device."""
    torch.set_num_threads(1)
    style()
    return resolve_device(device)


def testbed_data(seeds: int, D: int, m: int, sigma: float, lambda_1: float, decay: float, n_train: int, n_eval: int, seed: int, device: torch.device) -> data.LinearGaussian:
    """The linear Gaussian testbed with a geometric latent spectrum, one draw per seed, on `device`."""
    if m > D:
        raise ValueError(f"m (the latent dimension, {m}) must be at most D ({D})")
    tb = data.linear_gaussian(seeds, D, data.spectrum(m, lambda_1, decay), sigma, n_train, n_eval, seed)
    tb.x_train, tb.x_eval, tb.s_eval, tb.A = (t.to(device) for t in (tb.x_train, tb.x_eval, tb.s_eval, tb.A))
    return tb


def bound(tb: data.LinearGaussian, K: int) -> float:
    """Shannon's D(R) at R = log2 K bits for the full data covariance (squared error per vector)."""
    return rd.gaussian_dr(tb.covariance_eigenvalues, rd.bits(K))


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
) -> pd.DataFrame:
    """Train one learned-encoder model per estimator from the same start (encoder, codebook, batches).

    Returns the evaluation history: one row per (method, step, seed).
    """
    check_int("K", K, 1)
    S, _, D = tb.x_train.shape
    m = tb.A.shape[-1]
    device = tb.x_train.device
    enc = data.random_orthonormal(S, D, m, torch.Generator().manual_seed(seed + 1)).transpose(1, 2).to(device)
    z0 = tb.x_train @ enc.transpose(1, 2)
    cb = init.codebook(init_name, z0, K, seed=seed + 2).to(device)
    frames = []
    for name in estimators:
        model = LinearVQ(enc, cb, enc.transpose(1, 2), name).to(device)
        hist = train(model, tb.x_train, tb.x_eval, steps, batch_size, lr, beta, seed + 3, eval_every, tb.A)
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
    if hasattr(tb, "labels_eval"):  # mixture data: cluster purity of the k-means codes
        idx = model(tb.x_eval, hard=True)["idx"]
        frame["purity"] = metrics.cluster_purity(idx, tb.labels_eval, K, int(tb.labels_eval.max()) + 1).cpu().numpy()
    frame.insert(0, "seed", range(len(frame)))
    frame.insert(0, "method", "pca_lloyd")
    return frame


#: Starting points of the estimator study. "standard": the testbed's start (random orthonormal encoder,
#: codebook by the chosen initializer). "collapsed": the encoder shrunk by `collapse_scale`, so every z sits
#: near 0 and (almost) every vector picks the one code nearest the origin, while the codebook is K encoded
#: training points of the unshrunk encoder: a healthy codebook behind a collapsed encoder.
STARTS = ("standard", "collapsed")


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
) -> grid.GridRun:
    """Every (data set, start, β, method, seed) trained as one batched model from paired starts.

    `datasets` are testbeds (data.LinearGaussian or data.GaussianMixture) with equal shapes; all slices of a
    seed share the encoder, the codebook of their start and data set, and the minibatch indices. Returns
    the grid run; its history has columns data (index into `datasets`), start, beta, method, seed, step.
    """
    check_int("K", K, 1)
    if not datasets:
        raise ValueError("datasets must hold at least one data set")
    for s in starts:
        check_choice("start", s, STARTS)
    check_float("collapse_scale", collapse_scale, 0.0, strict_low=True)
    S, _, D = datasets[0].x_train.shape
    m = datasets[0].A.shape[-1]
    device = datasets[0].x_train.device
    enc = data.random_orthonormal(S, D, m, torch.Generator().manual_seed(seed + 1)).transpose(1, 2).to(device)
    inits = {}
    for g, ds in enumerate(datasets):
        z0 = ds.x_train @ enc.transpose(1, 2)
        for start in starts:
            if start == "standard":
                inits[g, start] = (enc, init.codebook(init_name, z0, K, seed=seed + 2).to(device))
            else:
                inits[g, start] = (collapse_scale * enc, init.data_samples(z0, K, seed=seed + 2).to(device))
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
    run = grid.train_grid(
        stack("x_train"), stack("x_eval"), slices_idx, pick(0), pick(1), steps, batch_size, lr, seed,
        eval_every, restart_window, decoder=torch.stack([enc[s].T for s in slices.seed]), A=stack("A"), labels_eval=labels,
        evaluation=evaluation,
    )
    run.slices = slices
    run.history["data"] = run.history["data"] // S
    return run


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


def evaluate_training_sets(run: grid.GridRun, datasets: list) -> pd.DataFrame:
    """The final metrics of a grid on its training vectors instead of the held-out ones (for overfitting).

    `datasets` must be the list the grid was trained on. One row per slice: slice columns and metrics.
    """
    S = int(run.slices.seed.max()) + 1
    if len(datasets) != int(run.slices.data.max()) + 1 or any(ds.x_train.shape[0] != S for ds in datasets):
        raise ValueError(f"datasets must be the list of {int(run.slices.data.max()) + 1} data set(s) of {S} seeds the grid was trained on")
    x = torch.cat([ds.x_train for ds in datasets])
    beta = torch.tensor(run.slices.beta.to_list(), dtype=torch.float32, device=x.device)
    result = grid.evaluate(run.model, run.layout, x, beta)
    frame = run.slices.copy()
    for k, v in result.items():
        frame[k] = v.cpu().numpy()
    return frame


def recovery(history: pd.DataFrame, K: int, threshold: float = 0.1) -> pd.DataFrame:
    """Recovery from a collapsed start, per run: the dead-code fraction averaged over all evaluations, and the
    first evaluation step with at most `threshold`·K dead codes (NaN if never reached).

    One row per run (every column of `history` except step and the metrics identifies a run).
    """
    check_int("K", K, 1)
    check_float("threshold", threshold, 0.0, 1.0)
    keys = [c for c in ("data", "start", "beta", "method", "seed") if c in history.columns]
    rows = []
    for values, run in history.sort_values("step").groupby(keys, sort=False):
        frac = run.dead_codes.to_numpy() / K
        hit = run.step.to_numpy()[frac <= threshold]
        rows.append({**dict(zip(keys, values)), "mean_dead_fraction": float(frac.mean()),
                     "recovery_step": float(hit[0]) if hit.size else float("nan")})
    return pd.DataFrame(rows)


def steps_to_target(history: pd.DataFrame, reference: str = "ste", tolerance: float = 0.05) -> pd.DataFrame:
    """Time to a common target: the first evaluation step at which a run's held-out squared error is within
    `tolerance` of the final squared error of the `reference` method on the same seed (and setting).

    Runs that never get there are censored at the last step (column reached False). One row per run.
    """
    check_float("tolerance", tolerance, 0.0)
    keys = [c for c in ("data", "start", "beta", "seed") if c in history.columns]
    last = history.step.max()
    ref = history[(history.method == reference) & (history.step == last)].set_index(keys).sq_error
    if ref.empty:
        raise ValueError(f"reference method {reference!r} is not in the history; methods: {sorted(set(history.method))}")
    rows = []
    for values, run in history.sort_values("step").groupby(keys + ["method"], sort=False):
        target = (1 + tolerance) * ref.loc[values[:-1] if len(keys) > 1 else values[0]]
        hit = run.step.to_numpy()[run.sq_error.to_numpy() <= target]
        rows.append({**dict(zip(keys + ["method"], values)), "steps_to_target": float(hit[0] if hit.size else last),
                     "reached": bool(hit.size)})
    return pd.DataFrame(rows)
