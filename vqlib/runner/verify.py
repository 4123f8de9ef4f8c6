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
import os
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
    "re-drawn": ("on another processor or instruction set, a row (one seed of one setting) whose floats do not all "
                 "reproduce was sent down another path by a near-tie: it passes when every float of it lies inside the "
                 "stored seeds' spread for its group (their 99.9 % prediction interval, widened to the range the stored "
                 "seeds span where a skewed column's extreme seed lies outside it); the count of such rows is printed. On the "
                 "processor that computed the store, at its full instruction set, no row may be re-drawn"),
    "exact": "text, boolean and integer columns (labels, seeds, steps, counts of deterministic runs): equal",
    "spread": ("a study's SPREAD columns (chaotic: dead codes, steps to a target): inside the stored seeds' spread of the "
               "same row group (as for a re-drawn row), widened by 1 for integer columns"),
    "unverified": ("a study's UNVERIFIED columns (timings; one seed's coordinates drawn only in a figure): machine-local "
                   "or illustrative, never compared"),
}
RTOL, ATOL, PI_LEVEL = 1e-3, 1e-9, 0.999
#: The variables that hold the numeric libraries to another instruction set (the Makefile's RESTRICTED).
ISA_ENV = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


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


def compare(stored: pd.DataFrame, fresh: pd.DataFrame, spread: set[str], unverified: set[str], rtol: float = RTOL,
            redraw: bool = False) -> tuple[int, list[str], int]:
    """(values compared, problems, rows re-drawn) between a stored table and its recomputation, by TOLERANCE.

    With `redraw` (another machine or instruction set), a row whose floats do not all reproduce within `rtol` is a
    seed sent down another path by a near-tie: it passes when each of its floats lies inside the stored seeds' spread.
    """
    if list(stored.columns) != list(fresh.columns) or len(stored) != len(fresh):
        return 0, [f"shape or columns differ: stored {stored.shape} {list(stored.columns)}, fresh {fresh.shape} {list(fresh.columns)}"], 0
    ids = _ids(stored, spread | unverified)
    cols = [c for c in stored.columns if c not in unverified]
    close, within = {}, {}
    for col in cols:
        a, b = stored[col], fresh[col]
        if col in spread or pd.api.types.is_float_dtype(a):
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                close[col] = (x == y) | (np.abs(y - x) <= rtol * np.maximum(np.abs(x), np.abs(y)) + ATOL) | (np.isnan(x) & np.isnan(y))
                low, high = _prediction_band(stored, col, ids)
                within[col] = close[col] | ((y >= low) & (y <= high))
        else:
            close[col] = within[col] = ((a == b) | (a.isna() & b.isna())).to_numpy()
    exact = [c for c in cols if c not in within or not (c in spread or pd.api.types.is_float_dtype(stored[c]))]
    floats = [c for c in close if c not in exact]
    row_close = np.logical_and.reduce([close[c] for c in floats]) if floats else np.ones(len(stored), bool)
    row_within = np.logical_and.reduce([within[c] for c in floats]) if floats else np.ones(len(stored), bool)
    redrawn = ~row_close & row_within if redraw else np.zeros(len(stored), bool)
    problems = []
    for col in cols:
        ok = close[col] | (within[col] & (redrawn | (col in spread)))
        bad = ~ok
        for i in np.flatnonzero(bad)[:3]:
            problems.append(f"{col} row {i} ({', '.join(f'{c}={stored[c].iloc[i]}' for c in ids[:4])}): "
                            f"stored {stored[col].iloc[i]!r}, fresh {fresh[col].iloc[i]!r}")
        if bad.sum() > 3:
            problems.append(f"{col}: {int(bad.sum()) - 3} more")
    if redraw and redrawn.any():  # re-drawn seeds must not shift their group: means within twice the CI half-width
        problems += _group_shift(stored, fresh, floats, ids)
    return len(stored) * len(cols), problems, int(redrawn.sum())


def _group_shift(stored: pd.DataFrame, fresh: pd.DataFrame, floats: list[str], ids: list[str]) -> list[str]:
    """Groups whose fresh mean moved by more than twice the stored mean's 95 % CI half-width (the book's rule)."""
    out = []
    key = [stored[c] for c in ids] if ids else np.zeros(len(stored))
    for col in floats:
        g_old, g_new = stored[col].groupby(key, dropna=False), fresh[col].groupby(key, dropna=False)
        n, sd = g_old.count(), g_old.std().fillna(0.0)
        half = sps.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1))
        moved = (g_new.mean() - g_old.mean()).abs() > 2 * half + ATOL + RTOL * g_old.mean().abs()
        out += [f"{col} mean of group {k}: stored {g_old.mean()[k]:.6g}, fresh {g_new.mean()[k]:.6g} "
                f"(allowed ±{2 * half[k]:.3g})" for k in moved[moved].index[:3]]
    return out


def _prediction_band(stored: pd.DataFrame, col: str, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the seeds' spread of its group (same ids): the PI_LEVEL prediction interval of a new seed, widened to the
    range the stored seeds span (a normal interval misses a skewed column's extreme seeds, e.g. a learned angle)."""
    groups = stored.groupby(ids, dropna=False, sort=False)[col] if ids else stored.groupby(np.zeros(len(stored)))[col]
    mean, sd, n = groups.transform("mean"), groups.transform("std").fillna(0.0), groups.transform("count")
    t = sps.t.ppf(0.5 + PI_LEVEL / 2, np.maximum(n - 1, 1))
    half = t * sd * np.sqrt(1 + 1 / np.maximum(n, 1))
    low, high = np.minimum(mean - half, groups.transform("min")), np.maximum(mean + half, groups.transform("max"))
    if pd.api.types.is_integer_dtype(stored[col]) or np.allclose(stored[col].dropna() % 1, 0):
        low, high = low - 1.0, high + 1.0
    return low.to_numpy(dtype=float), high.to_numpy(dtype=float)


def _for(columns: set[str], table: str) -> set[str]:
    """The declared columns that apply to `table`: plain names everywhere, 'table.column' in that table only."""
    return {c for c in columns if "." not in c} | {c.split(".", 1)[1] for c in columns if c.startswith(f"{table}.")}


def same_machine(meta: dict) -> bool:
    """Whether this is the processor that computed a stored task, at its full instruction set: then every value
    must reproduce (no seed may be re-drawn)."""
    from vqlib.store import _cpu_name

    return meta.get("machine", "").endswith(_cpu_name()) and not any(os.environ.get(k) for k in ISA_ENV)


def reproduce(store: Store, task: Task) -> tuple[int, list[str], int]:
    """Recompute one stored task into a temporary store and compare every table; (values, problems, rows re-drawn)."""
    module = results.study_module(task.study)
    spread, unverified = set(getattr(module, "SPREAD", ())), set(getattr(module, "UNVERIFIED", ()))
    with tempfile.TemporaryDirectory(prefix="vqlib-verify-") as tmp:
        scratch = Store(Path(tmp))
        results.compute(task.study, task.params, scratch)
        fresh, stored = scratch.read(task.study, task.key), store.read(task.study, task.key)
    if list(fresh) != list(stored):
        return 0, [f"tables differ: stored {list(stored)}, fresh {list(fresh)}"], 0
    redraw = not same_machine(store.meta(task.study, task.key))
    n, problems, redrawn = 0, [], 0
    for name in stored:
        k, found, r = compare(stored[name], fresh[name], _for(spread, name), _for(unverified, name), redraw=redraw)
        n, redrawn = n + k, redrawn + r
        problems += [f"{name}: {p}" for p in found]
    return n, problems, redrawn


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
    total = total_redrawn = 0
    for t in chosen:
        n, found, redrawn = reproduce(store, t)
        total, total_redrawn = total + n, total_redrawn + redrawn
        drawn = f", {redrawn} rows re-drawn within the seeds' spread" if redrawn else ""
        print(f"  {t.label()}: {n} values, {'reproduced' if not found else f'{len(found)} beyond tolerance'}{drawn}")
        problems += [f"{t.label()}: {p}" for p in found]
        for p in found:
            print(f"    - {p}")
    if left:
        print(f"  not recomputed (over the {args.budget:g} s budget): {', '.join(t.label() for t in left)}")
    print(f"verify: compared {total} values of {len(chosen)} recomputed tasks ({total_redrawn} rows re-drawn): "
          f"{'all within tolerance' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
