"""The geometry chapter's tables, figures and readings (book/geometry.md): from the geometry study's tables and the
chapter's exact checks (vqlib.geometry)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vqlib import plotting, stats
from vqlib.estimators import LABELS
from vqlib.geometry import kept_fraction_law

#: The 2-D states in which the update statistics are measured: study label -> the table's label (steps filled in).
STATES = {"generic": "untrained, random W", "trained": "after {steps} steps"}
ALIGN_COLUMNS = {"face_angle": "face angle Φ (°)", "progress_share": "towards better code Π", "progress": "mean cos π",
                 "misassigned": "share misassigned"}


def jacobian_values(jac: pd.DataFrame, n_check: int, dims: list[int]) -> dict:
    """Glued readings of the autograd check (vqlib.geometry.autograd_check)."""
    return {"geo_n_check": n_check, "geo_m_list": "{" + ", ".join(map(str, dims)) + "}",
            "geo_jac_err": f"{jac.max_abs_error.max():.1e}", "geo_jac_cross": f"{jac.cross_terms.max():.1e}"}


def projection_frame(c: dict) -> pd.DataFrame:
    """The frame the registry's claim geometry-rotation-is-projection is judged on (an exact check, one row): the largest
    |PᵀP − I| of the seeds' uuᵀ over the sampled pairs, and whether det P > 0 on every pair (a rotation: 0 and 1)."""
    return pd.DataFrame({"method": ["uuᵀ"], "seed": [0], "orth_error": [float(c["proj_orth"])],
                         "det_positive": [float(bool(c["proj_det_positive"]))]})


def align_frame(align: pd.DataFrame) -> pd.DataFrame:
    """The frame of geometry-2d-alignment: the face angle Φ per estimator (as method), state and seed."""
    return align.assign(method=align.estimator)


def projection_readings(c: dict, m: int, n: int) -> dict:
    """Glued values from vqlib.geometry.matrix_checks (is the seeds' uuᵀ a rotation? judged by vqlib.claims)."""
    ranks = ", ".join(map(str, c["proj_ranks"]))
    det = stats.bound_text(c["proj_det"], floor=1e-12)
    values = {"geo_proj_ranks": ranks, "geo_proj_idem": stats.bound_text(c["proj_idem"], floor=1e-12), "geo_proj_det": det,
              "geo_rot_orth": stats.bound_text(c["rot_orth"], floor=1e-12), "geo_rot_det": f"[{c['rot_det_min']:.6f}, {c['rot_det_max']:.6f}]",
              "geo_rot_ranks": ", ".join(map(str, c["rot_ranks"])), "geo_m": m, "geo_n_samples": n,
              "geo_proj_orth": f"{c['proj_orth']:.3g}"}
    return values


def kept_table(kept: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shown, numbers): E κ in theory and measured (mean [95 % CI] over seeds) per setting, in the frame's order."""
    groups = list(kept.groupby(["setting", "m"], sort=False))
    theory = [float(g.theory.iloc[0]) for _, g in groups]
    shown = pd.DataFrame({"setting": [s for (s, _), _ in groups], "m": [mm for (_, mm), _ in groups],
                          "theory E κ": [stats.sig(t) if np.isfinite(t) else "–" for t in theory],
                          "measured E κ": [stats.mean_ci(g.kappa.to_numpy()).format() for _, g in groups]})
    numbers = pd.DataFrame({"setting": shown.setting, "m": shown.m, "theory": theory,
                            "mean": [float(np.mean(g.kappa.to_numpy())) for _, g in groups]})
    return shown, numbers


def kept_figure(isotropic: dict, kept_hist: pd.DataFrame, dims: list[int], m: int):
    """Histograms of κ for isotropic g per m against the Beta law; in the panel of m the testbed model with a random decoder."""
    fig, axes = plt.subplots(1, len(dims), figsize=(8.4, 2.9), sharey=False, squeeze=False)
    axes = axes[0]
    bins = np.linspace(0, 1, 41)
    xs = np.linspace(0.0025, 0.9975, 400)
    generic = kept_hist[kept_hist.setting == kept_hist.setting.iloc[-1]]
    for ax, mm in zip(axes, dims):
        ax.hist(isotropic[mm], bins=bins, density=True, color="#d62728", alpha=0.45, label="isotropic g (measured)")
        ax.plot(xs, kept_fraction_law(mm).pdf(xs), color="k", lw=1.2, label="Beta(1/2, (m−1)/2)")
        if mm == m:
            ax.stairs(generic.density.to_numpy(), np.r_[generic.left.to_numpy(), generic.right.iloc[-1]], color="#1f77b4", lw=1.5,
                      label="testbed model, random W")
        ax.axvline(1 / mm, color="k", ls=":", lw=1)
        ax.set(xlabel="kept share κ of ‖g‖²", ylabel="density", title=f"m = {mm}", ylim=(0, 6))
    axes[0].legend(fontsize=6.5, loc="upper center")
    if m in dims:
        axes[dims.index(m)].legend(fontsize=6.5, loc="upper center")
    return fig


def limit_table(limits: pd.DataFrame) -> pd.DataFrame:
    """The Jacobians' distances as z approaches q (vqlib.geometry.limits), as printed."""
    return pd.DataFrame({
        "‖z − q‖": [stats.sig(t, 1) if t > 0 else "0 (z = q)" for t in limits.t],
        "seeds': ‖uuᵀ − I‖": [stats.sig(v) for v in limits.proj_to_I],
        "seeds': ‖uuᵀ(d₁) − uuᵀ(d₂)‖": [stats.sig(v) for v in limits.proj_d1_d2],
        "rotation trick: ‖λR − I‖": [stats.sig(v) for v in limits.rot_to_I],
        "‖λR − I‖ / ‖z − q‖": [stats.sig(v) if np.isfinite(v) else "–" for v in limits.rot_to_I_over_t],
    })


def limit_values(at_q: dict, m: int) -> dict:
    """Glued readings of the gradients at z = q and of √(m − 1)."""
    return {"geo_grad_at_q_proj": at_q["grad_at_q_proj"], "geo_grad_at_q_rot": f"{at_q['grad_at_q_rot']:.1e}", "geo_sqrt_m1": math.sqrt(m - 1)}


def fields_figure(field: pd.DataFrame, codebook: pd.DataFrame, half: float, estimators: list[str], grid_size: int):
    """Each estimator's unit update field over the Voronoi cells of seed 0's codes (crosses)."""
    fine = np.linspace(-half, half, 300)
    zf = np.stack(np.meshgrid(fine, fine, indexing="xy"), -1).reshape(-1, 2)
    C = codebook[["z1", "z2"]].to_numpy(dtype=np.float64)
    cells = ((zf[:, None, :] - C[None]) ** 2).sum(-1).argmin(-1).reshape(300, 300)
    fig, axes = plt.subplots(1, len(estimators), figsize=(8.6, 3.2), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], estimators):
        f = field[field.estimator == name]
        ax.imshow(cells, origin="lower", extent=(-half, half, -half, half), cmap="Pastel1", alpha=0.6, aspect="equal",
                  interpolation="nearest")
        ax.quiver(f.z1, f.z2, f.dz1, f.dz2, color=plotting.COLORS[name], scale=grid_size * 1.3, width=0.006)
        ax.scatter(C[:, 0], C[:, 1], marker="X", s=70, color="k", zorder=3)
        ax.set(xlabel="z₁", title=LABELS[name], xlim=(-half, half), ylim=(-half, half))
        ax.title.set_fontsize(8.5)
        ax.grid(False)
    axes[0, 0].set_ylabel("z₂")
    return fig


def align_table(align: pd.DataFrame, estimators: list[str], steps: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shown, numbers): face angle Φ and progress Π per estimator, untrained then trained; mean [95 % CI] over seeds."""
    parts = []
    for state, label in STATES.items():
        shown, numbers = stats.summarize(align[align.state == state], "estimator", list(ALIGN_COLUMNS), order=estimators)
        shown.insert(1, "state", label.format(steps=steps))
        numbers.insert(1, "state", label.format(steps=steps))
        parts.append((shown, numbers))
    shown = pd.concat([p[0] for p in parts], ignore_index=True)
    numbers = pd.concat([p[1] for p in parts], ignore_index=True)
    shown["estimator"] = [LABELS[e] for e in shown.estimator]
    return shown.rename(columns=ALIGN_COLUMNS), numbers


def align_readings(align: pd.DataFrame, estimators: list[str]) -> dict:
    """Glued values: the face angles per state and estimator and the paired difference seeds' − STE (the claim
    geometry-2d-alignment is judged by vqlib.claims against a random direction's 45°)."""
    values, diffs = {}, {}
    for state in STATES:
        frame = align[align.state == state]
        a = frame[frame.estimator == "ste"].sort_values("seed").face_angle.to_numpy()
        b = frame[frame.estimator == "projection"].sort_values("seed").face_angle.to_numpy()
        diffs[state] = stats.paired(a, b).difference
        values[f"geo_angle_diff_{state}"] = diffs[state].format()
        for name in estimators:
            values[f"geo_angle_{state}_{name}"] = stats.mean_ci(frame[frame.estimator == name].face_angle).format()
            values[f"geo_pi_{state}_{name}"] = stats.mean_ci(frame[frame.estimator == name].progress_share).format()
    means = align.groupby(["state", "estimator"]).face_angle.mean()
    values |= {"geo_angle_min": float(means.min()), "geo_angle_max": float(means.max())}
    return values


def trajectories_figure(trajectory: pd.DataFrame, points: pd.DataFrame, estimators: list[str]):
    """The codes of seed 0 during 2-D training per estimator, over held-out data encoded by its final encoder."""
    fig, axes = plt.subplots(1, len(estimators), figsize=(8.6, 3.1), sharex=True, sharey=True, squeeze=False)
    for ax, name in zip(axes[0], estimators):
        tr, pts = trajectory[trajectory.estimator == name], points[points.estimator == name]
        ax.scatter(pts.z1, pts.z2, s=1, color="#bbbbbb", alpha=0.5)
        for _, code in tr.groupby("code"):
            ax.plot(code.z1, code.z2, color=plotting.COLORS[name], lw=1.1)
        start, end = tr[tr.step == tr.step.min()], tr[tr.step == tr.step.max()]
        ax.scatter(start.z1, start.z2, marker="o", s=18, color="k", zorder=3, label="start")
        ax.scatter(end.z1, end.z2, marker="X", s=55, color=plotting.COLORS[name], edgecolor="k", zorder=3, label="end")
        ax.set(xlabel="z₁", title=LABELS[name])
        ax.title.set_fontsize(8.5)
    axes[0, 0].set_ylabel("z₂")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    return fig


def dynamics_table(final: pd.DataFrame, estimators: list[str], K: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shown, numbers): the end state of 2-D training per estimator, mean [95 % CI] over seeds."""
    shown, numbers = stats.summarize(final, "method", ["dead_codes", "usage_pct", "sq_error", "gap_db", "z_norm"], order=estimators)
    shown["method"] = [LABELS[e] for e in shown.method]
    return shown.rename(columns={"method": "estimator", "dead_codes": f"dead codes (of {K})", "usage_pct": "code usage (%)",
                                 "sq_error": "squared error per vector", "gap_db": "gap to D(R) (dB)",
                                 "z_norm": "mean ‖z‖ at the end"}), numbers


def dynamics_values(final: pd.DataFrame, estimators: list[str], constants: pd.DataFrame, K: int) -> dict:
    """Glued readings of the 2-D training: dead codes, errors against STE, the encoders' scale and the start's λ."""
    per = {n: final[final.method == n].sort_values("seed") for n in estimators}
    dead_max = int(final.dead_codes.max())
    values = {"geo_dead_sentence": "no estimator leaves a code dead at the end, in any seed" if dead_max == 0 else
              f"some codes end dead (at most {dead_max} in one run; means in the table)"}
    values |= {f"geo_sq_{n}": stats.mean_ci(per[n].sq_error).format() for n in estimators}
    values["geo_rot_vs_ste"] = stats.paired(per["ste"].sq_error, per["rotation_trick"].sq_error).relative.scaled(100).format()
    values["geo_proj_vs_ste"] = stats.paired(per["ste"].sq_error, per["projection"].sq_error).relative.scaled(100).format()
    values |= {f"geo_znorm_{n}": stats.mean_ci(per[n].z_norm).format() for n in estimators}
    c = constants.iloc[0]
    return values | {"geo_znorm_start": float(c.x_norm), "geo_cb_scale": 1 / K, "geo_lambda0": float(c.lambda0)}
