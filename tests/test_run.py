"""The rerun command: new parameters land in a new runs/ folder with CSV tables; bad ones fail by name."""

import hashlib
from pathlib import Path

import nbformat
import pytest
import yaml

from vqlib import chapter_regimes, reproduce, run
from vqlib.runner import chapters

ROOT = Path(run.__file__).resolve().parent.parent
CHAPTER = ROOT / "book" / "testbed.md"
SMALL = ["-p", "seeds", "2", "-p", "steps", "5", "-p", "K", "8", "-p", "n_train", "400", "-p", "n_eval", "300", "-p", "eval_every", "0"]


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_rerun_writes_a_new_folder_and_leaves_book_alone(tmp_path, capsys):
    before, stored = _digest(ROOT / "book"), _digest(ROOT / "results")
    assert run.main([str(CHAPTER), *SMALL, "--runs-dir", str(tmp_path)]) == 0
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".") and p.name != "results"]
    # the missing tasks went to the run-local store, one per regime; the committed store is untouched
    n_regimes = len(chapter_regimes.CHAPTER_REGIMES["testbed"][0])  # the chapter's default regimes (test_regimes_grid pins the match)
    assert len(list((tmp_path / "results" / "testbed").iterdir())) == n_regimes and _digest(ROOT / "results") == stored
    assert folder.name.startswith("testbed-")
    assert (folder / "testbed.ipynb").is_file() and (folder / "testbed.html").stat().st_size > 10_000
    params = yaml.safe_load((folder / "params.yaml").read_text())
    assert params["K"] == 8 and params["seeds"] == 2 and params["lr"] == 0.001
    table = (folder / "tables" / "tbl-testbed.csv").read_text().splitlines()
    assert table[0].startswith("regime,method,") and len(table) == 1 + n_regimes * 5  # header + regimes × (4 estimators + PCA/Lloyd)
    assert (folder / "tables" / "fig-testbed-curves.png").is_file()
    assert _digest(ROOT / "book") == before
    # its closing check says it was not compared (other parameters than the committed notebook's), never "all reproduced"
    assert "a re-run with parameters of its own, not compared" in (folder / "testbed.ipynb").read_text()
    # the same parameters again: nothing is re-executed or overwritten
    stamp = _digest(folder)
    assert run.main([str(CHAPTER), *SMALL, "--runs-dir", str(tmp_path)]) == 0
    assert _digest(folder) == stamp


@pytest.mark.parametrize(
    "args,needle",
    [
        (["-p", "Kay", "8"], "Kay"),
        (["-p", "K", "0"], "K must be"),
        (["-p", "K", "eight"], "K must be an integer"),
        (["-p", "beta", "-1"], "beta must be"),
        (["-p", "estimators", "[ste, rotation]"], "estimators[1] must be one of"),
        (["-p", "device", "tpu"], "device must be one of"),
    ],
)
def test_bad_parameters_fail_fast_naming_the_parameter(tmp_path, capsys, args, needle):
    assert run.main([str(CHAPTER), *args, "--runs-dir", str(tmp_path)]) == 2
    assert needle in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_missing_chapter_and_bad_yaml(tmp_path, capsys):
    assert run.main([str(tmp_path / "nope.md")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "p.yaml"
    bad.write_text("K: [8, 16\n")
    assert run.main([str(CHAPTER), "-f", str(bad), "--runs-dir", str(tmp_path)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_folder_holding_a_different_run_is_refused(tmp_path, capsys):
    full = chapters.resolve_params(chapters.chapter_defaults(chapters.read_chapter(CHAPTER)), {})
    folder = tmp_path / f"testbed-{chapters.params_hash(full)}"
    folder.mkdir()
    (folder / "params.yaml").write_text("K: 3\n")
    assert run.main([str(CHAPTER), "--runs-dir", str(tmp_path)]) == 2
    assert "already holds a different run" in capsys.readouterr().err
    assert (folder / "params.yaml").read_text() == "K: 3\n"


def test_a_rerun_at_the_defaults_is_compared_with_the_committed_notebook_and_others_are_not(tmp_path, monkeypatch):
    """A re-run's closing check compares with book/<chapter>.ipynb only when its parameters are the chapter's defaults."""
    seen = []

    def fake_execute(nb, out_path, parameters, tables_dir, cwd, store=None, reference=None):
        seen.append(reference)
        nbformat.write(nb, out_path)

    monkeypatch.setattr(chapters, "execute", fake_execute)
    monkeypatch.setattr(chapters, "render_html", lambda nb, html: Path(html).write_text("html"))
    chapters.rerun(CHAPTER, {}, tmp_path)
    chapters.rerun(CHAPTER, {"seeds": 3}, tmp_path)
    assert seen == ["1", reproduce.RERUN]
