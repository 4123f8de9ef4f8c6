"""The geometry chapter (book/geometry.md): the kept share κ of the testbed model's reconstruction gradient, and the 2-D
picture (update fields over the Voronoi cells, their face angles and progress before and after training, the training
dynamics with the codebooks' trajectories). One task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from vqlib import data, geometry, init, rd
from vqlib.estimators import EPS
from vqlib.studies.common import testbed_data, train_estimators
from vqlib.train import CodebookRecorder

PARAMS = ("seeds", "seed", "D", "m", "K", "sigma", "lambda_1", "decay", "n_train", "n_eval", "K_2d", "kmeans_iters", "steps",
          "batch_size", "lr", "beta", "snapshot_every", "grid_size", "estimators")
#: Columns that move with the last bits: dead codes are integers decided by argmin near-ties.
SPREAD = ("dead_codes", "usage", "usage_pct")
#: One seed's code trajectories and encoded points, drawn only in a figure: under another instruction set a near-tie
#: moves them (the rotation trick's dynamics); their statistics over seeds (the align table) are verified instead.
UNVERIFIED = ("trajectory.z1", "trajectory.z2", "points.z1", "points.z2")
#: The two states of the testbed model in which κ is measured (setting labels, as the chapter's table shows them).
TIED = "testbed model, W = Eᵀ orthonormal (start of training)"
GENERIC = "testbed model, orthonormal E, independent random W"
#: Histogram bins of κ (the chapter's figure).
KAPPA_BINS = np.linspace(0, 1, 41)
#: Points of seed 0 drawn under each trained encoder in the trajectory figure.
N_POINTS = 2000


def tasks(p: dict) -> list[dict]:
    """One task: the κ measurements and the 2-D study share nothing heavy enough to split."""
    return [dict(p)]


def model_kept(t: dict, device: torch.device) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """κ of the seeds' estimator on the testbed model's reconstruction gradient, tied and generic decoder.

    Returns (per-seed means: setting, m, theory, seed, kappa; histogram: setting, left, right, density; max |κ − 1| tied).
    """
    S, D, m, K, seed = t["seeds"], t["D"], t["m"], t["K"], t["seed"]
    tb = testbed_data(S, D, m, t["sigma"], t["lambda_1"], t["decay"], t["n_train"], t["n_eval"], seed, device)
    E_gen, W_gen = geometry.random_autoencoder(S, D, m, seed + 1)
    E_tied = data.random_orthonormal(S, D, m, torch.Generator().manual_seed(seed + 2)).transpose(1, 2)
    rows, hists, tied_dev = [], [], float("nan")
    for label, E, W, theory in [(TIED, E_tied, E_tied.transpose(1, 2), 1.0), (GENERIC, E_gen, W_gen, float("nan"))]:
        C = init.data_samples(tb.x_train @ E.transpose(1, 2), K, seed=seed + 3)
        z = tb.x_eval @ E.transpose(1, 2)
        kappa = (geometry.reconstruction_updates("projection", z, tb.x_eval, W, C).pow(2).sum(-1)
                 / geometry.reconstruction_updates("ste", z, tb.x_eval, W, C).pow(2).sum(-1))  # STE passes g whole
        rows.append(pd.DataFrame({"setting": label, "m": m, "theory": theory, "seed": range(S), "kappa": kappa.mean(-1).double().numpy()}))
        flat = kappa.flatten().double().numpy()
        density, _ = np.histogram(flat, bins=KAPPA_BINS, density=True)
        hists.append(pd.DataFrame({"setting": label, "left": KAPPA_BINS[:-1], "right": KAPPA_BINS[1:], "density": density}))
        if label == TIED:
            tied_dev = float(np.abs(flat - 1).max())
    return pd.concat(rows, ignore_index=True), pd.concat(hists, ignore_index=True), tied_dev


def field(tb2, E2, W2, C2, estimators: list[str], grid_size: int) -> tuple[pd.DataFrame, float]:
    """Unit descent directions of each estimator on a square grid over seed 0's encoded data (holding 99 % of it)."""
    z0 = (tb2.x_eval[0] @ E2[0].T).double()
    half = float(torch.quantile(z0.abs().max(-1).values, 0.99))
    axis = torch.linspace(-half, half, grid_size, dtype=torch.float64)
    zg = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1).reshape(-1, 2)
    xg = zg @ torch.linalg.inv(E2[0].double()).T  # the data point each grid point encodes
    frames = []
    for name in estimators:
        dz = geometry.reconstruction_updates(name, zg, xg, W2[0].double(), C2[0].double())
        dz = dz / dz.norm(dim=-1, keepdim=True).clamp_min(EPS)
        frames.append(pd.DataFrame({"estimator": name, "z1": zg[:, 0].numpy(), "z2": zg[:, 1].numpy(),
                                    "dz1": dz[:, 0].numpy(), "dz2": dz[:, 1].numpy()}))
    return pd.concat(frames, ignore_index=True), half


def compute(t: dict, device: torch.device) -> dict[str, pd.DataFrame]:
    """kept, kept_hist, align (state × estimator × seed), final (2-D training end state), trajectory, points, field,
    codebook (seed 0's k-means codes) and constants (one row)."""
    kept, kept_hist, tied_dev = model_kept(t, device)
    S, seed, K2, names, steps = t["seeds"], t["seed"], t["K_2d"], t["estimators"], t["steps"]
    tb2 = testbed_data(S, 2, 2, t["sigma"], t["lambda_1"], t["decay"], t["n_train"], t["n_eval"], seed, device)
    E2, W2 = geometry.random_autoencoder(S, 2, 2, seed + 4)
    C2 = init.kmeans(tb2.x_train @ E2.transpose(1, 2), K2, t["kmeans_iters"], seed=seed + 5)
    generic = geometry.update_statistics(names, tb2.x_eval, E2, W2, C2)
    rec = CodebookRecorder(t["snapshot_every"])
    hist = train_estimators(tb2, K2, names, steps, t["batch_size"], t["lr"], t["beta"], seed, 0, "uniform", rec)
    trained = {part: {n: rec.last[n][part] for n in names} for part in ("encoder", "decoder", "codebook")}
    after = geometry.update_statistics(names, tb2.x_eval, trained["encoder"], trained["decoder"], trained["codebook"])
    align = pd.concat([generic.assign(state="generic"), after.assign(state="trained")], ignore_index=True)

    final = hist[hist.step == steps].copy()
    final["gap_db"] = rd.gap_db(final.sq_error.to_numpy(), rd.gaussian_dr(tb2.covariance_eigenvalues, rd.bits(K2)))
    final["usage_pct"] = 100 * final.usage
    z_scale = {n: (tb2.x_eval @ trained["encoder"][n].transpose(1, 2)).norm(dim=-1).mean(-1).double().numpy() for n in names}
    final["z_norm"] = [z_scale[n][sd] for n, sd in zip(final.method, final.seed)]

    traj, points = [], []
    for n in names:
        tr = rec.trajectory(n)[:, 0]  # (T, K, 2), seed 0
        T = tr.shape[0]
        traj.append(pd.DataFrame({"estimator": n, "step": np.repeat(rec.steps[n], K2), "code": np.tile(np.arange(K2), T),
                                  "z1": tr[..., 0].flatten().numpy(), "z2": tr[..., 1].flatten().numpy()}))
        zf = (tb2.x_eval[0] @ trained["encoder"][n][0].T).numpy()[:N_POINTS]
        points.append(pd.DataFrame({"estimator": n, "z1": zf[:, 0], "z2": zf[:, 1]}))
    fields, half = field(tb2, E2, W2, C2, names, t["grid_size"])
    x_norm = float(tb2.x_eval.norm(dim=-1).mean())  # = mean ‖z‖ at the start: the encoder starts orthonormal
    constants = pd.DataFrame({"x_norm": [x_norm], "lambda0": [float(rec.trajectory(names[0])[0].norm(dim=-1).mean()) / x_norm],
                              "window_half": [half], "tied_dev": [tied_dev]})
    codebook = pd.DataFrame({"code": range(K2), "z1": C2[0][:, 0].numpy(), "z2": C2[0][:, 1].numpy()})
    return {"kept": kept, "kept_hist": kept_hist, "align": align, "final": final, "trajectory": pd.concat(traj, ignore_index=True),
            "points": pd.concat(points, ignore_index=True), "field": fields, "codebook": codebook, "constants": constants}
