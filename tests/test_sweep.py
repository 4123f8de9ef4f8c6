"""Sweeps on dask.distributed: bad sweep files stop before anything runs; points run, resume, fail alone."""

import functools
import hashlib
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from vqlib import run
from vqlib.runner import book, chapters, parallel, sweep

ROOT = Path(run.__file__).resolve().parent.parent
CHAPTER = ROOT / "book" / "testbed.md"
#: The testbed at its smallest: each point executes in seconds.
TINY = {"seeds": 2, "steps": 5, "n_train": 300, "n_eval": 200, "D": 8, "m": 2, "K": 4, "kmeans_iters": 2, "eval_every": 0,
        "regimes": ["seeds-budget"]}
TINY_ARGS = [a for name, v in TINY.items() for a in ("-p", name, str(v).replace("'", ""))]


@pytest.fixture(scope="module")
def cluster():
    """An existing 2-worker Dask cluster (what --scheduler connects to), shared by the tests of this module."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with c:
        yield c


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- the sweep file


def test_grid_is_the_product_and_a_list_is_taken_as_it_is(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("K: [2, 4]\nsigma: [0.1, 0.2, 0.3]\n")
    points = sweep.load_sweep(grid)
    assert len(points) == 6 and points[0] == {"K": 2, "sigma": 0.1} and points[-1] == {"K": 4, "sigma": 0.3}
    listed = tmp_path / "list.yaml"
    listed.write_text("- {K: 2}\n- {K: 8, estimators: [ste]}\n")
    assert sweep.load_sweep(listed) == [{"K": 2}, {"K": 8, "estimators": ["ste"]}]
    assert sweep.swept_names([{"K": 2}, {"K": 8, "estimators": ["ste"]}]) == ["K", "estimators"]


@pytest.mark.parametrize(
    "text,needles",
    [
        ("K: [2, 4\n", ["not valid YAML"]),
        ("just some words\n", ["must hold a grid", "str"]),
        ("", ["empty", "no points"]),
        ("{}\n", ["empty"]),
        ("K: []\n", ["'K'", "empty list"]),
        ("K: 4\n", ["'K'", "must be a list"]),
        ("- {K: 2}\n- 7\n", ["point 1", "mapping"]),
        ("Kay: [2, 4]\n", ["sweep point 0", "Kay: 2", "unknown parameter", "Kay"]),
        ("K: [4, 0]\n", ["sweep point 1", "K: 0", "K must be"]),
        ("K: [4]\nm: [2, 16]\n", ["sweep point 1", "m: 16", "m (the latent dimension) must be at most D"]),
        ("- {K: 4}\n- {K: 2}\n- {K: 4}\n", ["sweep point 2", "duplicates point 0"]),
        ("- {}\n- {K: 4}\n", ["sweep point 1", "duplicates point 0"]),  # K: 4 is TINY's value
    ],
)
def test_bad_sweep_files_stop_before_anything_executes(tmp_path, capsys, text, needles):
    bad = tmp_path / "sweep.yaml"
    bad.write_text(text)
    runs = tmp_path / "runs"
    assert run.main([str(CHAPTER), *TINY_ARGS, "--sweep", str(bad), "--runs-dir", str(runs), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err
    assert not runs.exists()  # nothing was started, not even the runs folder


def test_binary_file_and_missing_file_are_refused(tmp_path, capsys):
    binary = tmp_path / "sweep.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    assert run.main([str(CHAPTER), "--sweep", str(binary), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert run.main([str(CHAPTER), "--sweep", str(tmp_path / "nope.yaml"), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "does not exist" in capsys.readouterr().err


# ---------------------------------------------------------------- kernel start-up guard


class _FakeKernelManager:
    def __init__(self, log):
        self.log, self.has_kernel = log, False

    def shutdown_kernel(self, now=False):
        self.log.append("shutdown")
        self.has_kernel = False

    def cleanup_resources(self):
        self.log.append("cleanup")


class _FakeClient:
    def __init__(self):
        self.log, self.km, self.kc = [], None, None
        self._vq_start_kwargs = {"cwd": "/somewhere"}

    def create_kernel_manager(self):
        self.log.append("create")
        return _FakeKernelManager(self.log)


def _start(client, **kwargs):
    client.log.append(f"start {kwargs['cwd']}")
    client.km.has_kernel = True


def _flaky_client_start(fails: int):
    calls = {"n": 0}

    def start_client(client):
        calls["n"] += 1
        if calls["n"] <= fails:
            raise RuntimeError("Kernel died before replying to kernel_info")  # what a ZMQ port collision looks like
        client.log.append("ready")
        return "kc"

    return start_client


def test_a_failed_kernel_start_is_cleaned_up_and_retried(tmp_path):
    client = _FakeClient()
    lock = functools.partial(parallel.kernel_start_lock, tmp_path / "lock")
    assert parallel.start_with_retry(client, _start, _flaky_client_start(1), attempts=3, lock=lock) == "kc"
    assert client.log == ["create", "start /somewhere", "shutdown", "cleanup", "create", "start /somewhere", "ready"]
    client = _FakeClient()
    with pytest.raises(RuntimeError, match="Kernel died"):
        parallel.start_with_retry(client, _start, _flaky_client_start(5), attempts=3, lock=lock)
    assert client.log.count("start /somewhere") == 3


def _hold_lock(path: str, out: str) -> None:
    with parallel.kernel_start_lock(Path(path)):
        start = time.time()
        time.sleep(0.4)
        Path(out).write_text(f"{start} {time.time()}")


def test_kernel_start_lock_serializes_processes(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hold_lock, args=(str(tmp_path / "lock"), str(tmp_path / f"t{i}"))) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=20)
        assert p.exitcode == 0
    spans = sorted(tuple(map(float, (tmp_path / f"t{i}").read_text().split())) for i in range(3))
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end  # no two processes held the lock at once


@pytest.fixture
def unguarded(monkeypatch):
    """papermill as it was before the test: the guard's patch is undone afterwards."""
    from papermill.clientwrap import PapermillNotebookClient

    for name in ("start_new_kernel", "start_new_kernel_client"):
        monkeypatch.setattr(PapermillNotebookClient, name, getattr(PapermillNotebookClient, name))
    monkeypatch.setattr(PapermillNotebookClient, "_vq_guarded", False, raising=False)


def test_papermill_retries_a_kernel_that_died_at_start(tmp_path, monkeypatch, unguarded):
    import nbformat
    import papermill

    real, launches = parallel.start_with_retry, []

    def killing_first(client, start, start_client, **kw):
        def start_client_after_kill(c):
            launches.append(c.km.provisioner.pid)
            if len(launches) == 1:  # the kernel dies before its first reply, as on a ZMQ port collision
                os.kill(c.km.provisioner.pid, 9)
                c.km.provisioner.process.wait()
            return start_client(c)

        return real(client, start, start_client_after_kill, lock=functools.partial(parallel.kernel_start_lock, tmp_path / "lock"), **kw)

    monkeypatch.setattr(parallel, "start_with_retry", killing_first)
    parallel.guard_kernel_start()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 6 * 7\nx")])
    out = papermill.execute_notebook(nb, str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False)
    assert out.cells[0].outputs[0]["data"]["text/plain"] == "42"
    assert len(launches) == 2 and launches[0] != launches[1]  # a second, fresh kernel ran the notebook


def test_papermill_is_patched_once(unguarded):
    from papermill.clientwrap import PapermillNotebookClient

    parallel.guard_kernel_start()
    guarded = PapermillNotebookClient.start_new_kernel_client
    parallel.guard_kernel_start()
    assert PapermillNotebookClient.start_new_kernel_client is guarded and PapermillNotebookClient._vq_guarded


# ---------------------------------------------------------------- stages (make book in parallel)


def _stamp(folder: str, name: str, seconds: float) -> str:
    start = time.time()
    time.sleep(seconds)
    (Path(folder) / name).write_text(f"{start} {time.time()} {os.getpid()}")
    return name


def _boom() -> None:
    raise ValueError("chapter failed")


def test_stages_run_in_parallel_and_in_order(tmp_path, cluster):
    f = functools.partial
    first = [f(_stamp, str(tmp_path), "a", 1.0), f(_stamp, str(tmp_path), "b", 1.0)]
    got = []
    stages = [first, [f(_stamp, str(tmp_path), "verdicts", 0.0)]]
    results = parallel.run_stages(stages, scheduler=cluster.scheduler_address, on_result=got.append)
    assert results == [["a", "b"], ["verdicts"]] and sorted(got) == ["a", "b", "verdicts"]
    (a0, a1, a_pid), (b0, b1, b_pid), (v0, _, _) = (map(float, (tmp_path / n).read_text().split()) for n in ("a", "b", "verdicts"))
    assert v0 >= max(a1, b1)  # the last stage starts after the first has finished
    assert a_pid != b_pid  # the first stage's two chapters ran in two worker processes at once
    with pytest.raises(parallel.StageError, match="chapter failed"):
        stages = [[_boom, f(_stamp, str(tmp_path), "c", 0.0)], [f(_stamp, str(tmp_path), "never", 0.0)]]
        parallel.run_stages(stages, scheduler=cluster.scheduler_address)
    assert (tmp_path / "c").is_file() and not (tmp_path / "never").exists()


def test_a_chapter_run_by_a_worker_returns_its_lines_and_time(monkeypatch, tmp_path):
    timings = tmp_path / "times.json"
    monkeypatch.setattr(chapters, "TIMINGS", timings)

    def fake_canonical(mds, force=False):
        assert force and mds == [CHAPTER]
        print("book/testbed.md: executed in 1.5 s")
        chapters.record_time("testbed", 1.5)

    monkeypatch.setattr(book, "canonical", fake_canonical)
    text, times = book._canonical_one(CHAPTER, True)
    assert text == "book/testbed.md: executed in 1.5 s\n" and times == {"testbed": 1.5}
    assert chapters.TIMINGS == timings and not timings.exists()  # the caller records it, not the worker

    def failing(mds, force=False):
        raise ValueError("cell 3 failed")

    monkeypatch.setattr(book, "canonical", failing)
    with pytest.raises(RuntimeError, match="book/testbed.md: ValueError: cell 3 failed"):
        book._canonical_one(CHAPTER, False)


def test_the_verdict_chapter_is_detected():
    assert book.is_verdict_chapter(ROOT / "book" / "verdicts.md")
    assert not book.is_verdict_chapter(CHAPTER)


# ---------------------------------------------------------------- a real sweep


def test_headline_metrics_need_all_three_columns():
    assert sweep.headline_metrics(["method", "a_mean", "a_low", "a_high", "b_mean", "b_low", "c"]) == ["a"]


#: A last cell that fails at run time for one value of a valid parameter: a point that passes every check
#: before the sweep starts and still fails inside its kernel.
FAILS_AT_RUN_TIME = """

```{code-cell} ipython3
if seed == 99:
    raise RuntimeError("this point fails at run time, by design of the test")
```
"""


def test_sweep_runs_resumes_and_isolates_a_failing_point(tmp_path, cluster):
    runs = tmp_path / "runs"
    chapter = tmp_path / "book" / "testbed.md"  # the testbed, with a last cell that fails for seed 99
    chapter.parent.mkdir()
    chapter.write_text(CHAPTER.read_text() + FAILS_AT_RUN_TIME)
    points = [{"K": k, "sigma": s} for k in (2, 4) for s in (0.1, 0.3)]
    first = sweep.run_sweep(chapter, points, runs, workers=2, base=TINY)
    assert [r.status for r in first.points] == ["done"] * 4, [r.error for r in first.points]
    folders = [r.folder for r in first.points]
    for r in first.points:
        assert r.folder.name == f"testbed-{chapters.params_hash(r.params)}"
        assert yaml.safe_load((r.folder / "params.yaml").read_text())["K"] == r.point["K"]
        assert (r.folder / "testbed.html").is_file()
    assert not [p for p in runs.iterdir() if p.name.startswith(".")]  # no temporary folder left

    # the combined result: every point's rows, the swept parameters as columns, figures, links
    combined = first.combined
    assert combined.name == f"sweep-{sweep.sweep_hash(chapter, [r.params for r in first.points])}"
    table = pd.read_csv(combined / "tables" / "tbl-testbed.csv")
    rows = len(pd.read_csv(first.points[0].folder / "tables" / "tbl-testbed.csv"))
    assert list(table.columns[:3]) == ["K", "sigma", "run"] and rows > 0 and len(table) == 4 * rows
    for r in first.points:
        own = pd.read_csv(r.folder / "tables" / "tbl-testbed.csv")
        mine = table[table.run == r.folder.name]
        assert (mine.K == r.point["K"]).all() and (mine.sigma == r.point["sigma"]).all()
        pd.testing.assert_frame_equal(mine[own.columns].reset_index(drop=True), own)
    figures = sorted(p.name for p in (combined / "figures").glob("*.png"))
    assert "tbl-testbed--recon_mse.png" in figures and len(figures) == len(sweep.headline_metrics(table.columns))
    index = (combined / "index.html").read_text()
    for r in first.points:
        assert f'href="../{r.folder.name}/testbed.html"' in index

    # resume on an existing cluster (--scheduler): one folder deleted, and a point that fails at run time
    # (seed 99 passes the checks, and the chapter's last cell raises): only those two execute
    kept = {f: _digest(f) for f in folders[1:]}
    shutil.rmtree(folders[0])
    failing = {"K": 4, "sigma": 0.1, "seed": 99}
    second = sweep.run_sweep(chapter, points + [failing], runs, scheduler=cluster.scheduler_address, base=TINY)
    assert [r.status for r in second.points] == ["done", "skipped", "skipped", "skipped", "failed"]
    assert "fails at run time" in second.failed[0].error and second.failed[0].folder.name.startswith("testbed-")
    assert not second.failed[0].folder.exists()
    assert folders[0].is_dir() and {f: _digest(f) for f in folders[1:]} == kept  # the others were not touched
    assert not [p for p in runs.iterdir() if p.name.startswith(".")]  # the failed point's temp folder is gone
    index = (second.combined / "index.html").read_text()
    assert "failed: " in index and "fails at run time" in index
    assert len(pd.read_csv(second.combined / "tables" / "tbl-testbed.csv")) == 4 * rows
