"""Chapters as notebooks: read a chapter and its parameters, execute it with papermill, re-run it into runs/.

A re-run writes into a temporary folder and renames it into place when complete, so an interrupted
run leaves nothing half-written and never touches book/, _build/ or another run.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

from vqlib import params as params_mod
from vqlib import reproduce

ROOT = Path(__file__).resolve().parent.parent.parent
VQLIB_DIR = ROOT / "vqlib"
#: The pinned software the outputs depend on: part of every chapter's inputs hash.
REQUIREMENTS = ROOT / "requirements.txt"
#: Seconds each chapter took at its last canonical execution on this machine (written by `make book`).
TIMINGS = ROOT / ".cache" / "execution-times.json"
#: Folders a re-run must never write into.
PROTECTED = ("book", "_build", "vqlib", "tests", ".cache")


class RunError(Exception):
    """A run that cannot start; the message says which parameter or path and what is allowed."""


def read_chapter(path: Path):
    """The chapter as a notebook object (jupytext reads MyST markdown)."""
    import jupytext

    path = Path(path)
    if not path.is_file():
        chapters = ", ".join(str(p.relative_to(ROOT)) for p in chapter_sources())
        raise RunError(f"chapter {str(path)!r} does not exist; chapters: {chapters}")
    if path.suffix != ".md":
        raise RunError(f"chapter must be the MyST .md file (the paired .ipynb is an output), got {str(path)!r}")
    return jupytext.read(path)


def chapter_defaults(nb) -> dict[str, Any]:
    """Defaults assigned in the chapter's cell tagged `parameters` (literal assignments only)."""
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise RunError(f"a chapter needs exactly one cell tagged 'parameters', found {len(cells)}")
    defaults = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            defaults[node.targets[0].id] = ast.literal_eval(node.value)
    return defaults


def chapter_sources() -> list[Path]:
    """Every jupytext-paired chapter under book/, in _toc.yml order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]) for c in part["chapters"]]
    out = []
    for f in files:
        md = (ROOT / f).with_suffix(".md")
        if md.is_file() and "formats: ipynb,md" in md.read_text():
            out.append(md)
    return out


class _Loader(yaml.SafeLoader):
    """YAML as people type parameters: 1e-3 and 5e4 are numbers (YAML 1.1 reads them as strings), and so are
    nan and inf (so the parameter check refuses them by name instead of calling them strings)."""


_NUMBER = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?(?:nan|inf|NaN|Inf|NAN|INF)$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _NUMBER, list("-+0123456789.niNI"))


def _float_or_int(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """An integer literal stays an int (64, 1_000); everything else matched by _NUMBER is a float."""
    text = loader.construct_scalar(node).replace("_", "")
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:  # YAML's own spellings: .nan, .inf, 1:30 (sexagesimal)
        return loader.construct_yaml_float(node)


_Loader.add_constructor("tag:yaml.org,2002:float", _float_or_int)


def load_yaml(text: str) -> Any:
    """Parse YAML with :class:`_Loader` (scientific notation, nan and inf read as numbers)."""
    return yaml.load(text, Loader=_Loader)


def parse_value(text: str) -> Any:
    """A command-line value as YAML: 64 -> int, 0.1 and 1e-3 -> float, [8, 16] -> list, cpu -> str."""
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise RunError(f"cannot read value {text!r}: {exc}") from None


def load_params_file(path: Path) -> dict[str, Any]:
    """Parameters from a YAML mapping file."""
    if not Path(path).is_file():
        raise RunError(f"params file {str(path)!r} does not exist")
    try:
        data = load_yaml(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise RunError(f"params file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RunError(f"params file {str(path)!r} must hold a mapping of parameter: value, got {type(data).__name__}")
    return data


def resolve_params(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Check overrides against the chapter's own parameters and the registry; return all parameters."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise RunError(f"unknown parameter(s) {unknown} for this chapter; allowed parameters: {sorted(defaults)}")
    try:
        return params_mod.check({**defaults, **overrides}, allowed=set(defaults))
    except (TypeError, ValueError) as exc:
        raise RunError(str(exc)) from None


def params_hash(params: dict[str, Any]) -> str:
    """Short hash of a parameter set (sorted JSON)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]


def inputs_hash(chapter: Path) -> str:
    """Hash of what a chapter's canonical outputs depend on: its source, every vqlib source file and requirements.txt.

    A chapter that reads the other chapters' executed notebooks (it calls `collect_claims`) also depends on
    their sources, which with vqlib determine those notebooks. The hash is recorded in the executed notebook
    (metadata vqbook.inputs_hash): committed notebooks are a cache keyed on it.
    """
    text = Path(chapter).read_bytes()
    h = hashlib.sha256(text)
    for src in sorted(VQLIB_DIR.rglob("*.py")):
        h.update(str(src.relative_to(VQLIB_DIR)).encode() + src.read_bytes())
    if REQUIREMENTS.is_file():
        h.update(b"requirements.txt" + REQUIREMENTS.read_bytes())
    for src in _stored_results(Path(chapter)):  # recomputed results make the notebook stale, even under the same keys
        h.update(str(src.relative_to(ROOT)).encode() + src.read_bytes())
    if b"collect_claims" in text:
        for other in chapter_sources():
            if other.resolve() != Path(chapter).resolve():
                h.update(other.name.encode() + other.read_bytes())
                for src in _stored_results(other):
                    h.update(str(src.relative_to(ROOT)).encode() + src.read_bytes())
    return h.hexdigest()[:16]


def _stored_results(chapter: Path) -> list[Path]:
    """The committed results files of the studies a chapter loads (vqlib.results.CHAPTERS), sorted."""
    from vqlib.results import CHAPTERS

    folders = [ROOT / "results" / study for study in CHAPTERS.get(chapter.stem, [])]
    return sorted(p for d in folders if d.is_dir() for p in d.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(d).parts))


def recorded_hash(ipynb: Path) -> str | None:
    """The inputs hash an executed notebook was made from (None when missing or unreadable)."""
    try:
        return json.loads(Path(ipynb).read_text())["metadata"]["vqbook"]["inputs_hash"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_stale(md: Path) -> bool:
    """A chapter needs executing when its notebook is missing or was made from other inputs."""
    return recorded_hash(Path(md).with_suffix(".ipynb")) != inputs_hash(md)


def show_progress() -> bool:
    """A progress bar on the command line: VQLIB_PROGRESS=1 forces it, =0 hides it; unset, only on a terminal."""
    flag = os.environ.get("VQLIB_PROGRESS")
    return flag == "1" if flag in ("0", "1") else sys.stderr.isatty()


def execute(nb, out_path: Path, parameters: dict[str, Any] | None, tables_dir: Path | None, cwd: Path, store: Path | None = None,
            reference: str | None = None) -> None:
    """Execute a notebook object with papermill into out_path (kernel: this Python).

    The command line shows papermill's cell-by-cell tqdm bar (see show_progress); the kernel always
    runs with VQLIB_PROGRESS=0, so no progress bar ever lands in a notebook's outputs.
    """
    import papermill
    from traitlets.config import Config

    # VQLIB_REPRODUCE_CHECK (vqlib.reproduce): unset, an execution that writes the committed notebook is its own reference;
    # `reference` "1" compares a re-run at the chapter's defaults with the committed notebook, "rerun" says a re-run at
    # other parameters has nothing to compare with. `store`: a re-run's own results store (vqlib.results): tasks
    # results/ lacks are computed there, never in results/.
    env = {"VQLIB_TABLES_DIR": str(tables_dir) if tables_dir is not None else None, "VQLIB_PROGRESS": "0", "VQLIB_REPRODUCE_CHECK": reference,
           "VQLIB_RESULTS": str(store.resolve()) if store is not None else None, "VQLIB_RESULTS_READONLY": None}
    before = {k: os.environ.get(k) for k in env}
    progress = show_progress()
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    # The kernel talks over IPC sockets in a private temporary folder instead of loopback TCP: nothing is
    # sent in plain text over a network interface (so ipykernel has no "running over TCP without encryption"
    # warning to print), and kernels started at once in parallel cannot collide on ports.
    sockets = tempfile.mkdtemp(prefix="vqlib-kernel-")
    config = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}})
    try:
        papermill.execute_notebook(
            nb,
            str(out_path),
            parameters=parameters or None,
            kernel_name="python3",
            cwd=str(cwd),
            progress_bar=progress,
            log_output=False,
            config=config,
        )
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def clean_metadata(path: Path, inputs: str) -> None:
    """Drop papermill's timestamps, give cells ids from their position and source (jupytext draws random
    ones), so re-executions diff cleanly; record the inputs hash."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    nb.metadata["vqbook"] = {"inputs_hash": inputs}
    for i, cell in enumerate(nb.cells):
        cell.id = hashlib.sha256(f"{i}:{cell.source}".encode()).hexdigest()[:8]
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if not cell.metadata.get("tags"):
            cell.metadata.pop("tags", None)
    nbformat.write(nb, path)


def render_html(ipynb: Path, html: Path) -> None:
    """One executed chapter as a standalone HTML page (nbconvert, outputs as executed)."""
    import nbconvert
    import nbformat

    with warnings.catch_warnings():
        # Glued values (myst-nb) are stored under application/papermill.record/* mimetypes, which only the book
        # renders; nbconvert warns once per glued value that it cannot show them. Those outputs are meant to be
        # invisible on the standalone page, so exactly that warning is silenced.
        warnings.filterwarnings("ignore", message=r"Your element with mimetype\(s\) dict_keys\(\['application/papermill\.record/", category=UserWarning)
        body, _ = nbconvert.HTMLExporter().from_notebook_node(nbformat.read(ipynb, as_version=4))
    html.write_text(body)


def check_runs_dir(runs_dir: Path) -> Path:
    """The folder re-runs go to: a folder (or not yet existing), never inside book/, _build/ or the library."""
    resolved = Path(runs_dir).resolve()
    for name in PROTECTED:
        if resolved == ROOT / name or (ROOT / name) in resolved.parents:
            raise RunError(f"--runs-dir must not be inside {name}/ (a re-run never writes there), got {str(runs_dir)!r}; use e.g. runs/")
    if resolved.exists() and not resolved.is_dir():
        raise RunError(f"--runs-dir {str(runs_dir)!r} is a file; it must be a folder (created if missing)")
    return Path(runs_dir)


def rerun(chapter: Path, overrides: dict[str, Any], runs_dir: Path) -> Path:
    """Execute a chapter with new parameters into runs/<chapter>-<hash>/ and return that folder.

    Its results are read from results/ where stored and otherwise computed into runs/results/ (vqlib.results).
    """
    check_runs_dir(runs_dir)
    nb = read_chapter(chapter)
    full = resolve_params(chapter_defaults(nb), overrides)
    final = runs_dir / f"{chapter.stem}-{params_hash(full)}"
    if final.exists():
        recorded = load_params_file(final / "params.yaml") if (final / "params.yaml").is_file() else None
        if recorded != full:
            raise RunError(f"output folder {str(final)!r} already holds a different run; remove it or choose other parameters")
        print(f"already run with these parameters: {final}")
        return final
    runs_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=runs_dir))
    try:
        (tmp / "params.yaml").write_text(yaml.safe_dump(full, sort_keys=True))
        checked = {k: full[k] for k in overrides}  # normalised: 5e3 for an integer parameter arrives as 5000
        # Re-runs share one run-local store (runs/results/), so a sweep's points and later re-runs reuse its tasks.
        reference = "1" if full == chapter_defaults(nb) else reproduce.RERUN  # at the defaults: compared with book/
        execute(nb, tmp / f"{chapter.stem}.ipynb", checked, tmp / "tables", chapter.resolve().parent, runs_dir / "results", reference)
        render_html(tmp / f"{chapter.stem}.ipynb", tmp / f"{chapter.stem}.html")
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def execute_in_place(md: Path) -> float:
    """Execute one chapter into its .ipynb (atomically: a temporary file renamed into place); return seconds."""
    ipynb, inputs = md.with_suffix(".ipynb"), inputs_hash(md)
    start = time.perf_counter()
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", prefix=f".{md.stem}-", dir=md.parent)
    os.close(fd)
    try:
        execute(read_chapter(md), Path(tmp), None, None, md.resolve().parent)
        clean_metadata(Path(tmp), inputs)
        os.replace(tmp, ipynb)
    finally:
        Path(tmp).unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    record_time(md.stem, seconds)
    print(f"{_shown(md)}: executed in {seconds:.1f} s")
    return seconds


def _shown(path: Path) -> str:
    """A chapter path as printed: relative to the repository when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if ROOT in path.parents else str(path)


def record_time(chapter: str, seconds: float) -> None:
    """Remember a chapter's last execution time (the Cost chapter shows them)."""
    times = json.loads(TIMINGS.read_text()) if TIMINGS.is_file() else {}
    times[chapter] = round(seconds, 1)
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(json.dumps(times, indent=1, sort_keys=True))


