"""Same inputs, same tables; interrupted runs lose nothing; stale chapters re-execute; progress bars stay out of notebooks.

The chapter runs here use the testbed at small settings (a few seconds each), through the real command
line in a subprocess, exactly as a reader would type it.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch

import vqlib
from vqlib import train as train_mod
from vqlib.models import LinearVQ
from vqlib.runner import book, chapters

ROOT = chapters.ROOT
CHAPTER = ROOT / "book" / "testbed.md"
SMALL = ["-p", "seeds", "2", "-p", "steps", "5", "-p", "K", "8", "-p", "n_train", "400", "-p", "n_eval", "300", "-p", "eval_every", "0"]


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(args, env_extra=None, **kwargs):
    env = {**os.environ, **(env_extra or {})}
    return [sys.executable, "-m", "vqlib.run", *args], dict(cwd=ROOT, env=env, **kwargs)


def _run_cli(args, env_extra=None) -> subprocess.CompletedProcess:
    cmd, kw = _cli(args, env_extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def _only_run(runs: Path) -> Path:
    """The one run folder under runs/ (beside runs/results/, the re-runs' own results store)."""
    (folder,) = [p for p in runs.iterdir() if not p.name.startswith(".") and p.name != "results"]
    return folder


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same small re-run twice, into two runs folders: once with progress forced on, once off."""
    out = []
    for progress in ("1", "0"):
        runs = tmp_path_factory.mktemp(f"runs-progress{progress}")
        proc = _run_cli([str(CHAPTER), *SMALL, "--runs-dir", str(runs)], {"VQLIB_PROGRESS": progress})
        assert proc.returncode == 0, proc.stderr[-3000:]
        out.append((_only_run(runs), proc))
    return out


def test_same_parameters_give_byte_identical_tables(two_runs):
    (a, _), (b, _) = two_runs
    tables_a = {p.name: p.read_bytes() for p in sorted((a / "tables").glob("*.csv"))}
    tables_b = {p.name: p.read_bytes() for p in sorted((b / "tables").glob("*.csv"))}
    assert "tbl-testbed.csv" in tables_a
    assert tables_a == tables_b
    assert a.name == b.name and (a / "params.yaml").read_bytes() == (b / "params.yaml").read_bytes()


def test_command_line_shows_progress_and_notebook_stays_quiet(two_runs):
    (forced, proc_on), (_, proc_off) = two_runs
    assert "Executing:" in proc_on.stderr and "100%" in proc_on.stderr  # papermill's tqdm bar, cell by cell
    assert "Executing:" not in proc_off.stderr
    nb = nbformat.read(forced / "testbed.ipynb", as_version=4)
    streams = [o.text for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    assert not [s for s in streams if "it/s" in s or "%|" in s or "Tqdm" in s], streams


def test_runs_are_quiet(two_runs):
    """No kernel transport warning and no nbconvert mimetype warning per chapter: stderr holds only the progress bar."""
    (_, proc_on), (_, proc_off) = two_runs
    for proc in (proc_on, proc_off):
        assert "without encryption" not in proc.stderr and "WARNING" not in proc.stderr
        assert "UserWarning" not in proc.stderr and "is not able to be represented" not in proc.stderr
    assert proc_off.stderr.strip() == ""


def test_progress_bar_in_a_script_but_never_in_a_kernel(monkeypatch, capsys):
    S, D, m, K = 1, 4, 2, 3
    enc = torch.eye(D)[:m].expand(S, m, D).clone()
    x = torch.randn(S, 50, D, generator=torch.Generator().manual_seed(0))

    def train_once():
        train_mod.train(LinearVQ(enc, torch.randn(S, K, m), enc.transpose(1, 2)), x, x, steps=3, batch_size=8)
        return capsys.readouterr().err

    monkeypatch.setenv("VQLIB_PROGRESS", "1")
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert train_mod.progress_enabled() and "ste:" in (bar := train_once()) and "/3 [" in bar
    monkeypatch.setenv("VQLIB_PROGRESS", "0")
    assert not train_mod.progress_enabled() and train_once() == ""
    monkeypatch.setenv("VQLIB_PROGRESS", "1")
    monkeypatch.setitem(sys.modules, "ipykernel", type(sys)("ipykernel"))  # as inside a Jupyter kernel (nbval, papermill)
    assert not train_mod.progress_enabled() and train_once() == ""


def test_training_in_a_kernel_with_progress_requested_writes_no_bar(tmp_path, monkeypatch):
    """As under nbval: a kernel started with VQLIB_PROGRESS=1 in its environment still shows no bar."""
    import papermill

    code = (
        "import torch\nfrom vqlib.models import LinearVQ\nfrom vqlib.train import train\n"
        "enc = torch.eye(4)[:2].expand(1, 2, 4).clone()\nx = torch.randn(1, 50, 4)\n"
        "train(LinearVQ(enc, torch.randn(1, 3, 2), enc.transpose(1, 2)), x, x, steps=3, batch_size=8)\n"
        "import os; print('VQLIB_PROGRESS', os.environ.get('VQLIB_PROGRESS'))"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    monkeypatch.setenv("VQLIB_PROGRESS", "1")
    out = papermill.execute_notebook(nb, str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False)
    texts = [o.get("text", "") for o in out.cells[0].outputs]
    assert any("VQLIB_PROGRESS 1" in t for t in texts)  # the request reached the kernel ...
    assert not [t for t in texts if "it/s" in t or "%|" in t or "Tqdm" in t], texts  # ... and no bar was drawn


def _start_and_interrupt(args, sig, runs: Path) -> subprocess.Popen:
    """Start a re-run, wait until it is executing (its temporary folder exists, the kernel is up), then signal it."""
    cmd, kw = _cli(args, {"VQLIB_PROGRESS": "0"}, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = subprocess.Popen(cmd, **kw)
    deadline = time.monotonic() + 120
    while not [p for p in runs.glob(".testbed-*") if (p / "params.yaml").is_file()]:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the run never started executing"
        time.sleep(0.1)
    time.sleep(4)  # the kernel has started and is running cells
    assert proc.poll() is None, "the run ended before it could be interrupted: make it longer"
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, sig)  # the runner and its kernel die at once, no cleanup at all
    else:
        os.kill(proc.pid, sig)
    proc.err = proc.communicate(timeout=60)[1]
    return proc


LONG = ["-p", "seeds", "2", "-p", "steps", "3000", "-p", "K", "8", "-p", "n_train", "400", "-p", "n_eval", "300"]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_interrupted_run_leaves_earlier_outputs_intact(tmp_path, sig):
    runs = tmp_path / "runs"
    earlier = runs / "testbed-earlier"
    (earlier / "tables").mkdir(parents=True)
    (earlier / "params.yaml").write_text("K: 8\n")
    (earlier / "tables" / "tbl-testbed.csv").write_text("method,recon_mse_mean\nste,1.0\n")
    before_runs, before_book = _digest(runs), _digest(ROOT / "book")
    proc = _start_and_interrupt([str(CHAPTER), *LONG, "--runs-dir", str(runs)], sig, runs)
    assert proc.returncode != 0
    assert _digest(earlier) == {k.split("/", 1)[1]: v for k, v in before_runs.items()}
    # no half-written run (tasks the run completed before it stopped may stay in its results store, each whole)
    assert [p.name for p in runs.iterdir() if not p.name.startswith(".") and p.name != "results"] == ["testbed-earlier"]
    assert _digest(ROOT / "book") == before_book
    if sig == signal.SIGTERM:  # a polite stop also removes its temporary folder and says so
        assert proc.returncode == 130 and "interrupted" in proc.err
        assert not list(runs.glob(".testbed-*"))


# -- make book: re-execute a chapter exactly when its source or vqlib changed ---------------------------------

TINY = """---
jupytext:
  formats: ipynb,md:myst
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Tiny

```{code-cell} ipython3
:tags: [parameters]

seed = 0
```

```{code-cell} ipython3
print(seed)
```
"""


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A chapter, requirements and a copy of the vqlib sources in tmp_path; execute() recorded, not run."""
    vq = tmp_path / "vqlib"
    vq.mkdir()
    for src in chapters.VQLIB_DIR.glob("*.py"):
        (vq / src.name).write_bytes(src.read_bytes())
    md = tmp_path / "tiny.md"
    md.write_text(TINY)
    monkeypatch.setattr(chapters, "VQLIB_DIR", vq)
    req = tmp_path / "requirements.txt"
    req.write_text(chapters.REQUIREMENTS.read_text())
    monkeypatch.setattr(chapters, "REQUIREMENTS", req)
    monkeypatch.setattr(chapters, "TIMINGS", tmp_path / "times.json")
    calls = []

    def fake_execute(nb, out_path, parameters, tables_dir, cwd):
        calls.append(Path(out_path))
        nbformat.write(nb, out_path)

    monkeypatch.setattr(chapters, "execute", fake_execute)
    return md, vq, calls


def test_make_book_executes_through_the_canonical_runner():
    recipe = (ROOT / "Makefile").read_text().split("\nexecute:")[1].split("\n\n")[0]
    assert "-m vqlib.run --canonical" in recipe
    assert chapters.VQLIB_DIR == Path(vqlib.__file__).resolve().parent  # the hash covers the library that runs


def test_stale_chapters_re_execute_and_fresh_ones_skip(sandbox, capsys):
    md, vq, calls = sandbox
    book.canonical([md])
    assert len(calls) == 1 and md.with_suffix(".ipynb").is_file()
    assert nbformat.read(md.with_suffix(".ipynb"), as_version=4).metadata["vqbook"]["inputs_hash"] == chapters.inputs_hash(md)
    book.canonical([md])
    assert len(calls) == 1 and "up to date" in capsys.readouterr().out
    (vq / "estimators.py").write_text((vq / "estimators.py").read_text() + "\n# a change to the library\n")
    book.canonical([md])
    assert len(calls) == 2  # a vqlib source changed: re-executed
    book.canonical([md])
    assert len(calls) == 2
    (vq / "newmodule.py").write_text('"""A new module."""\n')
    book.canonical([md])
    assert len(calls) == 3  # a new vqlib file counts too
    md.write_text(TINY.replace("seed = 0", "seed = 1"))
    book.canonical([md])
    assert len(calls) == 4  # the chapter changed
    book.canonical([md], force=True)
    assert len(calls) == 5
    assert "tiny" in chapters.TIMINGS.read_text()
    chapters.REQUIREMENTS.write_text(chapters.REQUIREMENTS.read_text() + "another-package>=1\n")
    book.canonical([md])
    assert len(calls) == 6  # a dependency changed


def test_committed_notebook_with_matching_hash_is_rendered_not_executed(sandbox, tmp_path, monkeypatch):
    """A fresh clone has no local cache: the hash recorded in the committed notebook alone decides."""
    md, vq, calls = sandbox
    book.canonical([md])
    committed = md.with_suffix(".ipynb").read_bytes()
    clone = tmp_path / "clone"  # another checkout: same files, nothing else
    clone.mkdir()
    (clone / "tiny.md").write_bytes(md.read_bytes())
    (clone / "tiny.ipynb").write_bytes(committed)
    book.canonical([clone / "tiny.md"])
    assert len(calls) == 1 and (clone / "tiny.ipynb").read_bytes() == committed
    nb = nbformat.read(clone / "tiny.ipynb", as_version=4)
    nb.metadata["vqbook"]["inputs_hash"] = "0" * 16  # made from other inputs
    nbformat.write(nb, clone / "tiny.ipynb")
    book.canonical([clone / "tiny.md"])
    assert len(calls) == 2


def test_interrupted_canonical_execution_keeps_the_old_notebook(sandbox, monkeypatch):
    md, vq, calls = sandbox
    book.canonical([md])
    ipynb = md.with_suffix(".ipynb")
    before = ipynb.read_bytes()

    def killed(nb, out_path, *args):
        Path(out_path).write_text('{"half": ')  # a half-written notebook in the temporary file
        raise KeyboardInterrupt

    monkeypatch.setattr(chapters, "execute", killed)
    (vq / "quantize.py").write_text((vq / "quantize.py").read_text() + "\n# changed\n")
    with pytest.raises(KeyboardInterrupt):
        book.canonical([md])
    assert ipynb.read_bytes() == before and chapters.is_stale(md)  # the old notebook is kept, and is still stale
    assert [p.name for p in md.parent.glob(".tiny-*")] == []  # the temporary file is gone


def test_canonical_notebook_is_byte_identical_when_outputs_are(sandbox):
    """jupytext gives cells random ids at every read; the canonical runner replaces them by stable ones."""
    md, _, calls = sandbox
    book.canonical([md], force=True)
    first = md.with_suffix(".ipynb").read_bytes()
    book.canonical([md], force=True)
    assert len(calls) == 2 and md.with_suffix(".ipynb").read_bytes() == first


def test_verdict_chapter_is_stale_when_another_chapter_changes(tmp_path, monkeypatch):
    """The verdict chapter reads the other chapters' notebooks, so their sources are part of its inputs."""
    from vqlib.runner import chapters as run_mod

    verdicts = run_mod.ROOT / "book" / "verdicts.md"
    testbed = run_mod.ROOT / "book" / "testbed.md"
    copy = tmp_path / "testbed.md"
    copy.write_text(testbed.read_text() + "\nAn edit.\n")
    before_verdicts, before_testbed = run_mod.inputs_hash(verdicts), run_mod.inputs_hash(testbed)
    sources = [copy if p == testbed else p for p in run_mod.chapter_sources()]
    monkeypatch.setattr(run_mod, "chapter_sources", lambda: sources)
    assert run_mod.inputs_hash(verdicts) != before_verdicts
    assert run_mod.inputs_hash(testbed) == before_testbed  # an ordinary chapter does not depend on the others
