"""The real-data study (book/realdata.md): the nonlinear VQ-VAE (vqlib.realdata) on photo patches and digits.

Tasks: one per training regime (every method, and STE from every codebook start, at K; a converging regime stops each
slice on its own and adds the columns stop_step and met_rule), one per K of the rate
curve (the curve's methods in the curve regime, LBG on raw pixels, the Gaussian D(R)), and one for the digits.
At K, when the curve regime is a regime of the chapter that runs every curve method, the curve task trains
nothing: the chapter takes those rows from the regime's task (the same runs, as the chapter always did).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from vqlib import data, init, metrics, rd, regimes
from vqlib.checks import check_int
from vqlib.realdata import reconstruct_blocks, slice_table, train_study, validation_size

PARAMS = ("seeds", "seed", "block", "n_eval", "n_eval_digits", "K", "K_list", "hidden", "m", "activation", "beta", "batch_size",
          "restart_window", "real_methods", "inits", "regime_names", "curve_methods", "curve_regime", "digits_methods", "lbg_iters",
          "lbg_vectors", "init_vectors", "usage_batch")
#: Columns that move with the last bits: code counts are integers decided by argmin near-ties; a converging regime's stop
#: step and whether the rule was met compare a tolerance with a validation error's last bits.
SPREAD = ("dead_codes", "usage", "usage_batch", "perplexity", "entropy_bits", "stop_step", "met_rule")
#: Timings: machine-local.
UNVERIFIED = ("seconds_per_step", "cpu_seconds_per_step", "cpu_seconds", "wall_seconds")
#: The arguments of vqlib.realdata.train_study that every run shares (chapter parameters of the same names).
TRAIN = ("hidden", "m", "beta", "batch_size", "seed", "restart_window", "activation", "usage_batch", "init_vectors")
#: The crop of the first photograph that the reconstruction figure shows: first row, first column, height, width.
CROP = (200, 300, 96, 128)


def tasks(p: dict) -> list[dict]:
    """One task per regime, one per K of the rate curve, one for the digits (JSON-able dicts)."""
    train = {k: p[k] for k in TRAIN}
    photo = {"dataset": "patches", "seeds": p["seeds"], "seed": p["seed"], "block": p["block"], "n_eval": p["n_eval"]}
    recon = p["curve_regime"] if p["curve_regime"] in p["regime_names"] else p["regime_names"][0]
    out = [{**photo, **train, "part": "regime", "regime": r, "K": p["K"], "methods": list(p["real_methods"]), "inits": list(p["inits"]),
            "recon": r == recon} for r in p["regime_names"]]
    covered = p["curve_regime"] in p["regime_names"] and set(p["curve_methods"]) <= set(
        slice_table(list(p["real_methods"]), list(p["inits"]), regimes.get(p["curve_regime"]), 1)[0].variant)
    out += [{**photo, **train, "part": "curve", "regime": p["curve_regime"], "K": k, "lbg_iters": p["lbg_iters"],
             "lbg_vectors": p["lbg_vectors"], "methods": [] if k == p["K"] and covered else list(p["curve_methods"])}
            for k in p["K_list"]]
    out.append({"dataset": "digits", "seeds": p["seeds"], "seed": p["seed"], "n_eval": p["n_eval_digits"], **train, "part": "digits",
                "regime": p["curve_regime"], "K": p["K"], "methods": list(p["digits_methods"])})
    return out


def load_data(t: dict) -> data.RealImages:
    """The task's data set: the photo patches or the digits, split afresh per seed."""
    if t["dataset"] == "digits":
        return data.digits(t["seeds"], n_eval=t["n_eval"], seed=t["seed"])
    return data.patches(t["seeds"], t["block"], n_eval=t["n_eval"], seed=t["seed"])


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """Tables final and initial (one row per slice; LBG's rows in final), bound, sizes, runs, dropped and recon of one task."""
    tic, cpu_tic = time.perf_counter(), time.process_time()
    x = load_data(t)
    tags = {"part": t["part"], "dataset": t["dataset"], "regime": t["regime"], "K": t["K"]}
    final, initial, recon = [], [], reconstruction_table(None, x, "", 0)
    dropped = pd.DataFrame({c: pd.Series(dtype=str) for c in ("regime", "method", "why")})
    run = None
    if t["methods"]:
        run = train_study(x, t["K"], t["methods"], regimes.get(t["regime"]), t.get("inits", []), **{k: t[k] for k in TRAIN})
        final.append(run.final.assign(**tags))
        initial.append(run.initial.assign(**tags))
        dropped = pd.DataFrame({"regime": t["regime"], "method": list(run.dropped), "why": list(run.dropped.values())}, columns=dropped.columns)
        if t.get("recon"):
            recon = reconstruction_table(run, x, t["regime"], t["block"])
    if t["part"] == "curve":
        final.append(lbg(x, t["K"], t["lbg_iters"], t["seed"], t["usage_batch"], t["lbg_vectors"]).assign(**tags))
    bound = bound_table(x, t["K"]).assign(dataset=t["dataset"])
    sizes = pd.DataFrame([{"dataset": t["dataset"], "pixels": x.pixels, "pool": x.pool.shape[0], "n_train": x.x_train.shape[1],
                           "n_eval": x.x_eval.shape[1], "n_val": validation_size(x.x_train.shape[1], t["batch_size"])}])
    runs = pd.DataFrame([{**tags, "slices": len(run.slices) if run else 0, "seconds_per_step": run.seconds_per_step if run else np.nan,
                          "cpu_seconds_per_step": run.cpu_seconds_per_step if run else np.nan,
                          "cpu_seconds": time.process_time() - cpu_tic, "wall_seconds": time.perf_counter() - tic}])
    empty = pd.DataFrame({c: pd.Series(dtype=str) for c in ("variant", "part")})
    return {"final": pd.concat(final, ignore_index=True) if final else empty, "initial": pd.concat(initial, ignore_index=True) if initial else empty,
            "bound": bound, "sizes": sizes, "runs": runs, "dropped": dropped, "recon": recon}


def gaussian_bound(images: data.RealImages, K: int) -> np.ndarray:
    """Shannon's D(R) (squared error per vector) of a Gaussian with each seed's training covariance, at log2 K bits: (S,).

    For a source of that covariance the Gaussian is the hardest to compress, so this is an upper bound on the
    data's own D(R): a quantizer may fall below it. Eigenvalues below 1e-12 of the largest are floored.
    """
    x = images.x_train.double()
    xc = x - x.mean(1, keepdim=True)
    evals = torch.linalg.eigvalsh(xc.transpose(1, 2) @ xc / (x.shape[1] - 1))
    evals = evals.clamp_min(1e-12 * evals.max(-1, keepdim=True).values)
    return np.array([rd.gaussian_dr(e.numpy(), rd.bits(K)) for e in evals])


def bound_table(images: data.RealImages, K: int) -> pd.DataFrame:
    """Per seed: K, dr_bound (the Gaussian D(R) per vector of its training data) and psnr_bound_db (the PSNR it allows)."""
    dr = gaussian_bound(images, int(K))
    psnr = metrics.psnr_db(torch.tensor(dr / images.pixels)).numpy()
    return pd.DataFrame({"K": int(K), "seed": range(len(dr)), "dr_bound": dr, "psnr_bound_db": psnr})


@torch.no_grad()
def lbg(images: data.RealImages, K: int, iters: int = 10, seed: int = 0, usage_batch: int = 256, n_fit: int | None = None) -> pd.DataFrame:
    """The classic image-coding VQ (Linde, Buzo and Gray 1980): Lloyd iterations on the raw pixel vectors.

    Fitted on the first `n_fit` training vectors of each seed (default all), started from K of them drawn at
    random, `iters` iterations (a fixed number, so each seed's run is its own); held-out metrics as
    :func:`vqlib.realdata.evaluate`, one row per seed.
    """
    check_int("iters", iters, 1)
    x = images.x_train if n_fit is None else images.x_train[:, : check_int("n_fit", n_fit, K)]
    cb = init.lloyd(x, init.data_samples(x, K, seed + 2), iters, tol=0.0)
    S, N, D = images.x_eval.shape
    from vqlib.quantize import assign, lookup

    idx = assign(images.x_eval, cb)
    sq = ((images.x_eval - lookup(cb, idx)) ** 2).double().sum(-1)
    counts = metrics.code_counts(idx, K)
    mse = sq.mean(-1) / D
    res = {"recon_mse": mse, "psnr_db": metrics.psnr_db(mse), "sq_error": sq.mean(-1), "dead_codes": metrics.dead_codes(counts),
           "usage": metrics.usage(counts), "usage_batch": metrics.usage_per_batch(idx, K, min(usage_batch, N)),
           "perplexity": metrics.perplexity(counts), "entropy_bits": metrics.entropy_bits(counts)}
    frame = pd.DataFrame({k: v.numpy() for k, v in res.items()})
    frame.insert(0, "seed", range(S))
    frame.insert(0, "init", "data_samples")
    frame.insert(0, "method", "lbg")
    frame.insert(0, "variant", "lbg")
    return frame


def reconstruction_table(run, x: data.RealImages, regime: str, block: int) -> pd.DataFrame:
    """The crop :data:`CROP` of the first photograph and its reconstruction by every method of `run` (seed 0, the regime's
    codebook start) as a long table: regime, variant ("original" first), row, col, value (grey level). Empty without a run."""
    cols = ("regime", "variant", "row", "col", "value")
    if run is None:
        return pd.DataFrame({c: pd.Series(dtype={"regime": str, "variant": str, "value": "float32"}.get(c, "int64")) for c in cols})
    r0, c0, h, w = CROP
    crop = x.images[0, r0 : r0 + h, c0 : c0 + w]
    pick = run.slices[(run.slices.seed == 0) & (run.slices.init == regimes.get(run.regime).init)].index.to_numpy()
    recon = reconstruct_blocks(run.model, data.image_to_blocks(crop, block))
    panels = [("original", crop)] + [(run.slices.variant[i], data.blocks_to_image(recon[i], h, w, block)) for i in pick]
    rows, cols_ = np.divmod(np.arange(h * w), w)
    return pd.concat([pd.DataFrame({"regime": regime, "variant": v, "row": rows, "col": cols_, "value": img.reshape(-1).numpy()})
                      for v, img in panels], ignore_index=True)
