"""The geometry study (vqlib.studies.geometry), the chapter's exact checks (vqlib.geometry) and its readings (vqlib.analysis.geometry)."""

import numpy as np
import pandas as pd
import pytest
import torch

from vqlib import claims, geometry
from vqlib.analysis import geometry as analysis
from vqlib.report import VERDICTS
from vqlib.studies import geometry as study

NAMES = ["ste", "projection", "rotation_trick"]
TINY = {"seeds": 3, "seed": 0, "D": 16, "m": 4, "K": 8, "sigma": 0.1, "lambda_1": 4.0, "decay": 0.5, "n_train": 400,
        "n_eval": 300, "K_2d": 4, "kmeans_iters": 5, "steps": 20, "batch_size": 32, "lr": 0.01, "beta": 0.25,
        "snapshot_every": 5, "grid_size": 5, "estimators": NAMES}


@pytest.fixture(scope="module")
def tables():
    torch.set_num_threads(1)
    (task,) = study.tasks(TINY)
    assert set(task) == set(study.PARAMS)
    return study.compute(task, torch.device("cpu"))


def test_tables_have_the_rows_the_chapter_reads(tables):
    S, K2 = TINY["seeds"], TINY["K_2d"]
    assert list(tables) == ["kept", "kept_hist", "align", "final", "trajectory", "points", "field", "codebook", "constants"]
    assert len(tables["kept"]) == 2 * S and len(tables["align"]) == 2 * S * len(NAMES)
    final = tables["final"]
    assert len(final) == S * len(NAMES) and (final.step == TINY["steps"]).all()
    assert {"dead_codes", "usage_pct", "sq_error", "gap_db", "z_norm"} <= set(final.columns)
    assert len(tables["trajectory"]) == len(NAMES) * (TINY["steps"] // TINY["snapshot_every"] + 1) * K2
    assert len(tables["field"]) == len(NAMES) * TINY["grid_size"] ** 2 and len(tables["codebook"]) == K2
    for frame in tables.values():  # tidy tables: plain numeric, str or bool columns
        assert all(d.kind in "biufO" for d in frame.dtypes)


def test_tied_start_passes_the_whole_gradient_and_ste_always_progresses(tables):
    """W = Eᵀ orthonormal: g = 2(q − z) lies on the z→q line, so κ = 1; and STE moves every misassigned point towards its better code."""
    tied = tables["kept"][tables["kept"].theory == 1.0]
    np.testing.assert_allclose(tied.kappa, 1.0, atol=1e-5)
    assert tables["constants"].tied_dev.iloc[0] < 1e-4
    hist = tables["kept_hist"]
    for _, h in hist.groupby("setting"):  # densities integrate to 1 over [0, 1]
        assert float((h.density * (h.right - h.left)).sum()) == pytest.approx(1.0)
    ste = tables["align"][tables["align"].estimator == "ste"]
    np.testing.assert_array_equal(ste.progress_share, 1.0)
    start = tables["trajectory"][tables["trajectory"].step == 0]  # the seeds' uniform codebook on [-1/K, 1/K]²
    assert start[["z1", "z2"]].abs().to_numpy().max() <= 1 / TINY["K_2d"]
    f = tables["field"]
    np.testing.assert_allclose(np.hypot(f.dz1, f.dz2), 1.0, atol=1e-9)


def test_exact_checks_match_their_closed_forms():
    gen = torch.Generator().manual_seed(0)
    jac = geometry.autograd_check(NAMES, [2, 4], 8, gen)
    assert len(jac) == 6 and jac.max_abs_error.max() < 1e-12 and jac.cross_terms.max() == 0
    c = geometry.matrix_checks(200, 4, gen)
    assert c["proj_ranks"] == [1] and c["proj_det"] < 1e-12 and c["rot_ranks"] == [4]
    assert c["rot_det_min"] == pytest.approx(1.0) and c["rot_det_max"] == pytest.approx(1.0)
    frame, values = geometry.isotropic_kept([2, 8], 3, 4000, gen)
    assert frame.groupby("m").kappa.mean().to_numpy() == pytest.approx([1 / 2, 1 / 8], abs=0.02)
    assert values[8].shape == (3 * 4000,)
    limits, at_q = geometry.limits(4, [1e-2, 1e-4, 0.0], gen)
    np.testing.assert_allclose(limits.proj_to_I[:2], np.sqrt(3))  # uuᵀ stays √(m − 1) from I however close z comes
    assert at_q["grad_at_q_proj"] == 0.0 and at_q["grad_at_q_rot"] < 1e-12


def test_chapter_readings_run_on_the_tiny_tables(tables):
    c = geometry.matrix_checks(100, 4, torch.Generator().manual_seed(1))
    assert "geo_proj_ranks" in analysis.projection_readings(c, 4, 100)
    assert claims.evaluate(claims.get("geometry-rotation-is-projection"), analysis.projection_frame(c)).verdict == "does not hold"
    values = analysis.align_readings(tables["align"], NAMES)
    out = claims.evaluate(claims.get("geometry-2d-alignment"), analysis.align_frame(tables["align"]))
    assert out.verdict in VERDICTS and values["geo_angle_min"] <= values["geo_angle_max"] <= 90
    shown, numbers = analysis.align_table(tables["align"], NAMES, TINY["steps"])
    assert list(shown.state.unique()) == ["untrained, random W", f"after {TINY['steps']} steps"]
    iso, iso_values = geometry.isotropic_kept([2, 4], TINY["seeds"], 100, torch.Generator().manual_seed(2))
    shown, numbers = analysis.kept_table(pd.concat([iso, tables["kept"]], ignore_index=True))
    assert len(shown) == 4 and numbers.theory.iloc[0] == 0.5
    values = analysis.dynamics_values(tables["final"], NAMES, tables["constants"], TINY["K_2d"])
    assert values["geo_cb_scale"] == 1 / TINY["K_2d"] and values["geo_lambda0"] > 0
    for fig in (analysis.kept_figure(iso_values, tables["kept_hist"], [2, 4], 4),
                analysis.fields_figure(tables["field"], tables["codebook"], 1.0, NAMES, TINY["grid_size"]),
                analysis.trajectories_figure(tables["trajectory"], tables["points"], NAMES)):
        assert fig is not None
