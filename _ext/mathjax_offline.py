"""Sphinx extension: serve MathJax 3 from the built book itself, so math renders without a network.

The files come from the PyPI package django-static-mathjax (MathJax 3.2.2 as static files; its Python
part is empty and needs no Django). `mathjax_path` in _config.yml points at the copy under _static/.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

#: What the book does not need: the speech-rule engine's data, SVG output, the combined "full" builds.
SKIP = shutil.ignore_patterns("sre", "*svg*", "*-full*", "mml-*", "node-main.js", "latest.js")


def mathjax_source() -> Path:
    """The es5 folder of the installed MathJax package."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is missing: `pip install django-static-mathjax` (it is in requirements.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"


def copy_mathjax(app, exception) -> None:
    """After an HTML build, copy MathJax to _static/mathjax/."""
    if exception is None and app.builder.format == "html":
        shutil.copytree(mathjax_source(), Path(app.outdir) / "_static" / "mathjax", ignore=SKIP, dirs_exist_ok=True)


def setup(app):
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
