"""`make book`: execute the chapters whose notebook is stale, in place (in parallel on Dask), the reading chapters last."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import tempfile
from pathlib import Path

from vqlib.runner import chapters as run
from vqlib.runner.parallel import StageError, _short_error, run_stages


def canonical(chapters: list[Path], force: bool = False, jobs: int = 1) -> None:
    """Execute each chapter whose notebook was made from other inputs (or all, with force), in place.

    A notebook whose recorded inputs hash matches is kept as it is: a fresh clone renders the committed
    outputs instead of re-executing them, so `make book` leaves the checkout unchanged. With jobs > 1 the
    stale chapters execute in parallel on a Dask LocalCluster (vqlib.runner.parallel), the verdict chapter last.
    """
    for md in chapters:
        run.read_chapter(md)  # a missing or non-.md chapter fails here, by name
    stale = [md for md in chapters if force or run.is_stale(md)]
    for md in chapters:
        if md not in stale:
            print(f"{run._shown(md)}: up to date")
    if jobs > 1 and len(stale) > 1:
        execute_chapters(stale, True, jobs)
        return
    for md in stale:
        run.execute_in_place(md)



def is_verdict_chapter(md: Path) -> bool:
    """A chapter that reads other chapters' executed notebooks (it calls collect_claims: the verdict chapter, the
    real-data chapter): it runs after the chapters that do not."""
    return "collect_claims" in Path(md).read_text()


def execute_chapters(chapters: list[Path], force: bool, jobs: int) -> None:
    """run.canonical for several chapters in parallel on a LocalCluster of `jobs` workers.

    Chapters that read no other chapter run first, all at once; then the reading chapters one after another
    in the given (table of contents) order, so the verdict chapter, last in the book, reads every notebook.

    Each worker calls canonical([chapter]) (which decides whether the chapter is stale); the execution
    times come back here and are recorded one after the other, so parallel chapters never race on the file.
    """
    first = [md for md in chapters if not is_verdict_chapter(md)]
    readers = [[md] for md in chapters if is_verdict_chapter(md)]
    stages = [[functools.partial(_canonical_one, Path(md).resolve(), force) for md in s] for s in [first, *readers] if s]
    if not stages:
        return

    def report(result: tuple[str, dict[str, float]]) -> None:
        text, times = result
        print(text, end="", flush=True)
        for name, seconds in times.items():
            run.record_time(name, seconds)

    try:
        run_stages(stages, workers=min(jobs, max(len(s) for s in stages)), on_result=report)
    except StageError as exc:
        raise run.RunError(f"chapter execution failed: {exc}") from None


def _canonical_one(md: Path, force: bool) -> tuple[str, dict[str, float]]:
    """Worker side: run.canonical on one chapter, its printed lines and recorded time returned to the caller."""
    saved = run.TIMINGS
    with tempfile.TemporaryDirectory(prefix="vqlib-times-") as tmp:
        run.TIMINGS = Path(tmp) / "times.json"
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                try:
                    canonical([md], force)
                except Exception as exc:  # noqa: BLE001 - named by chapter for the caller
                    raise RuntimeError(f"{run._shown(md)}: {_short_error(exc)}") from None
            times = json.loads(run.TIMINGS.read_text()) if run.TIMINGS.is_file() else {}
        finally:
            run.TIMINGS = saved
    return out.getvalue(), times


