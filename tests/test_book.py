"""The book's notebooks: every .md/.ipynb pair in sync and executed after the last change to its inputs."""

import jupytext
import nbformat
import pytest

from vqlib.runner.chapters import chapter_sources, inputs_hash

CHAPTERS = chapter_sources()


def test_there_are_chapters():
    assert [p.stem for p in CHAPTERS][:1] == ["testbed"]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_pair_in_sync(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{md} has no paired {ipynb.name}: run `make book`"
    source = jupytext.read(md)
    executed = nbformat.read(ipynb, as_version=4)
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(executed) == cells(source), f"{ipynb.name} is out of sync with {md.name}: run `make book`"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_executed_with_current_sources(md):
    executed = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    recorded = executed.metadata.get("vqbook", {}).get("inputs_hash")
    assert recorded == inputs_hash(md), f"{md.name} or vqlib changed after {md.stem}.ipynb was executed: run `make book`"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_no_errors_in_outputs(md):
    executed = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
