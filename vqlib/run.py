"""Run chapters: re-run one with new parameters into runs/, or execute the book's chapters in place.

    python -m vqlib.run book/testbed.md -p K 64 -p seeds 10      # -> runs/testbed-<hash>/
    python -m vqlib.run book/testbed.md -f params.yaml
    python -m vqlib.run --canonical                               # make book: stale chapters only
    python -m vqlib.run book/testbed.md --sweep sweep.yaml        # a grid of runs on Dask (vqlib.runner.sweep)

The command line only: the work is done by vqlib.runner (chapters, book, sweep, parallel, compute).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from vqlib.runner.book import canonical
from vqlib.runner.chapters import RunError, chapter_sources, load_params_file, parse_value, rerun


def _terminate(signum, frame) -> None:
    """SIGTERM ends the run like Ctrl-C: cleanup (the temporary folder) still runs."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vqlib.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", nargs="?", help="the chapter's .md file, e.g. book/testbed.md")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="set a parameter (value read as YAML)")
    parser.add_argument("-f", metavar="FILE", help="YAML file of parameters (-p wins over it)")
    parser.add_argument("--runs-dir", default="runs", help="where re-runs go (default: runs/)")
    parser.add_argument("--canonical", action="store_true", help="execute the book's chapters in place where stale")
    parser.add_argument("--force", action="store_true", help="with --canonical: execute even if up to date")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="with --canonical: chapters executed at once (Dask LocalCluster)")
    parser.add_argument("--sweep", metavar="FILE", help="YAML grid (name: [values]) or list of parameter sets: a run per point (vqlib.sweep)")
    parser.add_argument("--workers", type=int, metavar="N", help="with --sweep: local Dask worker processes (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="with --sweep: run on an existing Dask cluster, e.g. tcp://host:8786")
    args = parser.parse_args(argv)
    if argv is None:  # the command line, not a test calling main()
        signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.canonical:
            canonical([Path(args.chapter)] if args.chapter else chapter_sources(), args.force, args.jobs)
            return 0
        if not args.chapter:
            parser.error("give a chapter (e.g. book/testbed.md) or --canonical")
        overrides = load_params_file(Path(args.f)) if args.f else {}
        overrides.update({name: parse_value(v) for name, v in args.p})
        if args.sweep:
            from vqlib.runner import sweep

            return sweep.main(Path(args.chapter), Path(args.sweep), overrides, Path(args.runs_dir), args.scheduler, args.workers)
        folder = rerun(Path(args.chapter), overrides, Path(args.runs_dir))
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the run in progress was not written; earlier outputs are untouched", file=sys.stderr)
        return 130
    print(f"run written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
