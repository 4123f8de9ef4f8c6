"""`make results`: compute the stale tasks of every chapter's studies into results/, in parallel on Dask.

    python -m vqlib.runner.compute                  # stale tasks only, one single-threaded worker per core
    python -m vqlib.runner.compute --force          # every task again
    python -m vqlib.runner.compute --jobs 1         # in this process, one after another
    python -m vqlib.runner.compute --scheduler tcp://host:8786
    python -m vqlib.runner.compute --list           # the canonical tasks, their state and last cost

Each task is written atomically as it completes (vqlib.store), so Ctrl-C or a killed worker loses only the
tasks in flight: the next call computes just those. Stored tasks that no chapter asks for any more (their
key changed with the code or the parameters) are removed at the end of a complete run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vqlib import results
from vqlib.store import RESULTS, ROOT, Store, canonical_json, task_key


@dataclass(frozen=True)
class Task:
    """One canonical task: a study at one chapter's default parameters, split as the study splits it."""

    chapter: str
    study: str
    params: dict[str, Any]

    @property
    def key(self) -> str:
        return task_key(self.study, self.params)

    def label(self) -> str:
        """A short name for progress and error lines."""
        split = {k: v for k, v in self.params.items() if k in ("regime", "part", "spectrum", "start")}
        return f"{self.study} {split}" if split else self.study


def canonical_tasks(only: list[str] | None = None) -> list[Task]:
    """Every task the book's chapters load at their default parameters (each key once), in chapter order."""
    from vqlib.runner.chapters import chapter_defaults, read_chapter

    seen, out = set(), []
    for chapter, studies in results.CHAPTERS.items():
        defaults = chapter_defaults(read_chapter(ROOT / "book" / f"{chapter}.md"))
        for study in studies:
            if only and study not in only:
                continue
            for params in results.study_tasks(study, defaults):
                task = Task(chapter, study, params)
                if (study, task.key) not in seen:
                    seen.add((study, task.key))
                    out.append(task)
    return out


def _compute(study: str, params: dict[str, Any], root: str) -> tuple[str, float]:
    """Worker side: compute one task into the store at `root`; (key, seconds)."""
    start = time.perf_counter()
    key = results.compute(study, params, Store(Path(root)))
    return key, time.perf_counter() - start


def run(tasks: list[Task], store: Store, jobs: int, scheduler: str | None = None) -> list[str]:
    """Compute `tasks` into `store` (Dask when jobs > 1 or a scheduler is given); the errors, one line each."""
    from tqdm.auto import tqdm

    errors: list[str] = []
    bar = tqdm(total=len(tasks), unit="task", desc="results", disable=not tasks, file=sys.stderr)
    if jobs <= 1 and not scheduler:
        for t in tasks:
            try:
                _compute(t.study, t.params, str(store.root))
            except Exception as exc:  # noqa: BLE001 - reported, the other tasks go on
                errors.append(f"{t.label()}: {type(exc).__name__}: {exc}")
            bar.update()
        bar.close()
        return errors
    from distributed import as_completed

    from vqlib.runner.parallel import dask_client

    tasks = sorted(tasks, key=lambda t: -_last_cost(t))  # longest first: no long task starts last and runs alone
    with dask_client(scheduler, jobs) as client:
        futures = {client.submit(_compute, t.study, t.params, str(store.root), pure=False, retries=1): t for t in tasks}
        for future in as_completed(futures):
            if future.status == "error":
                errors.append(f"{futures[future].label()}: {type(future.exception()).__name__}: {future.exception()}")
            bar.update()
    bar.close()
    return errors


def _last_cost(task: Task, store: Store | None = None) -> float:
    """The task's wall seconds the last time (results/ by default): stored under its key, else under an older key of the
    same study and parameters (the code changed since), else 0. Longest first needs it most after a code change."""
    store = Store(RESULTS) if store is None else store
    if store.has(task.study, task.key):
        return store.meta(task.study, task.key)["wall_seconds"]
    params = json.loads(canonical_json(task.params))
    older = [m["wall_seconds"] for m in map(lambda k: store.meta(task.study, k), store.keys(task.study)) if m["task"] == params]
    return max(older, default=0.0)


def prune(store: Store, keep: list[Task]) -> list[Path]:
    """Remove stored tasks of the registered studies that no canonical task uses any more; the removed folders."""
    wanted = {(t.study, t.key) for t in keep}
    removed = []
    for study in {s for studies in results.CHAPTERS.values() for s in studies}:
        for key in store.keys(study):
            if (study, key) not in wanted:
                shutil.rmtree(store.path(study, key))
                removed.append(store.path(study, key))
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqlib.runner.compute", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="recompute every task, stored or not")
    parser.add_argument("--jobs", type=int, default=None, metavar="N", help="local worker processes (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--only", action="append", metavar="STUDY", help="only this study (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the canonical tasks and whether they are stored")
    parser.add_argument("--store", metavar="DIR", help="compute into this store instead of results/ (e.g. to time a run)")
    args = parser.parse_args(argv)
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        print(f"error: --jobs must be at least 1, got {jobs}", file=sys.stderr)
        return 2
    known = sorted({s for studies in results.CHAPTERS.values() for s in studies})
    for s in args.only or []:
        if s not in known:
            print(f"error: --only {s!r} is not a study; studies: {', '.join(known)}", file=sys.stderr)
            return 2
    store = Store(Path(args.store).resolve() if args.store else RESULTS)
    tasks = canonical_tasks(args.only)
    if args.list:
        for t in tasks:
            state = f"stored ({store.meta(t.study, t.key)['wall_seconds']:.1f} s)" if store.has(t.study, t.key) else "missing"
            print(f"{t.chapter:18} {t.label():60} {state}")
        return 0
    todo = tasks if args.force else [t for t in tasks if not store.has(t.study, t.key)]
    print(f"{len(tasks)} tasks, {len(todo)} to compute on {'scheduler ' + args.scheduler if args.scheduler else f'{jobs} worker(s)'}",
          file=sys.stderr)
    start = time.perf_counter()
    try:
        errors = run(todo, store, jobs, args.scheduler)
    except KeyboardInterrupt:
        print("interrupted: completed tasks are stored; the next call computes the rest", file=sys.stderr)
        return 130
    cost: dict[str, float] = {}
    for t in todo:
        if store.has(t.study, t.key):
            cost[t.study] = cost.get(t.study, 0.0) + store.meta(t.study, t.key)["wall_seconds"]
    if todo:
        print(f"computed in {time.perf_counter() - start:.0f} s wall; task seconds per study: "
              + ", ".join(f"{s} {c:.0f}" for s, c in cost.items()), file=sys.stderr)
    if errors:
        print(f"{len(errors)} task(s) failed:\n" + "\n".join(f"  {e}" for e in errors), file=sys.stderr)
        return 1
    if not args.only and not args.store:
        for path in prune(store, tasks):
            print(f"removed stale {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
