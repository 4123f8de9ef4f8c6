"""The results store: content keys, atomic writes, run-local stores, and the verifier's failures."""

from __future__ import annotations

import json
import types

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from vqlib import results, store
from vqlib.runner import compute as compute_mod
from vqlib.runner import verify

CALLS: list[dict] = []


def _toy_compute(task, device):
    """A deterministic stand-in study: per seed, a smooth value, a chaotic count and a timing."""
    CALLS.append(task)
    rng = np.random.default_rng(task["seed"] + (task["regime"] == "b"))
    n = task["seeds"]
    return {"final": pd.DataFrame({"regime": task["regime"], "method": "ste", "seed": np.arange(n),
                                   "mse": rng.normal(1.0, 0.1, n), "dead_codes": rng.integers(0, 6, n), "seconds": rng.random(n)})}


TOY = types.SimpleNamespace(
    PARAMS=("seeds", "seed", "regimes"),
    tasks=lambda p: [{"seeds": p["seeds"], "seed": p["seed"], "regime": r} for r in p["regimes"]],
    compute=_toy_compute, SPREAD=("dead_codes",), UNVERIFIED=("seconds",),
)


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """The toy study registered as 'toy', results/ in a temporary folder."""
    real = results.study_module
    monkeypatch.setattr(results, "study_module", lambda s: TOY if s == "toy" else real(s))
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    monkeypatch.delenv(results.RUN_STORE_ENV, raising=False)
    monkeypatch.delenv(results.READONLY_ENV, raising=False)
    CALLS.clear()
    return {"seeds": 8, "seed": 0, "regimes": ["a", "b"], "unrelated": 1}


def test_load_computes_once_then_reads(toy, tmp_path):
    first = results.load("toy", toy)
    assert len(CALLS) == 2 and list(first["final"].regime.unique()) == ["a", "b"]
    again = results.load("toy", toy)
    assert len(CALLS) == 2  # read, not recomputed
    pd.testing.assert_frame_equal(first["final"], again["final"])
    folders = list((tmp_path / "results" / "toy").iterdir())
    assert len(folders) == 2 and not [f for f in folders if f.name.startswith(".")]  # no temporary folder left
    meta = json.loads((folders[0] / "meta.json").read_text())
    assert {"task", "versions", "machine", "wall_seconds", "sha256", "code"} <= set(meta)


def test_key_depends_on_what_changes_results_only(toy):
    task = TOY.tasks(results.study_params("toy", toy))[0]
    assert store.task_key("toy", task) == store.task_key("toy", dict(reversed(task.items())))  # order-free
    assert store.task_key("toy", task) != store.task_key("toy", {**task, "seeds": 9})
    assert "unrelated" not in results.study_params("toy", toy)  # a parameter the study does not read is not in its key
    code = store.code_files("vqlib.studies.testbed")
    assert {"vqlib.studies.testbed", "vqlib.studies.common", "vqlib.grid", "vqlib.train"} <= set(code)
    assert not {"vqlib.report", "vqlib.plotting", "vqlib.claims", "vqlib.results"} & set(code)  # prose and display are not inputs


def test_run_local_store_and_readonly(toy, tmp_path, monkeypatch):
    results.load("toy", {**toy, "regimes": ["a"]})
    monkeypatch.setenv(results.RUN_STORE_ENV, str(tmp_path / "run"))
    results.load("toy", toy)  # 'a' read from results/, 'b' computed into the run-local store
    assert len(list((tmp_path / "results" / "toy").iterdir())) == 1 and len(list((tmp_path / "run" / "toy").iterdir())) == 1
    monkeypatch.setenv(results.READONLY_ENV, "1")
    with pytest.raises(results.StaleResults, match="make results"):
        results.load("toy", {**toy, "seeds": 3})


def test_an_interrupted_write_leaves_nothing(toy, tmp_path):
    s = store.Store(tmp_path / "s")
    bad = {"final": pd.DataFrame({"x": [object()]})}  # not storable: the write fails half-way
    with pytest.raises((TypeError, ValueError, ArithmeticError, ImportError, OSError)):
        s.write("toy", "k", {"a": 1}, bad, 0.0)
    assert not s.has("toy", "k") and list((tmp_path / "s" / "toy").iterdir()) == []


def _stored(toy, monkeypatch):
    monkeypatch.setattr(compute_mod, "canonical_tasks", lambda only=None: [compute_mod.Task("toy", "toy", t) for t in TOY.tasks(toy)])
    results.load("toy", toy)
    return store.Store(results.RESULTS), compute_mod.canonical_tasks()


def test_longest_first_knows_a_tasks_cost_from_an_older_key_of_the_same_parameters(toy, monkeypatch, tmp_path):
    """After a code change every key is new: the last cost comes from the stored task with the same parameters."""
    s, tasks = _stored(toy, monkeypatch)
    older = s.meta("toy", tasks[0].key)["wall_seconds"]
    moved = tmp_path / "results" / "toy" / "0000older0000"
    (s.path("toy", tasks[0].key)).rename(moved)
    assert not s.has("toy", tasks[0].key)
    assert compute_mod._last_cost(tasks[0], s) == older
    assert compute_mod._last_cost(compute_mod.Task("toy", "toy", {**tasks[0].params, "seeds": 99}), s) == 0.0


def test_verify_passes_on_fresh_results_and_ignores_timings(toy, monkeypatch, capsys):
    s, tasks = _stored(toy, monkeypatch)
    assert verify.integrity(s, tasks) == []
    n, problems, redrawn = verify.reproduce(s, tasks[0])
    assert problems == [] and redrawn == 0 and n == 8 * 5  # five compared columns (seconds is never compared)


def test_verify_finds_a_moved_value_a_changed_file_and_a_stale_key(toy, monkeypatch):
    s, tasks = _stored(toy, monkeypatch)
    frame = s.read("toy", tasks[0].key)["final"]
    moved = frame.assign(mse=frame.mse * (1 + 2 * verify.RTOL))
    assert verify.compare(frame, moved, {"dead_codes"}, {"seconds"})[1]  # a smooth value beyond tolerance
    within = frame.assign(mse=frame.mse * (1 + verify.RTOL / 10), dead_codes=frame.dead_codes + 1, seconds=0.0)
    assert verify.compare(frame, within, {"dead_codes"}, {"seconds"})[1] == []  # chaotic count within the seeds' spread
    wild = frame.assign(dead_codes=frame.dead_codes + 100)
    assert verify.compare(frame, wild, {"dead_codes"}, {"seconds"})[1]  # ... but not far outside it
    moved.to_parquet(s.path("toy", tasks[0].key) / "final.parquet", index=False)
    assert any("changed since it was computed" in p for p in verify.integrity(s, tasks))
    meta_path = s.path("toy", tasks[1].key) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["task"]["seeds"] = 7  # the stored folder no longer matches its inputs
    meta_path.write_text(json.dumps(meta))
    assert any("does not match its inputs" in p for p in verify.integrity(s, tasks))


def test_sample_takes_the_cheapest_per_regime_within_budget(toy, monkeypatch):
    s, tasks = _stored(toy, monkeypatch)
    chosen, left = verify.sample(s, tasks, budget=0.0)
    assert len(chosen) == 1 and len(left) == 1  # one task always; the rest over budget are named
    chosen, left = verify.sample(s, tasks, budget=1e9)
    assert {t.params["regime"] for t in chosen} == {"a", "b"} and left == []


def test_another_machine_may_redraw_a_seed_but_not_shift_a_setting():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"method": "ste", "seed": np.arange(20), "mse": rng.normal(1.0, 0.1, 20), "dead_codes": rng.integers(0, 6, 20)})
    one = frame.copy()
    one.loc[3, "mse"] = 1.05  # seed 3 sent down another path: off by 5 %, inside the seeds' spread
    assert verify.compare(frame, one, {"dead_codes"}, set())[1]  # on the machine that made the store: a failure
    n, problems, redrawn = verify.compare(frame, one, {"dead_codes"}, set(), redraw=True)
    assert problems == [] and redrawn == 1  # elsewhere: a re-drawn seed, counted
    far = frame.assign(mse=frame.mse.where(frame.seed != 3, 3.0))
    assert verify.compare(frame, far, {"dead_codes"}, set(), redraw=True)[1]  # outside the spread: a failure
    shifted = frame.assign(mse=frame.mse * 1.15)  # every seed 15 % higher: each inside the spread, the mean beyond 2 CI half-widths
    problems = verify.compare(frame, shifted, {"dead_codes"}, set(), redraw=True)[1]
    assert any("mean of group" in p for p in problems)


def test_a_redrawn_extreme_seed_of_a_skewed_column_stays_inside_the_seeds_range():
    """A learned angle: 49 seeds near 120°, one at 14°. The normal prediction interval misses that seed, so a re-drawn
    extreme seed (14.0 → 14.5) is judged against the range the stored seeds span; 5° is below every stored seed."""
    angle = np.r_[np.full(49, 120.0) + np.linspace(-5, 5, 49), [14.0]]
    frame = pd.DataFrame({"method": "rt", "seed": np.arange(50), "angle": angle})
    low, _ = verify._prediction_band(frame, "angle", ["method"])
    normal_low = angle.mean() - sps.t.ppf(0.9995, 49) * angle.std(ddof=1) * np.sqrt(1 + 1 / 50)
    assert normal_low > 14.5 and low[0] == 14.0  # the normal interval alone would exclude the extreme stored seed
    redrawn = frame.assign(angle=frame.angle.where(frame.seed != 49, 14.5))
    n, problems, count = verify.compare(frame, redrawn, set(), set(), redraw=True)
    assert problems == [] and count == 1
    beyond = frame.assign(angle=frame.angle.where(frame.seed != 49, 5.0))
    assert verify.compare(frame, beyond, set(), set(), redraw=True)[1]


def test_same_machine_means_same_processor_and_full_instruction_set(monkeypatch):
    from vqlib.store import _cpu_name

    meta = {"machine": f"x86_64 {_cpu_name()}"}
    for k in verify.ISA_ENV:
        monkeypatch.delenv(k, raising=False)
    assert verify.same_machine(meta) and not verify.same_machine({"machine": "x86_64 Some Other CPU"})
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    assert not verify.same_machine(meta)
