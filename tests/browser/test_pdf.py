"""`make pdf`: the whole book printed by the system Chromium (_ext/book_pdf.py) holds every chapter, table and figure.

Run with the browser test (`make browser`, after `make pdf`). The PDF is checked against the sources and the
combined page it was printed from (_build/pdf/book.html): a named destination per chapter (the printed
contents link to each), one tagged table per table of the book, one image per figure, the pages in between.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PDF = ROOT / "_build" / "pdf" / "book.pdf"
sys.path.insert(0, str(ROOT / "_ext"))

import book_pdf  # noqa: E402


@pytest.fixture(scope="module")
def printed() -> tuple[bytes, str]:
    assert PDF.is_file(), f"{PDF} is missing: run `make pdf` (make test does)"
    intro = ROOT / "_build" / "html" / "book" / "intro.html"
    assert PDF.stat().st_mtime >= intro.stat().st_mtime, "the PDF is older than the HTML build: run `make pdf`"
    return PDF.read_bytes(), PDF.with_suffix(".html").read_text()


def _sources(pattern: str) -> list[str]:
    return [name for md in sorted((ROOT / "book").glob("*.md")) for name in re.findall(pattern, md.read_text())]


def test_every_chapter_is_printed(printed):
    pdf, page = printed
    chapters = [Path(p).stem for p in book_pdf.toc_pages()]
    assert len(chapters) >= 10 and chapters[0] == "intro"
    missing = [c for c in chapters[1:] if f"/Dest /pdf-{c}\n".encode() not in pdf or f'id="pdf-{c}"' not in page]
    assert not missing, f"chapters missing from the PDF: {missing}"
    for c in chapters[1:]:  # each chapter's own text, not only its anchor
        title = re.search(r"<h1>(.*?)</h1>", (ROOT / "_build" / "html" / "book" / f"{c}.html").read_text()).group(1)
        assert re.sub(r"<[^>]+>", "", title).rstrip("#") in re.sub(r"<[^>]+>", "", page), c
    pages = len(re.findall(rb"/Type /Page\b", pdf))
    assert pages >= 2 * len(chapters), f"only {pages} pages"


def test_every_table_is_printed(printed):
    pdf, page = printed
    names = list(dict.fromkeys(_sources(r"\"(tbl-[\w-]+)\"")))  # every table's name, a string literal in its chapter
    assert len(names) >= 50
    missing = [n for n in names if f'id="{n}"' not in page]
    assert not missing, f"tables missing from the printed page: {missing}"
    tables = len(re.findall(r"<table[\s>]", page))
    assert len(re.findall(rb"/S /Table\b", pdf)) == tables >= len(names)  # every table of the page is a tagged PDF table


def test_every_figure_is_printed(printed):
    pdf, page = printed
    names = _sources(r"```\{glue:figure\} (fig-[\w-]+)")
    assert len(names) >= 15
    missing = [n for n in names if f'id="{n}"' not in page]
    assert not missing, f"figures missing from the printed page: {missing}"
    images = set(re.findall(r'<img[^>]*src="([^"]+)"', page))
    assert len(images) >= len(names)
    assert len(re.findall(rb"/Subtype /Image\b", pdf)) == len(images)  # each drawn in the PDF


def test_nothing_is_cut_at_the_sheet_edge(printed):
    import json

    overflow = json.loads(PDF.with_suffix(".overflow.json").read_text())
    assert overflow == [], f"wider than the printed sheet (cut in the PDF): {overflow[:10]}"
