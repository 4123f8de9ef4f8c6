"""`make verify`: prove that the committed results are fresh and that a sample of them reproduces on this machine.

    python -m vqlib.runner.verify                 # integrity of every stored task + recompute a sample
    python -m vqlib.runner.verify --budget 120    # seconds of (stored) compute time the sample may cost

Two checks:
1. *Integrity*, every task: each canonical task (vqlib.runner.compute) is stored; each stored folder's key is
   the key of its recorded parameters under the current code (a task whose module, imports, parameters or
   requirements.txt changed is stale); each table's sha256 matches the one recorded when it was written.
2. *Reproduction*, a deterministic sample: per study and regime the cheapest stored task, cheapest first,
   while the stored wall times fit the budget. Each is recomputed into a temporary store and compared with
   the stored tables, value by value, by kind (`TOLERANCE` below).

`make verify` runs it natively and under the restricted instruction set at once; both must pass.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from vqlib import results
from vqlib.runner.compute import Task, canonical_tasks
from vqlib.store import RESULTS, Store, file_hash, task_key

#: How a recomputed value is compared with the stored one, by kind of column (stated once, here).
TOLERANCE = {
    "smooth": "float columns: |fresh − stored| ≤ 1e-3·max(|fresh|, |stored|) + 1e-9",
    "exact": "text, boolean and integer columns (labels, seeds, steps, counts of deterministic runs): equal",
    "spread": ("a study's SPREAD columns (chaotic: dead codes, steps to a target): inside the 99.9 % prediction "
               "interval of the stored seeds of the same row group, widened by 1 for integer columns"),
    "unverified": "a study's UNVERIFIED columns (timings): machine-local, never compared",
}
RTOL, ATOL, PI_LEVEL = 1e-3, 1e-9, 0.999


def integrity(store: Store, tasks: list[Task]) -> list[str]:
    """Every problem with the stored tasks: missing, stale (key ≠ inputs), or a table whose bytes changed."""
    problems = [f"{t.label()}: not stored (run `make results`)" for t in tasks if not store.has(t.study, t.key)]
    for study in sorted({t.study for t in tasks}):
        for key in store.keys(study):
            meta = store.meta(study, key)
            if task_key(study, meta["task"]) != key or meta.get("key") != key:
                problems.append(f"{study}/{key}: its key does not match its inputs (code, parameters or requirements changed)")
            for name, digest in meta.get("sha256", {}).items():
                if file_hash(store.path(study, key) / f"{name}.parquet") != digest:
                    problems.append(f"{study}/{key}/{name}.parquet: changed since it was computed")
    return problems


def sample(store: Store, tasks: list[Task], budget: float) -> tuple[list[Task], list[Task]]:
    """(chosen, left out): the cheapest stored task per (study, regime), cheapest first, within `budget` seconds."""
    best: dict[tuple[str, str], tuple[float, Task]] = {}
    for t in tasks:
        if not store.has(t.study, t.key):
            continue
        cost = store.meta(t.study, t.key)["wall_seconds"]
        group = (t.study, str(t.params.get("regime", "")))
        if group not in best or cost < best[group][0]:
            best[group] = (cost, t)
    chosen, left, spent = [], [], 0.0
    for cost, t in sorted(best.values(), key=lambda ct: (ct[0], ct[1].study, ct[1].key)):
        if spent + cost <= budget or not chosen:
            chosen.append(t)
            spent += cost
        else:
            left.append(t)
    return chosen, left


def _ids(frame: pd.DataFrame, skip: set[str]) -> list[str]:
    """The identifier columns of a table: every non-float column except `skip` and the seed."""
    return [c for c in frame.columns if c not in skip and c != "seed" and not pd.api.types.is_float_dtype(frame[c])]


def compare(stored: pd.DataFrame, fresh: pd.DataFrame, spread: set[str], unverified: set[str], rtol: float = RTOL) -> tuple[int, list[str]]:
    """(values compared, problems) between a stored table and its recomputation, by TOLERANCE (floats within `rtol`)."""
    if list(stored.columns) != list(fresh.columns) or len(stored) != len(fresh):
        return 0, [f"shape or columns differ: stored {stored.shape} {list(stored.columns)}, fresh {fresh.shape} {list(fresh.columns)}"]
    problems, n = [], 0
    ids = _ids(stored, spread | unverified)
    for col in stored.columns:
        if col in unverified:
            continue
        a, b = stored[col], fresh[col]
        if col in spread or pd.api.types.is_float_dtype(a):
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                ok = (x == y) | (np.abs(y - x) <= rtol * np.maximum(np.abs(x), np.abs(y)) + ATOL) | (np.isnan(x) & np.isnan(y))
            if col in spread:  # a new draw of a chaotic quantity: anywhere the stored seeds' spread allows
                low, high = _prediction_band(stored, col, ids)
                ok |= (y >= low) & (y <= high)
            bad = ~ok
        else:
            bad = ~((a == b) | (a.isna() & b.isna())).to_numpy()
        n += len(a)
        for i in np.flatnonzero(bad)[:3]:
            problems.append(f"{col} row {i} ({', '.join(f'{c}={stored[c].iloc[i]}' for c in ids[:4])}): stored {a.iloc[i]!r}, fresh {b.iloc[i]!r}")
        if bad.sum() > 3:
            problems.append(f"{col}: {int(bad.sum()) - 3} more")
    return n, problems


def _prediction_band(stored: pd.DataFrame, col: str, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the PI_LEVEL prediction interval of a new seed from the stored seeds of its group (same ids)."""
    groups = stored.groupby(ids, dropna=False, sort=False)[col] if ids else stored.groupby(np.zeros(len(stored)))[col]
    mean, sd, n = groups.transform("mean"), groups.transform("std").fillna(0.0), groups.transform("count")
    t = sps.t.ppf(0.5 + PI_LEVEL / 2, np.maximum(n - 1, 1))
    half = t * sd * np.sqrt(1 + 1 / np.maximum(n, 1))
    if pd.api.types.is_integer_dtype(stored[col]) or np.allclose(stored[col].dropna() % 1, 0):
        half = half + 1.0
    return (mean - half).to_numpy(dtype=float), (mean + half).to_numpy(dtype=float)


def reproduce(store: Store, task: Task) -> tuple[int, list[str]]:
    """Recompute one stored task into a temporary store and compare every table; (values compared, problems)."""
    module = results.study_module(task.study)
    spread, unverified = set(getattr(module, "SPREAD", ())), set(getattr(module, "UNVERIFIED", ()))
    with tempfile.TemporaryDirectory(prefix="vqlib-verify-") as tmp:
        scratch = Store(Path(tmp))
        results.compute(task.study, task.params, scratch)
        fresh, stored = scratch.read(task.study, task.key), store.read(task.study, task.key)
    if list(fresh) != list(stored):
        return 0, [f"tables differ: stored {list(stored)}, fresh {list(fresh)}"]
    n, problems = 0, []
    for name in stored:
        k, found = compare(stored[name], fresh[name], spread, unverified)
        n += k
        problems += [f"{name}: {p}" for p in found]
    return n, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqlib.runner.verify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=120.0, help="stored compute seconds the recomputed sample may cost")
    parser.add_argument("--store", default=str(RESULTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    store, tasks = Store(Path(args.store)), canonical_tasks()
    problems = integrity(store, tasks)
    print(f"integrity: {len(tasks)} canonical tasks, {'all stored and fresh' if not problems else f'{len(problems)} problems'}")
    for p in problems:
        print(f"  - {p}")
    chosen, left = sample(store, tasks, args.budget)
    total = 0
    for t in chosen:
        n, found = reproduce(store, t)
        total += n
        print(f"  {t.label()}: {n} values, {'reproduced' if not found else f'{len(found)} beyond tolerance'}")
        problems += [f"{t.label()}: {p}" for p in found]
        for p in found:
            print(f"    - {p}")
    if left:
        print(f"  not recomputed (over the {args.budget:g} s budget): {', '.join(t.label() for t in left)}")
    print(f"verify: compared {total} values of {len(chosen)} recomputed tasks: "
          f"{'all within tolerance' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
