"""What a chapter calls to get its results: read from the store, or compute the missing tasks and store them.

    res = results.load("testbed", globals())      # {table name: DataFrame}, every task's rows concatenated

A study is a module `vqlib.studies.<name>` with
    PARAMS: tuple[str, ...]                        the chapter parameters its results depend on (and only those)
    tasks(p: dict) -> list[dict]                   p split into tasks (JSON-able parameter dicts, e.g. one per regime)
    compute(task: dict, device) -> {name: frame}   one task's tidy tables (a table name's rows are concatenated over the tasks)
and optionally SPREAD (columns that move with the last bits in chaotic runs: verified against the stored seeds'
spread, not value by value) and UNVERIFIED (timings, or illustrative one-seed coordinates: never verified), both read by
`make verify`; an entry 'table.column' applies to that table only.

The committed store is `results/`. A re-run (`python -m vqlib.run`) sets VQLIB_RESULTS to a run-local store:
tasks found in `results/` are read from there, the missing ones are computed into the run-local store, and
`results/` is never written. With VQLIB_RESULTS_READONLY=1 (nbval in CI) a missing task is an error, not a
computation: the book must render from stored results alone.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

import pandas as pd

from vqlib.store import RESULTS, Store, task_key

#: chapter (book/<name>.md) -> the studies it loads, each with the chapter's own parameters; `make results`
#: computes the stale tasks of these studies at every chapter's parameter defaults.
CHAPTERS: dict[str, list[str]] = {
    "testbed": ["testbed"],
    "geometry": ["geometry"],
    "rate_distortion": ["rate_distortion"],
    "initialization": ["initialization"],
    "scale": ["scale"],
    "subspace": ["subspace"],
    "multimodal": ["multimodal"],
    "commitment_noise": ["commitment_noise"],
    "convergence": ["convergence", "convergence_cost"],
    "realdata": ["realdata"],
    "realconv": ["realconv"],
    "cost": ["cost"],
}

RUN_STORE_ENV = "VQLIB_RESULTS"
READONLY_ENV = "VQLIB_RESULTS_READONLY"


class StaleResults(Exception):
    """A task the store does not hold, where computing it is not allowed."""


def study_module(study: str) -> ModuleType:
    """The module `vqlib.studies.<study>`."""
    return importlib.import_module(f"vqlib.studies.{study}")


def study_params(study: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The chapter parameters that `study` depends on, taken from `params` (a chapter's globals() will do)."""
    return {k: params[k] for k in study_module(study).PARAMS}


def study_tasks(study: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tasks of `study` at the chapter parameters `params`."""
    return study_module(study).tasks(study_params(study, params))


def stores() -> tuple[Store, list[Store]]:
    """(the store new results go to, the stores read in order): results/ alone, or a run-local store after it."""
    run = os.environ.get(RUN_STORE_ENV)
    if run:
        local = Store(Path(run))
        return local, [Store(RESULTS), local]
    return Store(RESULTS), [Store(RESULTS)]


def find(study: str, task: dict[str, Any]) -> tuple[Store, str] | None:
    """The store holding `task`, with its key (None when no store has it)."""
    key = task_key(study, task)
    for store in stores()[1]:
        if store.has(study, key):
            return store, key
    return None


def compute(study: str, task: dict[str, Any], store: Store, device: str = "cpu") -> str:
    """Compute one task into `store` (one CPU thread, as every chapter runs); returns its key."""
    import torch

    from vqlib.checks import resolve_device

    torch.set_num_threads(1)
    key = task_key(study, task)
    start = time.perf_counter()
    tables = study_module(study).compute(task, resolve_device(device))
    store.write(study, key, task, tables, time.perf_counter() - start)
    return key


def load(study: str, params: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Every table of `study` at the chapter parameters `params`: the tasks' rows concatenated in task order.

    Missing tasks are computed here, one after another (`make results` computes them in parallel first).
    """
    write_to, _ = stores()
    parts: dict[str, list[pd.DataFrame]] = {}
    for task in study_tasks(study, params):
        hit = find(study, task)
        if hit is None:
            if os.environ.get(READONLY_ENV) == "1":
                raise StaleResults(f"results/ has no stored {study} task {task}: run `make results`")
            hit = (write_to, compute(study, task, write_to, params.get("device", "cpu")))
        for name, frame in hit[0].read(study, hit[1]).items():
            parts.setdefault(name, []).append(frame)
    return {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}


def meta(study: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The stored record (meta.json: machine, versions, wall time, ...) of the first task of `study` at `params`.

    E.g. results.meta("cost", globals())["machine"]: the machine whose timings a chapter shows.
    """
    task = study_tasks(study, params)[0]
    hit = find(study, task)
    if hit is None:
        raise StaleResults(f"no store holds the {study} task {task}: load it first (results.load)")
    return hit[0].meta(study, hit[1])


def compute_seconds() -> dict[str, float]:
    """Wall seconds each study's stored tasks in results/ took to compute, by study (every chapter's, book order)."""
    store, out = Store(RESULTS), {}
    for study in dict.fromkeys(s for studies in CHAPTERS.values() for s in studies):
        out[study] = sum(store.meta(study, k)["wall_seconds"] for k in store.keys(study))
    return out
