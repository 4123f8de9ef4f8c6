"""Sphinx extension: every table a chapter shows carries its provenance on the page.

Below each table made by `vqlib.report.table` (its output carries the table's name and numbers as CSV in the
notebook's output metadata, `report.TABLE_META`) the page gets one line: a link to the table as CSV, links to
the per-seed results of the chapter's studies, and the exact command that re-runs the chapter with the
parameters it was executed with. The files are written into the built HTML only (`_data/`), at build time,
from the committed notebooks and results/: nothing is written into the repository.

    _data/tables/<table name>.csv          the displayed table's numbers
    _data/results/<study>/index.html       every stored task of the study: its parameters and its Parquet files
    _data/results/<study>/<key>/*          the task's per-seed tables and meta.json, copied from results/
"""

from __future__ import annotations

import functools
import html
import json
import shlex
import shutil
from pathlib import Path

from docutils import nodes

ROOT = Path(__file__).resolve().parent.parent
DATA = "_data"
#: Key of a table's record in a display output's metadata (vqlib.report.TABLE_META).
TABLE_META = "vqbook_table"


def notebook_tables(ipynb: Path) -> dict[str, str]:
    """{table name: CSV text} of every table an executed notebook displays, in order."""
    nb = json.loads(Path(ipynb).read_text())
    out = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get(TABLE_META)
            if record:
                out[record["name"]] = record["csv"]
    return out


def _typed(value) -> str:
    """A parameter value as `-p` reads it back (YAML): lists in flow style, the rest as Python prints it."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    if value is None:
        return "null"
    return str(value)


@functools.lru_cache(maxsize=None)
def command(md: Path) -> str:
    """The command that re-runs a chapter with every parameter it was executed with (its defaults)."""
    from vqlib.runner.chapters import chapter_defaults, read_chapter

    parts = ["python", "-m", "vqlib.run", Path(md).relative_to(ROOT).as_posix()]
    for name, value in chapter_defaults(read_chapter(md)).items():
        parts += ["-p", name, _typed(value)]
    return " ".join(shlex.quote(p) for p in parts)


def studies(chapter: str) -> list[str]:
    """The studies a chapter loads (vqlib.results.CHAPTERS); none for a chapter that reads other notebooks."""
    from vqlib.results import CHAPTERS

    return CHAPTERS.get(chapter, [])


def provenance_html(name: str, md: Path, up: str) -> str:
    """The line below one table: its CSV, the per-seed results behind it, the command that remakes it."""
    csv = f'<a class="table-csv" href="{up}{DATA}/tables/{name}.csv">{name}.csv</a>'
    behind = [f'<a class="table-results" href="{up}{DATA}/results/{s}/index.html">results/{s}/</a>' for s in studies(md.stem)]
    source = ("per-seed results: " + ", ".join(behind)) if behind else "made from the other chapters' executed notebooks (book/*.ipynb)"
    cmd = html.escape(command(md))
    return (f'<p class="table-provenance" style="font-size:0.8em;overflow-wrap:anywhere;margin-top:-0.5em">'
            f"Data: {csv} · {source} · remake: <code class=\"table-command\" style=\"white-space:normal\">{cmd}</code></p>")


def add_provenance(app, doctree, docname: str) -> None:
    """After every table of an executed chapter that vqlib.report made, insert its provenance line."""
    source = Path(app.env.doc2path(docname))
    if source.suffix != ".ipynb" or not source.with_suffix(".md").is_file():
        return
    tables = notebook_tables(source)
    up = "../" * docname.count("/")
    for table in list(doctree.findall(nodes.table)):
        name = next((i for i in table["ids"] if i in tables), None)
        if name is not None:
            line = nodes.raw("", provenance_html(name, source.with_suffix(".md"), up), format="html")
            table.parent.insert(table.parent.index(table) + 1, line)


def _study_index(study: str, keys: list[str], folder: Path) -> str:
    rows = []
    for key in keys:
        meta = json.loads((ROOT / "results" / study / key / "meta.json").read_text())
        files = " ".join(f'<a href="{key}/{f.name}">{f.name}</a>' for f in sorted((folder / key).iterdir()))
        rows.append(f"<tr><td><code>{key}</code></td><td><code>{html.escape(json.dumps(meta.get('task', {}), sort_keys=True))}</code></td>"
                    f"<td>{meta.get('wall_seconds', '')}</td><td>{files}</td></tr>")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>results/{study}</title></head><body>"
            f"<h1>results/{study}/</h1><p>Every stored task of the study <code>vqlib.studies.{study}</code>: its parameters, its "
            "compute time (s) and its per-seed tables (Parquet, one row per seed and setting) with <code>meta.json</code>, "
            "copied from the book's results store.</p><table border=\"1\"><tr><th>key</th><th>task parameters</th>"
            "<th>seconds</th><th>files</th></tr>" + "".join(rows) + "</table></body></html>")


def export(app, exception) -> None:
    """After an HTML build: every displayed table as CSV and every study's stored results, under _data/."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir) / DATA
    (out / "tables").mkdir(parents=True, exist_ok=True)
    for docname in sorted(app.env.found_docs):
        source = Path(app.env.doc2path(docname))
        if source.suffix == ".ipynb":
            for name, csv in notebook_tables(source).items():
                (out / "tables" / f"{name}.csv").write_text(csv)
    for md in sorted((ROOT / "book").glob("*.md")):
        for study in studies(md.stem):
            store = ROOT / "results" / study
            keys = sorted(p.name for p in store.iterdir() if p.is_dir() and not p.name.startswith(".")) if store.is_dir() else []
            target = out / "results" / study
            for key in keys:
                shutil.copytree(store / key, target / key, dirs_exist_ok=True)
            target.mkdir(parents=True, exist_ok=True)
            (target / "index.html").write_text(_study_index(study, keys, target))


def pasting_pages(app, env, added, changed, removed) -> list[str]:
    """Pages that paste glued values from another page (`{glue:text}` with `page.ipynb::key`: the landing page's
    findings) are read again at every build, so they never show numbers older than the page they paste from."""
    return [d for d in sorted(env.found_docs) if Path(env.doc2path(d)).suffix == ".md" and ".ipynb::" in Path(env.doc2path(d)).read_text()]


def setup(app):
    app.connect("env-get-outdated", pasting_pages)
    app.connect("doctree-resolved", add_provenance)
    app.connect("build-finished", export)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
