"""Parameter sweeps of a chapter, and the book's chapters executed in parallel, on dask.distributed.

    python -m vqlib.run book/testbed.md --sweep sweep.yaml                # LocalCluster: one worker per core
    python -m vqlib.run book/testbed.md --sweep sweep.yaml --workers 2
    python -m vqlib.run book/testbed.md --sweep sweep.yaml --scheduler tcp://host:8786
    python -m vqlib.run --canonical --jobs 2                              # make book: stale chapters in parallel

A sweep file is a YAML grid (parameter: list of values; the points are the product) or a list of
parameter mappings. Every point is checked before anything executes; each is then an ordinary re-run
(:func:`vqlib.run.rerun`: its own runs/<chapter>-<hash>/, written atomically), and the combined tables,
figures and an index go to runs/sweep-<hash>/.
"""


from __future__ import annotations

import contextlib
import hashlib
import html
import io
import itertools
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vqlib.runner import chapters as run
from vqlib.runner.parallel import _short_error, dask_client, guard_kernel_start

# ---------------------------------------------------------------- the sweep file


def load_sweep(path: Path) -> list[dict[str, Any]]:
    """The points of a sweep file: a grid (name: list of values, their product) or a list of mappings."""
    path = Path(path)
    if not path.is_file():
        raise run.RunError(f"sweep file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise run.RunError(f"sweep file {str(path)!r} is not valid YAML: {exc}") from None
    shape = "a grid (parameter: [values, ...]) or a list of parameter mappings"
    if data is None or data == {} or data == []:
        raise run.RunError(f"sweep file {str(path)!r} is empty: the grid has no points; give {shape}")
    if isinstance(data, dict):
        for name, values in data.items():
            if not isinstance(values, list):
                raise run.RunError(
                    f"sweep file {str(path)!r}: grid value of {name!r} must be a list of values, got "
                    f"{type(values).__name__} {values!r} (write {name}: [{values!r}] for one value)"
                )
            if not values:
                raise run.RunError(f"sweep file {str(path)!r}: {name!r} has an empty list, so the grid has no points")
        names = list(data)
        return [dict(zip(names, combo)) for combo in itertools.product(*(data[n] for n in names))]
    if isinstance(data, list):
        for i, point in enumerate(data):
            if not isinstance(point, dict):
                raise run.RunError(
                    f"sweep file {str(path)!r}: point {i} must be a mapping of parameter: value, got {type(point).__name__} {point!r}"
                )
        return [dict(p) for p in data]
    raise run.RunError(f"sweep file {str(path)!r} must hold {shape}, got {type(data).__name__} {data!r}")


def validate(chapter: Path, points: list[dict[str, Any]], shown: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every point's full parameters (checked by run.resolve_params); the first bad or duplicate point stops all.

    Errors name the point by its index and its values as `shown` gives them (default: the points themselves).
    """
    defaults = run.chapter_defaults(run.read_chapter(chapter))
    shown = points if shown is None else shown
    fulls: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, overrides in enumerate(points):
        point = shown[i]
        try:
            full = run.resolve_params(defaults, overrides)
        except run.RunError as exc:
            raise run.RunError(f"sweep point {i} {_flow(point)}: {exc}") from None
        key = run.params_hash(full)
        if key in seen:
            raise run.RunError(
                f"sweep point {i} {_flow(point)} duplicates point {seen[key]} {_flow(shown[seen[key]])}: both give the same parameters"
            )
        seen[key] = i
        fulls.append(full)
    return fulls


def _flow(point: dict[str, Any]) -> str:
    """A point as one line of YAML: {K: 8, seeds: 2}."""
    return yaml.safe_dump(point, default_flow_style=True, sort_keys=False, width=10_000).strip()


def swept_names(points: list[dict[str, Any]]) -> list[str]:
    """The parameters a sweep file sets, in order of first appearance."""
    return list(dict.fromkeys(name for p in points for name in p))


def sweep_hash(chapter: Path, fulls: list[dict[str, Any]]) -> str:
    """Short hash of a sweep: the chapter's name and every point's full parameters, in order."""
    return hashlib.sha256(json.dumps([Path(chapter).stem, fulls], sort_keys=True).encode()).hexdigest()[:10]


def run_folder(chapter: Path, full: dict[str, Any], runs_dir: Path) -> Path:
    """Where run.rerun puts a point (runs/<chapter>-<hash of its parameters>/)."""
    return Path(runs_dir) / f"{Path(chapter).stem}-{run.params_hash(full)}"


def is_complete(folder: Path, full: dict[str, Any]) -> bool:
    """A point is complete when its run folder exists and its params.yaml holds exactly its parameters."""
    params = folder / "params.yaml"
    return params.is_file() and run.load_params_file(params) == full


# ---------------------------------------------------------------- sweeps


@dataclass
class PointResult:
    """What became of one sweep point."""

    index: int
    point: dict[str, Any]  # as the sweep file gives it
    overrides: dict[str, Any]  # what the run gets: the base parameters (-f/-p) with the point on top
    params: dict[str, Any]
    folder: Path
    status: str  # "done" (executed now), "skipped" (already complete), "failed"
    error: str = ""
    seconds: float = 0.0


@dataclass
class SweepResult:
    """A finished sweep: every point's result and the combined folder."""

    points: list[PointResult]
    combined: Path
    seconds: float
    failed: list[PointResult] = field(default_factory=list)


def run_point(chapter: str, overrides: dict[str, Any], runs_dir: str) -> dict[str, Any]:
    """Worker side of a sweep: one ordinary re-run; any failure comes back as text (the point's temp folder is gone)."""
    guard_kernel_start()
    os.environ["VQLIB_PROGRESS"] = "0"
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            folder = run.rerun(Path(chapter), overrides, Path(runs_dir))
    except Exception as exc:  # noqa: BLE001 - reported per point; the other points go on
        return {"folder": None, "error": _short_error(exc), "seconds": time.perf_counter() - start}
    return {"folder": str(folder), "error": "", "seconds": time.perf_counter() - start}


def run_sweep(
    chapter: Path,
    points: list[dict[str, Any]],
    runs_dir: Path,
    scheduler: str | None = None,
    workers: int | None = None,
    base: dict[str, Any] | None = None,
) -> SweepResult:
    """Check every point, execute the incomplete ones on Dask, then write runs/sweep-<hash>/ from all of them.

    `base` parameters (the command line's -f/-p) apply to every point; a point's own values win.
    """
    start = time.perf_counter()
    chapter = Path(chapter).resolve()
    run.check_runs_dir(runs_dir)
    if workers is not None and workers < 1:
        raise run.RunError(f"--workers must be at least 1, got {workers}")
    overrides = [{**(base or {}), **p} for p in points]
    fulls = validate(chapter, overrides, points)
    runs_dir = Path(runs_dir).resolve()
    results = [PointResult(i, p, o, f, run_folder(chapter, f, runs_dir), "skipped") for i, (p, o, f) in enumerate(zip(points, overrides, fulls))]
    todo = [r for r in results if not is_complete(r.folder, r.params)]
    if todo:
        _execute_points(chapter, todo, len(results), runs_dir, scheduler, workers)
    combined = combine(chapter, results, runs_dir)
    failed = [r for r in results if r.status == "failed"]
    return SweepResult(results, combined, time.perf_counter() - start, failed)


def _execute_points(chapter: Path, todo: list[PointResult], total: int, runs_dir: Path, scheduler: str | None, workers: int | None) -> None:
    """Submit the points, follow them with a progress bar, fill in each result; Ctrl-C cancels what is left."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    runs_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=total, initial=total - len(todo), unit="point", desc=f"sweep {chapter.stem}", disable=not run.show_progress())
    futures = {}
    try:
        with dask_client(scheduler, workers if scheduler is None else None) as client:
            futures = {client.submit(run_point, str(chapter), r.overrides, str(runs_dir), pure=False): r for r in todo}
            for future in as_completed(futures):
                r = futures[future]
                out = future.result() if future.status == "finished" else {"folder": None, "error": _short_error(future.exception()), "seconds": 0.0}
                r.seconds = out["seconds"]
                if out["error"]:
                    r.status, r.error = "failed", out["error"]
                    bar.write(f"point {r.index} {_flow(r.point)} failed: {r.error}")
                else:
                    r.status = "done"
                bar.update(1)
    except KeyboardInterrupt:
        if scheduler is None:  # the local workers are gone: remove what they left half-written
            for r in todo:
                for tmp in runs_dir.glob(f".{r.folder.name}-*"):
                    shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()


# ---------------------------------------------------------------- the combined result


def combine(chapter: Path, results: list[PointResult], runs_dir: Path) -> Path:
    """Write runs/sweep-<hash>/ atomically: tables concatenated per name with the swept parameters as columns,
    a figure per headline metric (<col>_mean/_low/_high) against the swept parameter, and index.html."""
    import pandas as pd

    chapter = Path(chapter)
    final = Path(runs_dir) / f"sweep-{sweep_hash(chapter, [r.params for r in results])}"
    names = swept_names([r.point for r in results])
    done = [r for r in results if r.status != "failed" and is_complete(r.folder, r.params)]
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=runs_dir))
    try:
        (tmp / "tables").mkdir()
        points = [{"index": r.index, "run": r.folder.name, "status": r.status, "error": r.error, "params": r.overrides} for r in results]
        (tmp / "points.yaml").write_text(yaml.safe_dump(points, sort_keys=False))
        frames: dict[str, list] = {}
        for r in done:
            for csv in sorted((r.folder / "tables").glob("*.csv")):
                try:
                    frame = pd.read_csv(csv)
                except pd.errors.EmptyDataError:  # a table with no columns (nothing was run for it at this point)
                    continue
                head = {n: _cell(r.params[n]) for n in names}
                head["run"] = r.folder.name
                frames.setdefault(csv.stem, []).append(frame.assign(**head)[[*head, *frame.columns]])
        figures = []
        for name, parts in frames.items():
            table = pd.concat(parts, ignore_index=True)
            table.to_csv(tmp / "tables" / f"{name}.csv", index=False)
            figures += plot_metrics(table, name, names, tmp / "figures")
        (tmp / "index.html").write_text(_index_html(chapter, results, names, sorted(frames), figures))
        if final.exists():  # a resumed sweep: replace the old combined folder
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}-old-", dir=runs_dir))
            final.rename(old / final.name)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _cell(value: Any) -> Any:
    """A parameter value as a table cell: lists as one-line YAML ([ste, rotation_trick])."""
    return _flow(value) if isinstance(value, (list, tuple, dict)) else value


def headline_metrics(columns) -> list[str]:
    """Metrics a table gives with a confidence interval: every <col> with <col>_mean, <col>_low and <col>_high."""
    cols = set(columns)
    return [c[: -len("_mean")] for c in columns if c.endswith("_mean") and {c[:-5] + "_low", c[:-5] + "_high"} <= cols]


def plot_metrics(table, name: str, swept: list[str], folder: Path) -> list[Path]:
    """One PNG per headline metric of a combined table: mean against the first varying swept parameter, a 95 %
    band from low to high, one line per row label (the table's text columns) and per other swept values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    metrics = headline_metrics(table.columns)
    varying = [n for n in swept if table[n].nunique() > 1]
    if not metrics or not varying:
        return []
    x = varying[0]
    triplet_cols = {f"{m}_{k}" for m in metrics for k in ("mean", "low", "high")}
    labels = [c for c in table.columns if c not in triplet_cols and c not in swept and c != "run" and not pd.api.types.is_numeric_dtype(table[c])]
    groups = labels + varying[1:]
    numeric = pd.api.types.is_numeric_dtype(table[x])
    ticks = sorted(table[x].unique(), key=lambda v: (str(type(v)), v))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for metric in metrics:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for key, sub in (table.groupby(groups, sort=False) if groups else [((), table)]):
            sub = sub.sort_values(x)
            xs = sub[x].to_numpy() if numeric else [ticks.index(v) for v in sub[x]]
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{g}={k}" if g in swept else str(k) for g, k in zip(groups, key)) or None
            (line,) = ax.plot(xs, sub[f"{metric}_mean"], marker="o", label=label)
            ax.fill_between(xs, sub[f"{metric}_low"], sub[f"{metric}_high"], color=line.get_color(), alpha=0.2, lw=0)
        if not numeric:
            ax.set_xticks(range(len(ticks)), [str(t) for t in ticks])
        elif len(ticks) <= 12:
            ax.set_xticks(ticks)
        ax.set(xlabel=x, ylabel=f"{metric} (mean, 95 % CI)", title=f"{name}: {metric}")
        if groups:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
        path = folder / f"{name}--{metric}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def _index_html(chapter: Path, results: list[PointResult], names: list[str], tables: list[str], figures: list[Path]) -> str:
    """The sweep's index page: each point (parameters, status, link to its rendered chapter), tables, figures."""
    esc = html.escape
    rows = []
    for r in results:
        cells = "".join(f"<td>{esc(str(_cell(r.params[n])))}</td>" for n in names)
        if r.status == "failed":
            link = f"failed: {esc(r.error)}"
        else:
            link = f'<a href="../{esc(r.folder.name)}/{esc(chapter.stem)}.html">{esc(r.folder.name)}</a> ({r.status})'
        rows.append(f"<tr><td>{r.index}</td>{cells}<td>{link}</td></tr>")
    head = "".join(f"<th>{esc(n)}</th>" for n in names)
    table_links = "".join(f'<li><a href="tables/{esc(t)}.csv">{esc(t)}.csv</a></li>' for t in tables)
    imgs = "".join(f'<figure><img src="figures/{esc(p.name)}" alt="{esc(p.stem)}"><figcaption>{esc(p.stem)}</figcaption></figure>' for p in figures)
    n_failed = sum(r.status == "failed" for r in results)
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Sweep of {esc(chapter.stem)}</title></head><body>\n"
        f"<h1>Sweep of {esc(chapter.stem)}: {len(results)} points, {n_failed} failed</h1>\n"
        f"<table border='1'><tr><th>point</th>{head}<th>run</th></tr>\n" + "\n".join(rows) + "</table>\n"
        f"<h2>Tables (every point's rows, swept parameters first)</h2><ul>{table_links}</ul>\n"
        f"<h2>Figures</h2>{imgs}\n</body></html>\n"
    )


# ---------------------------------------------------------------- command line (called from vqlib.run)


def main(chapter: Path, sweep_file: Path, base: dict[str, Any], runs_dir: Path, scheduler: str | None, workers: int | None) -> int:
    """`python -m vqlib.run <chapter> --sweep FILE`: base parameters (-f/-p) under every point; 1 if a point failed."""
    result = run_sweep(chapter, load_sweep(sweep_file), runs_dir, scheduler, workers, base)
    counts = {s: sum(r.status == s for r in result.points) for s in ("done", "skipped", "failed")}
    print(
        f"sweep of {len(result.points)} points in {result.seconds:.1f} s: {counts['done']} executed, "
        f"{counts['skipped']} already complete, {counts['failed']} failed"
    )
    for r in result.failed:
        print(f"  point {r.index} {_flow(r.point)}: {r.error}")
    print(f"combined result written to {result.combined}")
    return 1 if result.failed else 0
