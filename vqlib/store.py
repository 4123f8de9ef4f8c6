"""The results store: every task's tables on disk, keyed on what can change them (content-addressed).

A task is (study, task parameters). Its key hashes the study name, the task's parameters, the source of the
study's module and of every vqlib module it imports (transitively, by content) and `requirements.txt`;
nothing else, so editing a chapter's prose, `report` or `plotting` leaves the store fresh. A stored task is
a folder `<root>/<study>/<key>/` holding one Parquet file per table and `meta.json` (parameters, package
versions, wall time, machine). It is written into a hidden temporary folder and renamed into place, so an
interrupted computation never leaves a half-written result.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
#: The committed store: the results every chapter of the book renders from.
RESULTS = ROOT / "results"
REQUIREMENTS = ROOT / "requirements.txt"
VQLIB = Path(__file__).resolve().parent


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces: the same parameters always give the same text (and key)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=float)


def _module_path(name: str) -> Path | None:
    """The file of vqlib module `name` (None when it is not a vqlib module or does not exist)."""
    if not name.startswith("vqlib"):
        return None
    parts = name.split(".")[1:]
    base = VQLIB.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(path: Path) -> set[str]:
    """vqlib modules imported anywhere in the file at `path` (top level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("vqlib"):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("vqlib"))
    return {n for n in names if _module_path(n) is not None}


@lru_cache(maxsize=None)
def code_files(module: str) -> tuple[str, ...]:
    """The vqlib module `module` and every vqlib module it imports, transitively (sorted module names)."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen or _module_path(name) is None:
            continue
        seen.add(name)
        todo.extend(_imports(_module_path(name)))
    return tuple(sorted(seen))


def code_hashes(module: str) -> dict[str, str]:
    """{module name: sha256 of its source} for `module` and its vqlib imports, plus requirements.txt."""
    out = {name: hashlib.sha256(_module_path(name).read_bytes()).hexdigest() for name in code_files(module)}
    out["requirements.txt"] = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    return out


def task_key(study: str, task: dict[str, Any]) -> str:
    """The content key of one task: study, parameters, and the code and pinned software it runs."""
    text = canonical_json({"study": study, "task": task, "code": code_hashes(f"vqlib.studies.{study}")})
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def file_hash(path: Path) -> str:
    """sha256 of a stored file: meta.json records it, so an edited table is found without recomputing it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Store:
    """A folder of stored tasks: `<root>/<study>/<key>/{meta.json, <table>.parquet}`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, study: str, key: str) -> Path:
        return self.root / study / key

    def has(self, study: str, key: str) -> bool:
        return (self.path(study, key) / "meta.json").is_file()

    def meta(self, study: str, key: str) -> dict[str, Any]:
        return json.loads((self.path(study, key) / "meta.json").read_text())

    def read(self, study: str, key: str) -> dict[str, pd.DataFrame]:
        """Every table of a stored task, by name (in the order it was stored)."""
        names = self.meta(study, key)["tables"]
        return {n: pd.read_parquet(self.path(study, key) / f"{n}.parquet") for n in names}

    def write(self, study: str, key: str, task: dict[str, Any], tables: dict[str, pd.DataFrame], seconds: float) -> Path:
        """Store a task's tables atomically (temporary folder, then rename); replaces an older copy of the key."""
        final = self.path(study, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
        try:
            for name, frame in tables.items():
                frame.reset_index(drop=True).to_parquet(tmp / f"{name}.parquet", index=False)
            meta = _meta(study, key, task, list(tables), seconds)
            meta["sha256"] = {n: file_hash(tmp / f"{n}.parquet") for n in tables}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
            if final.exists():  # FORCE: move the old copy aside first, so one of the two is always complete
                old = Path(tempfile.mkdtemp(prefix=f".old-{key}-", dir=final.parent))
                os.rename(final, old / "x")
                os.rename(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def keys(self, study: str) -> list[str]:
        """Keys of the complete tasks stored for `study`."""
        d = self.root / study
        return sorted(p.name for p in d.iterdir() if not p.name.startswith(".") and (p / "meta.json").is_file()) if d.is_dir() else []


def _meta(study: str, key: str, task: dict[str, Any], tables: list[str], seconds: float) -> dict[str, Any]:
    """What a stored task records besides its tables: inputs, software, machine and cost."""
    from importlib.metadata import version

    return {
        "study": study,
        "key": key,
        "task": json.loads(canonical_json(task)),
        "tables": tables,
        "code": code_hashes(f"vqlib.studies.{study}"),
        "versions": {p: version(p) for p in ("torch", "numpy", "pandas", "pyarrow") if importlib.util.find_spec(p.replace("-", "_"))},
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {_cpu_name()}",
        "wall_seconds": round(seconds, 3),
    }


def _cpu_name() -> str:
    """The processor's model name (Linux), for the record of where a result was computed."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
