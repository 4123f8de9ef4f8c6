"""The initialization study (book/initialization.md): codebook starts, codebook-only training under regimes, the
learned encoder, the uniform-scale sweep and the β sweep.

Tasks (each names its `part`): one per (spectrum, K) of the codebook-only study (fixed PCA encoder, every
initializer × regime × seed stacked in one model), one per K of the learned encoder, one for the estimator/β
invariance check, one for the uniform-scale sweep, and one per β of the β sweep. Every task returns every table
of the study; those of other parts are empty.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from vqlib import codebook_training, data, init, rd
from vqlib.checks import check_int
from vqlib.models import LinearVQ
from vqlib.quantize import nearest
from vqlib.regimes import rescale
from vqlib.studies.common import bound, start_encoder, testbed_data
from vqlib.train import _eval_rows, train, train_codebook

PARAMS = ("seeds", "seed", "D", "m", "sigma", "lambda_1", "decay", "n_train", "n_eval", "n_curve", "K_list", "K", "inits",
          "regimes", "spectra", "restarts", "estimator", "steps", "batch_size", "lr", "beta", "beta_list", "scale_list",
          "eval_every", "kmeans_iters")
#: Columns that move with the last bits: dead codes (argmin near-ties) and the steps a run takes to reach a target.
SPREAD = ("dead_start", "dead_end", "batch_start", "batch_end", "dead_codes", "dead_per_batch", "usage",
          "steps_to_kmeans")
#: Machine-local timings.
UNVERIFIED = ("seconds",)
TABLES = ("codebook", "codebook_curves", "learned_curves", "learned_ends", "invariance", "scale", "beta", "timing")
#: Initializers the learned-encoder rows train (the codebook-only study takes all of `inits`).
LEARNED_INITS = ("uniform", "kmeans", "data_samples", "rd_optimal")
#: Initializers of the β sweep.
BETA_INITS = ("uniform", "rd_optimal")
_DATA = ("seeds", "D", "m", "sigma", "lambda_1", "decay", "n_train", "n_eval", "seed")


def tasks(p: dict) -> list[dict]:
    """The codebook-only study per (spectrum, K), the learned encoder per K, the invariance check, the scale sweep, β per value."""
    base = {k: p[k] for k in _DATA}
    train_p = {k: p[k] for k in ("steps", "batch_size")}
    learned = [i for i in p["inits"] if i in LEARNED_INITS]
    out = [{**base, **train_p, "part": "codebook", "spectrum": s, "K": k, "inits": p["inits"], "regimes": p["regimes"],
            "eval_every": p["eval_every"], "n_curve": p["n_curve"], "restarts": p["restarts"], "kmeans_iters": p["kmeans_iters"]}
           for s in p["spectra"] for k in p["K_list"]]
    out += [{**base, **train_p, "part": "learned", "K": k, "inits": learned, "lr": p["lr"], "beta": p["beta"],
             "eval_every": p["eval_every"], "estimator": p["estimator"], "n_curve": p["n_curve"], "kmeans_iters": p["kmeans_iters"]}
            for k in p["K_list"]]
    runs = [["ste", p["beta"]], ["rotation_trick", p["beta_list"][0]], ["projection", p["beta_list"][-1]]]
    out.append({**base, **train_p, "part": "invariance", "K": p["K"], "runs": runs, "lr": p["lr"]})
    out.append({**base, **train_p, "part": "scale", "K": p["K"], "scale_list": p["scale_list"], "lr": p["lr"]})
    out += [{**base, **train_p, "part": "beta", "K": p["K"], "inits": list(BETA_INITS), "lr": p["lr"], "beta": b,
             "estimator": p["estimator"], "kmeans_iters": p["kmeans_iters"]} for b in p["beta_list"]]
    return out


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """One task's tables: its part's tables filled, the others empty, and its wall time in `timing`."""
    start = time.perf_counter()
    tb = testbed_data(t["seeds"], t["D"], t["m"], t["sigma"], t["lambda_1"], t["decay"], t["n_train"], t["n_eval"], t["seed"], device)
    part = t["part"]
    if part == "codebook":
        testbed = tb if t["spectrum"] == "geometric" else flat_testbed(tb, t["seed"])
        per_seed, curves = init_regime_study({t["spectrum"]: testbed}, [t["K"]], t["inits"], t["regimes"], t["steps"],
                                             t["batch_size"], t["seed"], t["eval_every"], t["n_curve"], t["restarts"], t["kmeans_iters"])
        out = {"codebook": per_seed, "codebook_curves": curves}
    elif part == "learned":
        curve, ends = train_learned_encoder(tb, t["K"], t["inits"], t["steps"], t["batch_size"], t["lr"], t["beta"], t["seed"],
                                            t["eval_every"], t["estimator"], t["n_curve"], {"kmeans": {"iters": t["kmeans_iters"]}})
        ends["bound"] = bound(tb, t["K"])
        ends["pca_residual"] = pca_residual(tb)[ends.seed.to_numpy()]
        out = {"learned_curves": curve, "learned_ends": ends}
    elif part == "invariance":
        out = {"invariance": fixed_encoder_check(tb, t["K"], [tuple(r) for r in t["runs"]], t["steps"], t["batch_size"], t["lr"], t["seed"])}
    elif part == "scale":
        std = latent_rms_std(tb)
        ratios = sorted(set(t["scale_list"]) | {(1 / t["K"]) / std})
        sweep = uniform_scale_sweep(tb, t["K"], ratios, t["steps"], t["batch_size"], t["lr"], t["seed"])
        out = {"scale": sweep[sweep.step.isin([0, t["steps"]])].assign(std=std, default_ratio=(1 / t["K"]) / std)}
    else:
        _, ends = train_learned_encoder(tb, t["K"], t["inits"], t["steps"], t["batch_size"], t["lr"], t["beta"], t["seed"], 0,
                                        t["estimator"], None, {"kmeans": {"iters": t["kmeans_iters"]}})
        out = {"beta": ends.assign(beta=t["beta"], bound=bound(tb, t["K"]))}
    tables = {name: out.get(name, pd.DataFrame()) for name in TABLES}
    tables["timing"] = pd.DataFrame({"part": [part], "seconds": [time.perf_counter() - start]})
    return tables


# --- data and encoders ----------------------------------------------------------------------------------


def flat_testbed(tb: data.LinearGaussian, seed: int) -> data.LinearGaussian:
    """A testbed like `tb` with a flat latent spectrum of the same total variance (every λ_i = mean λ)."""
    S, N, D = tb.x_train.shape
    m = tb.A.shape[-1]
    flat = torch.full((m,), float(tb.eigenvalues.mean()), dtype=tb.eigenvalues.dtype)
    n_val = 0 if tb.x_val is None else tb.x_val.shape[1]
    out = data.linear_gaussian(S, D, flat, tb.sigma, N, tb.x_eval.shape[1], seed, n_val)
    out.x_train, out.x_eval, out.s_eval, out.A = (t.to(tb.x_train.device) for t in (out.x_train, out.x_eval, out.s_eval, out.A))
    out.x_val = out.x_val.to(tb.x_train.device) if n_val else None
    return out


def latent_bound(tb: data.LinearGaussian, K: int) -> float:
    """D(R) at R = log2 K bits for the PCA latent N(0, diag(λ_i + σ²)): the bound a codebook on that latent faces."""
    return rd.gaussian_dr((tb.eigenvalues + tb.sigma**2).tolist(), rd.bits(K))


def latent_rms_std(tb: data.LinearGaussian) -> float:
    """sqrt(mean_i (λ_i + σ²)): the per-coordinate spread of the PCA latent, the unit of the uniform-scale sweep."""
    return float((tb.eigenvalues + tb.sigma**2).mean().sqrt())


def pca_latents(tb: data.LinearGaussian) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed PCA encoder (S, m, D) of the training set and the encoded training and held-out sets (S, N, m)."""
    enc, _ = init.pca(tb.x_train.cpu(), tb.A.shape[-1])
    enc = enc.to(tb.x_train.device)
    return enc, tb.x_train @ enc.transpose(1, 2), tb.x_eval @ enc.transpose(1, 2)


def pca_residual(tb: data.LinearGaussian) -> np.ndarray:
    """Per seed, the held-out E‖x − EᵀE x‖² of the fixed PCA encoder E: what a latent-only quantizer cannot remove.

    With the PCA encoder and decoder Eᵀ, E‖x − x̂‖² = this residual + E‖z − q‖² exactly (E has orthonormal rows).
    """
    _, _, z_eval = pca_latents(tb)
    return ((tb.x_eval.double() ** 2).sum(-1).mean(-1) - (z_eval.double() ** 2).sum(-1).mean(-1)).cpu().numpy()


def stacked_codebooks(z: torch.Tensor, K: int, inits: list[str], seed: int, options: dict[str, dict] | None = None) -> torch.Tensor:
    """One codebook per initializer and seed from encoded vectors z (S, N, m), stacked init-major: (len(inits)·S, K, m)."""
    options = options or {}
    books = [init.codebook(name, z.cpu(), K, seed=seed, **options.get(name, {})) for name in inits]
    return torch.cat(books).to(z.device)


def _label(history: pd.DataFrame, column: str, labels: list, S: int) -> pd.DataFrame:
    """Split the stacked model index into (label, seed)."""
    stacked = history.pop("seed").to_numpy()
    history.insert(0, "seed", stacked % S)
    history.insert(0, column, [labels[i] for i in stacked // S])
    return history


def nearest_error(x: torch.Tensor, codebook: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Mean squared distance from each x (S, N, m) to its nearest code (S, K, m), per leading index, in chunks."""
    total = sum(nearest(x[:, i:i + chunk], codebook)[0].double().sum(-1) for i in range(0, x.shape[1], chunk))
    return total / x.shape[1]


def start_end(history: pd.DataFrame, columns: dict[str, str], steps: int | None, by: list[str]) -> pd.DataFrame:
    """One row per group and seed: each history column at step 0 and at `steps` (None: each group's last step), as
    <name>_start and <name>_end."""
    parts = []
    last = history.groupby(by, sort=False).step.transform("max") if steps is None else steps
    for at, suffix in ((0, "start"), (last, "end")):
        sub = history[history.step == at].set_index(by + ["seed"])[list(columns)]
        parts.append(sub.rename(columns={c: f"{n}_{suffix}" for c, n in columns.items()}))
    return pd.concat(parts, axis=1).reset_index()


# --- the trainings ------------------------------------------------------------------------------------------


def train_learned_encoder(
    tb: data.LinearGaussian, K: int, inits: list[str], steps: int, batch_size: int, lr: float, beta: float, seed: int,
    eval_every: int = 0, estimator: str = "ste", n_curve: int | None = None, options: dict[str, dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Learned encoder and decoder (the testbed's start: random orthonormal encoder), one model per initializer and seed.

    Codebooks are initialized from the start encoder's outputs; all initializers share that encoder. Returns
    (curve, start_end): the evaluation history, on the first `n_curve` held-out vectors per seed when given, and
    the metrics of LinearVQ.evaluate at step 0 and at the end on the whole held-out set; one row per (init, step, seed).
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


def uniform_scale_sweep(
    tb: data.LinearGaussian, K: int, ratios: list[float], steps: int, batch_size: int, lr: float, seed: int
) -> pd.DataFrame:
    """Fixed PCA encoder, codebook uniform on [−s, s]^m with s = ratio × the latent's RMS std; start and end of training.

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


def fixed_encoder_check(
    tb: data.LinearGaussian, K: int, runs: list[tuple[str, float]], steps: int, batch_size: int, lr: float, seed: int
) -> pd.DataFrame:
    """Train the fixed-PCA-encoder LinearVQ (uniform start) once per (estimator, β) and compare final codebooks.

    Returns per run the largest absolute difference of its final codebook from the first run's and from
    :func:`vqlib.train.train_codebook`'s (the codebook-loss-only trainer the codebook study uses).
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
    return pd.DataFrame({
        "estimator": [e for e, _ in runs],
        "beta": [b for _, b in runs],
        "max_diff_first": [float((b - books[0]).abs().max()) for b in books],
        "max_diff_codebook_only": [float((b - shortcut).abs().max()) for b in books],
    })


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
    check_int("restarts", restarts, 1)
    per_seed, curves = [], []
    for spectrum, tb in testbeds.items():
        S = tb.x_train.shape[0]
        enc, z_train, z_eval = pca_latents(tb)
        z_val = None if tb.x_val is None else tb.x_val @ enc.transpose(1, 2)  # the converging regimes' stop rule reads it
        for K in K_list:
            check_int("K", K, 1, z_train.shape[1])
            km_books, km_err = init.kmeans_restarts(z_train.cpu(), K, restarts, kmeans_iters, seed + 2)
            best = km_books[km_err.argmin(0), torch.arange(S)].to(z_train.device)
            best_dist = nearest_error(z_eval, best).cpu().numpy()
            books = torch.cat([km_books[0].to(z_train.device) if name == "kmeans" else init.codebook(name, z_train, K, seed=seed + 2)
                               for name in inits])
            plain = [r for r in regimes if not rescale(r).converge]  # trained together; each converging regime alone
            runs = [codebook_training.train_codebooks(z_train, z_eval, books, plain, steps, batch_size, seed + 3, eval_every, n_curve)] if plain else []
            runs += [codebook_training.train_codebooks(z_train, z_eval, books, [r], rescale(r, steps).steps, batch_size, seed + 3, eval_every,
                                                       n_curve, z_val, steps) for r in regimes if r not in plain]
            hist = pd.concat(runs, ignore_index=True)
            hist.insert(2, "init", [inits[b // S] for b in hist.book])
            hist.insert(3, "seed", hist.pop("book") % S)
            hist.insert(0, "K", K)
            hist.insert(0, "spectrum", spectrum)
            full = hist[~hist.curve] if hist.curve.any() else hist
            curve = hist[hist.curve] if hist.curve.any() else hist
            cols = {"latent_distortion": "dist", "dead_codes": "dead", "dead_per_batch": "batch"}
            frame = start_end(full, cols, None, ["spectrum", "K", "regime", "init"])
            if "met_rule" in full.columns:  # converging regimes: each codebook's stop step and whether its rule met
                ends = full.loc[full.groupby(["regime", "init", "seed"]).step.idxmax(), ["regime", "init", "seed", "stop_step", "met_rule"]]
                frame = frame.merge(ends, on=["regime", "init", "seed"], how="left")
            frame["bound"] = latent_bound(tb, K)
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
