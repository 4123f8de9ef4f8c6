"""The experiments the chapters run: each maps stated settings to tidy per-seed results (pandas)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from vqlib import data, grid, init, metrics, rd, regimes
from vqlib.checks import check_choice, check_float, check_int, resolve_device
from vqlib.models import LinearVQ
from vqlib.plotting import style
from vqlib.train import _eval_rows, train, train_codebook

# Moved to vqlib.studies.common; re-exported until every chapter reads its study from the results store.
from vqlib.studies.common import (  # noqa: E402,F401
    BASE_LR, BASE_STEPS, FAR_FACTOR, STARTS, bound, estimator_grid, pca_lloyd, regime_grids, regime_recipe,
    start_encoder, testbed_data, train_estimators,
)


def setup(device: str = "cpu") -> torch.device:
    """Start a chapter: one CPU thread (results repeat bit for bit on a machine), the figure style, the device."""
    torch.set_num_threads(1)
    style()
    return resolve_device(device)


# --- The initialization study (book/initialization.md) ---------------------------------------------


def latent_bound(tb: data.LinearGaussian, K: int) -> float:
    """D(R) at R = log2 K bits for the PCA latent N(0, diag(λ_i + σ²)): the bound a codebook on that latent faces."""
    return rd.gaussian_dr((tb.eigenvalues + tb.sigma**2).tolist(), rd.bits(K))


def pca_latents(tb: data.LinearGaussian) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed PCA encoder (S, m, D) of the training set and the encoded training and held-out sets (S, N, m)."""
    enc, _ = init.pca(tb.x_train.cpu(), tb.A.shape[-1])
    enc = enc.to(tb.x_train.device)
    return enc, tb.x_train @ enc.transpose(1, 2), tb.x_eval @ enc.transpose(1, 2)


def stacked_codebooks(z: torch.Tensor, K: int, inits: list[str], seed: int, options: dict[str, dict] | None = None) -> torch.Tensor:
    """One codebook per initializer and seed from encoded vectors z (S, N, m), stacked init-major: (len(inits)·S, K, m).

    Every initializer gets the same random seed, so "kmeans" here is the codebook :func:`pca_lloyd` builds.
    """
    options = options or {}
    books = [init.codebook(name, z.cpu(), K, seed=seed, **options.get(name, {})) for name in inits]
    return torch.cat(books).to(z.device)


def _label(history: pd.DataFrame, column: str, labels: list, S: int) -> pd.DataFrame:
    """Split the stacked model index into (label, seed)."""
    stacked = history.pop("seed").to_numpy()
    history.insert(0, "seed", stacked % S)
    history.insert(0, column, [labels[i] for i in stacked // S])
    return history


def train_fixed_encoder(
    tb: data.LinearGaussian,
    K: int,
    inits: list[str],
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    eval_every: int = 0,
    options: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """Fixed PCA encoder, decoder its transpose: only the codebook trains, one per initializer and seed, all at once.

    Metrics are on the held-out latent (latent distortion E‖z − q‖², dead codes, …). One row per (init, step, seed).
    """
    check_int("K", K, 1)
    S = tb.x_train.shape[0]
    _, z_train, z_eval = pca_latents(tb)
    books = stacked_codebooks(z_train, K, inits, seed + 2, options)
    n = len(inits)
    hist, _ = train_codebook(z_train.repeat(n, 1, 1), z_eval.repeat(n, 1, 1), books, steps, batch_size, lr, seed + 3, eval_every)
    hist = _label(hist, "init", inits, S)
    hist.insert(0, "K", K)
    return hist


def train_learned_encoder(
    tb: data.LinearGaussian,
    K: int,
    inits: list[str],
    steps: int,
    batch_size: int,
    lr: float,
    beta: float,
    seed: int,
    eval_every: int = 0,
    estimator: str = "ste",
    n_curve: int | None = None,
    options: dict[str, dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Learned encoder and decoder (the testbed's start: random orthonormal encoder), one model per initializer and seed.

    Codebooks are initialized from the start encoder's outputs, as in :func:`train_estimators`; all
    initializers share that encoder. Returns (curve, start_end): the evaluation history, on the first
    `n_curve` held-out vectors per seed when given (learning curves at a fifth of the cost), and the
    metrics of LinearVQ.evaluate at step 0 and at the end on the whole held-out set; one row per (init, step, seed).
    """
    check_int("K", K, 1)
    S = tb.x_train.shape[0]
    n = len(inits)
    device = tb.x_train.device
    enc = start_encoder(tb, seed)
    books = stacked_codebooks(tb.x_train @ enc.transpose(1, 2), K, inits, seed + 2, options)
    enc = enc.repeat(n, 1, 1)
    model = LinearVQ(enc, books, enc.transpose(1, 2), estimator).to(device)
    x_eval, A = tb.x_eval.repeat(n, 1, 1), tb.A.repeat(n, 1, 1)
    if n_curve is None:
        curve = train(model, tb.x_train.repeat(n, 1, 1), x_eval, steps, batch_size, lr, beta, seed + 3, eval_every, A)
        start_end = curve[curve.step.isin([0, steps])].reset_index(drop=True)
    else:
        check_int("n_curve", n_curve, 1, tb.x_eval.shape[1])
        start = _eval_rows(model, x_eval, A, 0)
        curve = train(model, tb.x_train.repeat(n, 1, 1), x_eval[:, :n_curve], steps, batch_size, lr, beta, seed + 3, eval_every, A)
        start_end = pd.concat([start, _eval_rows(model, x_eval, A, steps)], ignore_index=True)
    out = []
    for frame in (curve, start_end):
        frame = _label(frame.copy(), "init", inits, S)
        frame.insert(0, "K", K)
        out.append(frame)
    return out[0], out[1]


def latent_rms_std(tb: data.LinearGaussian) -> float:
    """sqrt(mean_i (λ_i + σ²)): the per-coordinate spread of the PCA latent, the unit of the uniform-scale sweep."""
    return float((tb.eigenvalues + tb.sigma**2).mean().sqrt())


def uniform_scale_sweep(
    tb: data.LinearGaussian, K: int, ratios: list[float], steps: int, batch_size: int, lr: float, seed: int
) -> pd.DataFrame:
    """Fixed PCA encoder, codebook uniform on [−s, s]^m with s = ratio × the latent's RMS std; start and end of training.

    The RMS std is sqrt(mean_i (λ_i + σ²)), the population value of the latent's per-coordinate spread.
    One row per (ratio, step, seed), with the half-width `scale` beside it.
    """
    check_int("K", K, 1)
    S = tb.x_train.shape[0]
    m = tb.A.shape[-1]
    std = latent_rms_std(tb)
    _, z_train, z_eval = pca_latents(tb)
    books = torch.cat([init.uniform(S, K, m, scale=r * std, seed=seed + 2) for r in ratios]).to(z_train.device)
    n = len(ratios)
    hist, _ = train_codebook(z_train.repeat(n, 1, 1), z_eval.repeat(n, 1, 1), books, steps, batch_size, lr, seed + 3)
    hist = _label(hist, "ratio", list(ratios), S)
    hist.insert(1, "scale", hist.ratio * std)
    return hist


def settle_steps(history: pd.DataFrame, column: str, by: list[str], db: float = 0.5) -> pd.DataFrame:
    """Per group and seed: the first evaluated step from which `column` stays within `db` dB of its final value.

    The resolution is the evaluation interval; 0 means it starts there. Returns by + [seed, settle_step].
    """
    check_float("db", db, 0.0, strict_low=True)
    rows = []
    for key, g in history.groupby(by + ["seed"], sort=True):
        g = g.sort_values("step")
        off = np.abs(10 * np.log10(g[column].to_numpy() / g[column].to_numpy()[-1])) > db
        steps = g.step.to_numpy()
        last_off = np.flatnonzero(off)
        settle = steps[0] if last_off.size == 0 else steps[last_off[-1] + 1]
        rows.append((*key, int(settle)))
    return pd.DataFrame(rows, columns=by + ["seed", "settle_step"])


def fixed_encoder_check(
    tb: data.LinearGaussian, K: int, runs: list[tuple[str, float]], steps: int, batch_size: int, lr: float, seed: int
) -> pd.DataFrame:
    """Train the fixed-PCA-encoder LinearVQ (uniform start) once per (estimator, β) and compare final codebooks.

    Returns per run the largest absolute difference of its final codebook from the first run's and from
    :func:`vqlib.train.train_codebook`'s (the codebook-loss-only trainer this chapter uses).
    """
    check_int("K", K, 1)
    S = tb.x_train.shape[0]
    enc, z_train, z_eval = pca_latents(tb)
    start = init.uniform(S, K, enc.shape[1], seed=seed + 2).to(tb.x_train.device)
    books = []
    for estimator, beta in runs:
        model = LinearVQ(enc, start, enc.transpose(1, 2), estimator, learn_encoder=False, learn_decoder=False)
        train(model, tb.x_train, tb.x_eval[:, :1], steps, batch_size, lr, beta, seed + 3)
        books.append(model.codebook.detach())
    _, shortcut = train_codebook(z_train, z_eval[:, :1], start, steps, batch_size, lr, seed + 3)
    return pd.DataFrame(
        {
            "estimator": [e for e, _ in runs],
            "beta": [b for _, b in runs],
            "max_diff_first": [float((b - books[0]).abs().max()) for b in books],
            "max_diff_codebook_only": [float((b - shortcut).abs().max()) for b in books],
        }
    )


def utilization_readings(
    per_seed: pd.DataFrame, K: int, ranges: dict[str, tuple[tuple[float, float], tuple[float, float]]], mid: float | None = None
) -> pd.DataFrame:
    """Score readings of a dead-code table (initial, final per initializer) against the seed's ranges.

    per_seed: one row per (setting, init, K, seed) with dead_start, dead_end and, where measured,
    batch_start, batch_end (per-batch counts). Readings: as written (K, one quantizer, per set); a larger
    K'; a sum over n quantizers at K, n fitted so the first initializer's initial count meets the middle of
    its range (`mid`); a per-batch count at K'. For each, the mean per cell and how many cells fall in range.
    """
    inits = list(ranges)
    first_lo, first_hi = ranges[inits[0]][0]
    mid = (first_lo + first_hi) / 2 if mid is None else mid
    rows = []

    def add(setting, family, reading, k, n, start_col, end_col):
        sub = per_seed[(per_seed.setting == setting) & (per_seed.K == k)]
        if sub.empty or start_col not in sub or sub[start_col].isna().all():
            return
        row = {"setting": setting, "family": family, "reading": reading, "K": k, "n": n}
        inside = 0
        for name in inits:
            s = sub[sub.init == name]
            for phase, col, (lo, hi) in (("initial", start_col, ranges[name][0]), ("final", end_col, ranges[name][1])):
                v = n * float(s[col].mean()) if len(s) else float("nan")
                row[f"{name}_{phase}"] = v
                inside += bool(lo <= v <= hi)
        row["cells_in_range"] = inside
        rows.append(row)

    for setting in dict.fromkeys(per_seed.setting):
        add(setting, "as written", f"K = {K}, one quantizer, held-out set", K, 1, "dead_start", "dead_end")
        for k in sorted(per_seed.K.unique()):
            if k > K:
                add(setting, "larger K", f"K = {k}, one quantizer, held-out set", k, 1, "dead_start", "dead_end")
        first = per_seed[(per_seed.setting == setting) & (per_seed.K == K) & (per_seed.init == inits[0])].dead_start.mean()
        n = max(1, int(round(mid / first))) if first > 0 else 1
        add(setting, "sum over quantizers", f"K = {K}, summed over n = {n} quantizers", K, n, "dead_start", "dead_end")
        for k in sorted(per_seed.K.unique()):
            add(setting, "per batch", f"K = {k}, per batch", k, 1, "batch_start", "batch_end")
    out = pd.DataFrame(rows)
    # within a family, keep the best-scoring reading (ties: the first cell closest to the middle of its range)
    out["_tie"] = -(out[f"{inits[0]}_initial"] - mid).abs()
    out["best_in_family"] = False
    best = out.sort_values(["cells_in_range", "_tie"], ascending=False).groupby(["setting", "family"], sort=False).head(1).index
    out.loc[best, "best_in_family"] = True
    return out.drop(columns="_tie")


def pca_residual(tb: data.LinearGaussian) -> np.ndarray:
    """Per seed, the held-out E‖x − EᵀE x‖² of the fixed PCA encoder E: what a latent-only quantizer cannot remove.

    With the PCA encoder and decoder Eᵀ, E‖x − x̂‖² = this residual + E‖z − q‖² exactly (E has orthonormal rows).
    """
    _, _, z_eval = pca_latents(tb)
    return ((tb.x_eval.double() ** 2).sum(-1).mean(-1) - (z_eval.double() ** 2).sum(-1).mean(-1)).cpu().numpy()


#: Initializers the learned-encoder rows of the initialization chapter train (the codebook-only study takes all).
LEARNED_INITS = ("uniform", "kmeans", "data_samples", "rd_optimal")


def check_study_parameters(
    K: int, K_list: list[int], beta: float, beta_list: list[float], inits: list[str],
    regimes: list[str] | None = None, spectra: list[str] | None = None,
) -> None:
    """The initialization chapter's cross-parameter requirements, each failing with the parameters it names."""
    if regimes is not None and "seeds-budget" not in regimes:
        raise ValueError(f"regimes must include 'seeds-budget' (the seeds' setting, which the dead-code and scale sections use), got {regimes}")
    if spectra is not None and "geometric" not in spectra:
        raise ValueError(f"spectra must include 'geometric' (the testbed's spectrum), got {spectra}")
    for name, values in (("regimes", regimes), ("spectra", spectra)):
        if values is not None and len(set(values)) != len(values):
            raise ValueError(f"{name} must not repeat a name, got {values}")
    if K not in K_list:
        raise ValueError(f"K ({K}) must be one of K_list {K_list}: the seeds' table is read at K")
    if beta not in beta_list:
        raise ValueError(f"beta ({beta}) must be one of beta_list {beta_list}: the sweep compares against it")
    missing = sorted({"uniform", "kmeans", "rd_optimal"} - set(inits))
    if missing:
        raise ValueError(f"inits must include {missing} (the seeds' table compares uniform, kmeans and rd_optimal), got {inits}")
    if len(set(inits)) != len(inits):
        raise ValueError(f"inits must not repeat a name, got {inits}")


def start_end(history: pd.DataFrame, columns: dict[str, str], steps: int, by: list[str]) -> pd.DataFrame:
    """One row per group and seed: each history column at step 0 and at `steps`, as <name>_start and <name>_end."""
    parts = []
    for step, suffix in ((0, "start"), (steps, "end")):
        sub = history[history.step == step].set_index(by + ["seed"])[list(columns)]
        parts.append(sub.rename(columns={c: f"{n}_{suffix}" for c, n in columns.items()}))
    return pd.concat(parts, axis=1).reset_index()


#: Starting points of the estimator study. "standard": the testbed's start (random orthonormal encoder,
#: codebook by the chosen initializer). "collapsed": the encoder shrunk by `collapse_scale`, so every z sits
#: near 0 and (almost) every vector picks the one code nearest the origin, while the codebook is K encoded
#: training points of the unshrunk encoder: a healthy codebook behind a collapsed encoder. Its z sit at the
#: origin, where the rotation trick's rotation is ill-defined (its paper's stated limitation), so
#: "collapsed_far" collapses away from the origin: the encoder is the standard one (z at their usual
#: scale) and the codebook is K encoded training points pushed out by FAR_FACTOR, so the few codes of
#: smallest norm take (almost) every vector and the rest lie outside the data.
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


def steps_to_target(history: pd.DataFrame, reference: str = "ste", tolerance: float = 0.05, common: bool = False) -> pd.DataFrame:
    """Time to a common target: the first evaluation step at which a run's held-out squared error is within
    `tolerance` of the final squared error of the `reference` method on the same seed (and setting).

    Runs that never get there are censored at the last step (column reached False). One row per run.
    With `common`, the target is `tolerance` above the *worst* final value among all methods of the same
    seed (and setting): every run reaches it by its last step, so nothing is censored and a method that ends
    worse than the reference is not counted at the budget (which pulls a comparison of speeds towards
    "similar"); all methods of a seed share the one target.
    """
    check_float("tolerance", tolerance, 0.0)
    keys = [c for c in ("data", "start", "beta", "seed") if c in history.columns]
    last = history.step.max()
    at_last = history[history.step == last]
    ref = at_last[at_last.method == reference].set_index(keys).sq_error
    if common:
        ref = at_last.groupby(keys).sq_error.max()
    if ref.empty:
        raise ValueError(f"reference method {reference!r} is not in the history; methods: {sorted(set(history.method))}")
    rows = []
    for values, run in history.sort_values("step").groupby(keys + ["method"], sort=False):
        target = (1 + tolerance) * ref.loc[values[:-1] if len(keys) > 1 else values[0]]
        hit = run.step.to_numpy()[run.sq_error.to_numpy() <= target]
        rows.append({**dict(zip(keys + ["method"], values)), "steps_to_target": float(hit[0] if hit.size else last),
                     "reached": bool(hit.size)})
    return pd.DataFrame(rows)


def kmeans_vs_bound(dims: list[int], K_list: list[int], seeds: int, n_train: int, n_eval: int, iters: int, seed: int) -> pd.DataFrame:
    """k-means on N(0, I_d) samples for each (d, K): MSE per dimension on its training points and on fresh ones.

    In 1-D the codebook is also scored on the exact density (rd.scalar_mse), next to the Lloyd–Max optimum and
    to Lloyd run on the same samples from the Lloyd–Max levels (what the samples allow near the optimum).
    Returns one row per (d, K, seed); distortions are per dimension, bounds are D(R) = 2^(−2 log2(K)/d).
    """
    from vqlib.quantize import sq_distances

    rows = []
    gen = torch.Generator().manual_seed(int(seed))
    for d in dims:
        for K in K_list:
            check_int("K", K, 1, n_train)
            x = torch.randn(seeds, n_train, d, generator=gen, dtype=torch.float64)
            fresh = torch.randn(seeds, n_eval, d, generator=gen, dtype=torch.float64)
            cb = init.kmeans(x, K, iters, seed=seed + 1000 * d + K)
            frame = pd.DataFrame(
                {
                    "d": d,
                    "K": K,
                    "seed": range(seeds),
                    "rate_per_dim": rd.bits(K) / d,
                    "train_mse": (sq_distances(x, cb).min(-1).values.mean(-1) / d).numpy(),
                    "fresh_mse": (sq_distances(fresh, cb).min(-1).values.mean(-1) / d).numpy(),
                    "dr": rd.gaussian_dr([1.0] * d, rd.bits(K)) / d,
                }
            )
            if d == 1:
                lm = rd.lloyd_max(K)
                from_lm = init.lloyd(x, torch.as_tensor(lm.levels).reshape(1, K, 1).expand(seeds, K, 1).clone(), iters)
                frame["exact_mse"] = [rd.scalar_mse(c[:, 0].numpy()) for c in cb]
                frame["lloyd_max"] = lm.mse
                frame["from_lm_exact_mse"] = [rd.scalar_mse(c[:, 0].numpy()) for c in from_lm]
            rows.append(frame)
    return pd.concat(rows, ignore_index=True)


# --- The testbed across training regimes (book/testbed.md) --------------------------------------------


def testbed_regimes(
    tb: data.LinearGaussian, K: int, methods: list[str], regime_names: list[str], steps: int, batch_size: int, lr: float,
    beta: float, seed: int, eval_every: int, kmeans_iters: int,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """The testbed's methods in every regime, with PCA + Lloyd (no training: the same in every regime) beside them.

    Returns (final, history, steps_run): final has one row per (regime, method, seed) with the grid's metrics,
    the per-vector squared error's excess over the noise floor (D − m)σ², the gap to D(R) in dB and usage in %.
    """
    runs = regime_grids([tb], K, methods, [beta], regime_names, steps, batch_size, lr, seed, eval_every)
    pl = pca_lloyd(tb, K, kmeans_iters, seed)
    final = pd.concat([r.final for r in runs.values()] + [pl.assign(regime=name) for name in regime_names], ignore_index=True)
    final = final.drop(columns=[c for c in ("data", "start", "step") if c in final.columns])
    D, m = tb.x_train.shape[-1], tb.A.shape[-1]
    final["excess_sq_error"] = final.sq_error - metrics.noise_floor(D, m, tb.sigma)
    final["gap_db"] = rd.gap_db(final.sq_error.to_numpy(), bound(tb, K))
    final["usage_pct"] = 100 * final.usage
    history = pd.concat([r.history for r in runs.values()], ignore_index=True)
    return final, history, {name: r.steps_run for name, r in runs.items()}


def per_vector_reading(final: pd.DataFrame, seed_values: dict[str, float], column: str = "sq_error") -> pd.DataFrame:
    """Read a seed's MSE column as per-vector squared error: per regime, our mean beside each seed value.

    A reading search, not tuning: the regimes are fixed; this only asks in which of them our per-vector error
    lies closest to the seed's numbers. One row per regime: each method's mean, and the mean absolute
    relative deviation from the seed's values over the methods (sorted, closest first).
    """
    rows = []
    for regime, sub in final.groupby("regime", sort=False):
        means = {k: float(sub[sub.method == k][column].mean()) for k in seed_values}
        dev = float(np.mean([abs(means[k] - v) / v for k, v in seed_values.items()]))
        rows.append({"regime": regime, **means, "mean_abs_rel_dev": dev})
    return pd.DataFrame(rows).sort_values("mean_abs_rel_dev", kind="stable").reset_index(drop=True)


def leakage_pct(run: grid.GridRun, tb: data.LinearGaussian) -> np.ndarray:
    """Per slice of a one-data-set grid: the signal energy outside the encoder's row span, in % of the signal's energy.

    metrics.signal_leakage weighted by the latent variances λ_i, so a lost weak direction costs little and a lost
    strong one much (the largest principal angle weighs them alike). Order: run.slices.
    """
    seeds = torch.tensor(run.slices.seed.to_list())
    A = tb.A[seeds.to(tb.A.device)]
    leak = metrics.signal_leakage(run.model.encoder.detach(), A, tb.eigenvalues)
    return (100 * leak / tb.eigenvalues.sum()).cpu().numpy()


# --- Random codes and transform coding against high-resolution theory (book/rate_distortion.md) ------

#: Code densities of the random-code study, as functions of the source variances λ and the rate: the
#: variances of the Gaussian g the K codes are drawn from (in the source's eigenbasis).
SAMPLERS = {
    "data_samples": lambda lam, K: np.asarray(lam, dtype=np.float64),
    "rd_optimal": lambda lam, K: rd.reverse_water_filling(lam, rd.bits(K)).reproduction_variances,
    "point_density": lambda lam, K: rd.point_density_variances(lam),
}


def geometric_spectrum(m: int, lambda_1: float, decay: float, sigma: float) -> np.ndarray:
    """The testbed latent's variances λ_i + σ² with λ_i = λ₁ decay^(i−1), i = 1..m."""
    return data.spectrum(m, lambda_1, decay).double().numpy() + sigma**2


def random_code_study(
    dims: list[int], K_list: list[int], lambda_1: float, decay: float, sigma: float,
    seeds: int, n_train: int, n_eval: int, lloyd_iters: int, seed: int,
) -> pd.DataFrame:
    """Random codebooks from each density of :data:`SAMPLERS` on N(0, diag(λ + σ²)) in m dimensions, before and after Lloyd.

    Per (m, K, sampler, seed): the high-resolution prediction (vqlib.rd.random_code_distortion as written and
    on the active subspace), the measured distortion of the drawn codebook on n_eval fresh vectors (step 0)
    and after at most `lloyd_iters` Lloyd iterations on n_train training vectors; beside them per (m, K) D(R),
    the sphere bound and the exact transform-coding distortion. Distortions are per vector; samples and codes
    are float32 (drawn in float64), distances are summed per chunk in float64.
    """
    gen = torch.Generator().manual_seed(int(seed))
    rows = []
    for m in dims:
        lam = geometric_spectrum(m, lambda_1, decay, sigma)
        std = torch.from_numpy(np.sqrt(lam))
        x = (torch.randn(seeds, n_train, m, generator=gen, dtype=torch.float64) * std).float()
        fresh = (torch.randn(seeds, n_eval, m, generator=gen, dtype=torch.float64) * std).float()
        for K in K_list:
            check_int("K", K, 1, n_train)
            books = []
            for name, law in SAMPLERS.items():
                if name == "data_samples":  # K training vectors: i.i.d. draws from p itself
                    books.append(init.data_samples(x, K, seed=seed + K))
                else:
                    gam = torch.from_numpy(law(lam, K))
                    books.append((torch.randn(seeds, K, m, generator=gen, dtype=torch.float64) * gam.sqrt()).float())
            start = torch.cat(books)  # sampler-major (3·S, K, m)
            trained = init.lloyd(x.repeat(len(SAMPLERS), 1, 1), start, lloyd_iters)
            reps = fresh.repeat(len(SAMPLERS), 1, 1)
            d0 = nearest_error(reps, start)
            d1 = nearest_error(reps, trained)
            levels = rd.allocate_levels(lam, K)
            common = {"m": m, "K": K, "bits_per_dim": rd.bits(K) / m, "dr": rd.gaussian_dr(lam, rd.bits(K)),
                      "sphere": rd.sphere_bound(lam, K), "transform": rd.transform_coding_distortion(lam, levels),
                      "levels": "×".join(map(str, levels))}
            for j, (name, law) in enumerate(SAMPLERS.items()):
                gam = law(lam, K)
                pred = rd.random_code_distortion(lam, gam, K)
                pred_sub = rd.random_code_distortion(lam, gam, K, subspace=True)
                for s in range(seeds):
                    rows.append({**common, "sampler": name, "seed": s, "predicted": pred, "predicted_subspace": pred_sub,
                                 "active": int((gam > 0).sum()), "measured_start": float(d0[j * seeds + s]),
                                 "measured_lloyd": float(d1[j * seeds + s])})
    return pd.DataFrame(rows)


def nearest_error(x: torch.Tensor, codebook: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Mean squared distance from each x (S, N, m) to its nearest code (S, K, m), per leading index, in chunks."""
    from vqlib.quantize import nearest

    total = sum(nearest(x[:, i:i + chunk], codebook)[0].double().sum(-1) for i in range(0, x.shape[1], chunk))
    return total / x.shape[1]


# --- The initialization study across regimes (book/initialization.md) -------------------------------


def flat_testbed(tb: data.LinearGaussian, seed: int) -> data.LinearGaussian:
    """A testbed like `tb` with a flat latent spectrum of the same total variance (every λ_i = mean λ)."""
    S, N, D = tb.x_train.shape
    m = tb.A.shape[-1]
    flat = torch.full((m,), float(tb.eigenvalues.mean()), dtype=tb.eigenvalues.dtype)
    out = data.linear_gaussian(S, D, flat, tb.sigma, N, tb.x_eval.shape[1], seed)
    out.x_train, out.x_eval, out.s_eval, out.A = (t.to(tb.x_train.device) for t in (out.x_train, out.x_eval, out.s_eval, out.A))
    return out


def init_regime_study(
    testbeds: dict[str, data.LinearGaussian], K_list: list[int], inits: list[str], regimes: list[str], steps: int,
    batch_size: int, seed: int, eval_every: int, n_curve: int | None, restarts: int, kmeans_iters: int,
    tolerance: float = 0.02,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fixed PCA encoder, codebook-only training of every initializer under every regime, per spectrum and K.

    All initializers × seeds × regimes of one (spectrum, K) train as one stacked model
    (vqlib.codebook_training). Beside each run: the latent D(R), the k-means codebook (initializer
    `kmeans`, restart 0) and the best of `restarts` k-means runs, all on the held-out latent.
    Returns (per_seed, curves): per (spectrum, K, regime, init, seed) distortion, dead codes and per-batch dead
    codes at step 0 and after training, the bound, k-means' and the best codebook's distortion, and the first
    curve step within `tolerance` of k-means' distortion (NaN if never); curves: the learning curves.
    """
    from vqlib import codebook_training

    check_int("restarts", restarts, 1)
    per_seed, curves = [], []
    for spectrum, tb in testbeds.items():
        S = tb.x_train.shape[0]
        _, z_train, z_eval = pca_latents(tb)
        for K in K_list:
            check_int("K", K, 1, z_train.shape[1])
            km_books, km_err = init.kmeans_restarts(z_train.cpu(), K, restarts, kmeans_iters, seed + 2)
            best = km_books[km_err.argmin(0), torch.arange(S)].to(z_train.device)
            best_dist = nearest_error(z_eval, best).cpu().numpy()
            books = torch.cat([km_books[0].to(z_train.device) if name == "kmeans" else init.codebook(name, z_train, K, seed=seed + 2)
                               for name in inits])
            hist = codebook_training.train_codebooks(z_train, z_eval, books, regimes, steps, batch_size, seed + 3, eval_every, n_curve)
            hist.insert(2, "init", [inits[b // S] for b in hist.book])
            hist.insert(3, "seed", hist.pop("book") % S)
            hist.insert(0, "K", K)
            hist.insert(0, "spectrum", spectrum)
            full = hist[~hist.curve] if hist.curve.any() else hist
            curve = hist[hist.curve] if hist.curve.any() else hist
            cols = {"latent_distortion": "dist", "dead_codes": "dead", "dead_per_batch": "batch"}
            frame = start_end(full, cols, steps, ["spectrum", "K", "regime", "init"])
            frame["bound"] = latent_bound_of(tb, K)
            km = frame[frame.init == "kmeans"].set_index(["regime", "seed"]).dist_start
            frame["lloyd"] = km.loc[list(zip(frame.regime, frame.seed))].to_numpy()
            frame["best"] = best_dist[frame.seed.to_numpy()]
            target = curve[(curve.init == "kmeans") & (curve.step == 0)].set_index(["regime", "seed"]).latent_distortion
            reach = []
            for key, g in curve.sort_values("step").groupby(["regime", "init", "seed"], sort=False):
                hit = g.step.to_numpy()[g.latent_distortion.to_numpy() <= (1 + tolerance) * target.loc[(key[0], key[2])]]
                reach.append((*key, float(hit[0]) if hit.size else float("nan")))
            frame = frame.merge(pd.DataFrame(reach, columns=["regime", "init", "seed", "steps_to_kmeans"]), on=["regime", "init", "seed"])
            per_seed.append(frame)
            curves.append(curve.drop(columns="curve"))
    out = pd.concat(per_seed, ignore_index=True)
    out["gap_db"] = rd.gap_db(out.dist_end.to_numpy(), out.bound.to_numpy())
    out["gap_start_db"] = rd.gap_db(out.dist_start.to_numpy(), out.bound.to_numpy())
    out["best_gap_db"] = rd.gap_db(out.dist_end.to_numpy(), out.best.to_numpy())
    out["best_gap_start_db"] = rd.gap_db(out.dist_start.to_numpy(), out.best.to_numpy())
    return out, pd.concat(curves, ignore_index=True)


def latent_bound_of(tb: data.LinearGaussian, K: int) -> float:
    """D(R) at log2 K bits of the PCA latent N(0, diag(λ_i + σ²)) of any testbed (flat or geometric)."""
    return rd.gaussian_dr((tb.eigenvalues + tb.sigma**2).tolist(), rd.bits(K))


def beats(a, b, margin: float) -> tuple[str, "stats.Interval"]:
    """Verdict on "a beats b" from paired per-seed distortions: the CI of the relative difference (a − b)/b vs −margin.

    holds: the whole 95 % CI lies below −margin (a lower by more than the margin); does not hold: the whole CI
    lies above −margin; inconclusive: the CI contains −margin; not testable: fewer than two seeds.
    """
    from vqlib import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or a.size != b.size:
        return "not testable", stats.Interval(float("nan"), float("nan"), float("nan"), int(a.size))
    rel = stats.paired(b, a).relative
    if rel.high < -margin:
        return "holds", rel
    if rel.low > -margin:
        return "does not hold", rel
    return "inconclusive", rel


def within_margin(a, b, margin: float) -> tuple[str, "stats.Interval"]:
    """Verdict on "a is as good as b" (a within `margin` above b): paired relative CI of (a − b)/b against +margin.

    holds: the whole CI lies below +margin; does not hold: the whole CI lies above it; inconclusive otherwise.
    """
    from vqlib import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or a.size != b.size:
        return "not testable", stats.Interval(float("nan"), float("nan"), float("nan"), int(a.size))
    rel = stats.paired(b, a).relative
    if rel.high < margin:
        return "holds", rel
    if rel.low > margin:
        return "does not hold", rel
    return "inconclusive", rel
