"""The reader's view: every page of the built book in a real browser (headless Chromium driven by Playwright).

Run by `make browser` (part of `make test`) after `make html`. The book is served from _build/html on a
loopback http.server; each page is opened once and checked: math typeset by MathJax, every image
loaded, no error or traceback shown, every glued value resolved, the reproduced tables present and
every internal link resolving. A full-page screenshot of each page goes to _build/screenshots/.
The system Chromium (Debian package `chromium`, installed by `make chromium`) is required: without
it the test fails, it never skips.
"""

from __future__ import annotations

import ast
import functools
import http.server
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
        "--disable-extensions", "--no-first-run", "--disable-sync", "--disable-default-apps", "--mute-audio"]
#: pydata-sphinx-theme logs this on a first visit (no stored light/dark mode yet); it is not an error of the book.
THEME_NOISE = "Got invalid theme mode"
#: Text that only appears when something failed to render.
BAD_TEXT = {
    "a traceback": "Traceback (most recent call last)",
    "an unresolved glue role": "{glue",
    "an unresolved numref": "{numref}",
    "an unresolved eq role": "{eq}",
    "a docutils error": "System Message",
}
#: Elements that only appear when something failed: cell errors, docutils problems, stderr output, MathJax errors.
BAD_ELEMENTS = {
    "a cell error output": ".cell_output .output.error, .cell_output .output.traceback, .cell_output .ansi-red-intense-fg",
    "a cell stderr output": ".cell_output .output.stderr",
    "a docutils problem": ".system-message, .problematic",
    "a MathJax error": "mjx-merror",
    "an unresolved cross-reference": "span.xref, .pending_xref",
}
#: A glued mean and its 95 % CI: "21.6 [9.09, 55.3]", "-72.6 % [-75.9, -69.4]".
INTERVAL = r"-?\d[\d.]*\s*(?:%|pp)?\s*\[[-−]?\d[\d.]*, [-−]?\d"
#: The landing page on a phone: no horizontal overflow, the findings on the first screen.
PHONE = {"width": 390, "height": 844}

PAGE_SCRIPT = """() => {
  const q = s => Array.from(document.querySelectorAll(s));
  const math = q('.math');
  return {
    math: math.length,
    math_typeset: math.filter(e => e.querySelector('mjx-container')).length,
    images: q('img').map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    ids: q('[id]').map(e => e.id).concat(q('a[name]').map(e => e.name)),
    links: q('a[href]').map(a => a.href),
    glued: q('.pasted-text, .pasted-inline').map(e => e.textContent.trim()),
    tables: Object.fromEntries(q('table[id], [id] > table').map(t => {
      const table = t.tagName === 'TABLE' ? t : t.querySelector('table');
      const id = t.id || t.parentElement.id;
      return [id, table.querySelectorAll('tbody tr').length];
    })),
    text: document.body.innerText,
    provenance: q('p.table-provenance').map(p => {
      const prev = p.previousElementSibling;
      const table = prev && (prev.tagName === 'TABLE' ? prev : prev.querySelector('table'));
      return {table: table ? table.id : '', csv: Array.from(p.querySelectorAll('a.table-csv')).map(a => a.href),
              results: Array.from(p.querySelectorAll('a.table-results')).map(a => a.href),
              command: (p.querySelector('code.table-command') || {}).textContent || ''};
    }),
  };
}"""


@dataclass
class Visit:
    """What one page showed."""

    url: str
    info: dict
    bad: dict[str, list[str]] = field(default_factory=dict)
    failed_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    redirect: str = ""


def pages() -> list[Path]:
    """Every HTML page of the built book (not the theme's static files, nor the data pages of _ext/provenance.py)."""
    return sorted(p for p in HTML.rglob("*.html") if not {"_static", "_data"} & set(p.relative_to(HTML).parts))


def expected_tables() -> dict[str, list[str]]:
    """Per chapter page, the table labels its source names as string literals (report.table(..., "tbl-...", ...));
    prose refers to tables with {numref}`tbl-...`, never in double quotes."""
    out = {}
    for md in sorted((ROOT / "book").glob("*.md")):
        names = list(dict.fromkeys(re.findall(r"\"(tbl-[\w-]+)\"", md.read_text())))  # a table's name is a string literal
        if names:
            out[f"book/{md.stem}.html"] = names
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    assert (HTML / "index.html").is_file(), f"{HTML} is not built: run `make html` first (make test does)"
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(HTML)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def visits(server) -> dict[str, Visit]:
    """Open every page once in headless Chromium; keep what each showed and save its screenshot."""
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install Chromium with `make chromium` (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    out: dict[str, Visit] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        for path in pages():
            rel = path.relative_to(HTML).as_posix()
            page = context.new_page()
            visit = Visit(server + rel, {})
            page.on("requestfailed", lambda r, v=visit: v.failed_requests.append(f"{r.url} ({r.failure})"))
            page.on("response", lambda r, v=visit: r.status >= 400 and v.failed_requests.append(f"{r.url} (HTTP {r.status})"))
            page.on("console", lambda m, v=visit: m.type == "error" and not m.text.startswith(THEME_NOISE) and v.console_errors.append(m.text))
            page.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # the book has no favicon
            page.goto(visit.url, wait_until="load")
            if 'http-equiv="refresh"' in path.read_text().lower():  # a redirect page (index.html): check where it lands
                page.wait_for_url(lambda u, start=visit.url: u != start, wait_until="load", timeout=30_000)
                visit.redirect = page.url
            page.evaluate("() => document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=30_000)
            if page.locator(".math").count():
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
                page.evaluate("() => MathJax.startup.promise")
            page.wait_for_load_state("networkidle")
            visit.info = page.evaluate(PAGE_SCRIPT)
            for what, selector in BAD_ELEMENTS.items():
                shown = [t.strip()[:200] for t in page.locator(selector).all_inner_texts()]
                if shown:
                    visit.bad[what] = shown
            for what, needle in BAD_TEXT.items():
                if needle in visit.info["text"]:
                    visit.bad[what] = [needle]
            page.screenshot(path=str(SHOTS / (rel.replace("/", "__").removesuffix(".html") + ".png")), full_page=True)
            page.close()
            out[rel] = visit
        browser.close()
    return out


def _report(problems: list[str]) -> str:
    return "\n".join(problems[:50])


def test_every_page_was_opened(visits, server):
    assert "index.html" in visits and "book/testbed.html" in visits
    assert len(visits) == len(pages())
    assert visits["index.html"].redirect == server + "book/intro.html"  # the front page lands on the introduction


def test_math_is_typeset_by_mathjax(visits):
    problems = [f"{p}: {v.info['math_typeset']} of {v.info['math']} math elements typeset" for p, v in visits.items() if v.info["math_typeset"] != v.info["math"]]
    assert not problems, _report(problems)
    assert visits["book/testbed.html"].info["math"] >= 3  # the testbed's displayed equations at least


def test_every_image_loaded(visits):
    problems = [f"{p}: {img['src']}" for p, v in visits.items() for img in v.info["images"] if not img["ok"]]
    assert not problems, _report(problems)
    assert any("png" in img["src"] for img in visits["book/testbed.html"].info["images"])  # the glued figure


def test_no_failed_request_and_nothing_fetched_from_outside(visits, server):
    problems = [f"{p}: {r}" for p, v in visits.items() for r in v.failed_requests]
    problems += [f"{p}: console error {e}" for p, v in visits.items() for e in v.console_errors]
    assert not problems, _report(problems)


def test_no_error_traceback_or_stderr_is_shown(visits):
    problems = [f"{p}: {what}: {shown}" for p, v in visits.items() for what, shown in v.bad.items() if what not in ("an unresolved glue role",)]
    assert not problems, _report(problems)


def test_every_glued_value_resolved(visits):
    problems = [f"{p}: unresolved glue role in the text" for p, v in visits.items() if "an unresolved glue role" in v.bad]
    problems += [f"{p}: empty glued value" for p, v in visits.items() for g in v.info["glued"] if not g]
    problems += [f"{p}: glued value shown as an object repr: {g[:80]}" for p, v in visits.items() for g in v.info["glued"] if g.startswith("<") and "object at 0x" in g]
    assert not problems, _report(problems)
    assert len(visits["book/testbed.html"].info["glued"]) >= 10  # the testbed's prose quotes its results


def test_reproduced_tables_are_present(visits):
    expected = expected_tables()
    assert "tbl-testbed" in expected.get("book/testbed.html", [])
    problems = []
    for page, names in expected.items():
        tables = visits[page].info["tables"] if page in visits else {}
        problems += [f"{page}: table {n} missing or empty" for n in names if tables.get(n, 0) < 1]
    assert not problems, _report(problems)
    from vqlib.reproduce import shown_records

    committed = shown_records(ROOT / "book" / "testbed.ipynb")["table:tbl-testbed"]
    rows = sum(line.startswith("|") for line in committed.splitlines()) - 2  # less the header and the rule
    assert rows >= 5 and visits["book/testbed.html"].info["tables"]["tbl-testbed"] == rows  # every row reached the page


def test_internal_links_resolve(visits, server):
    ids = {page: set(v.info["ids"]) for page, v in visits.items()}
    problems, checked = [], 0
    for page, v in visits.items():
        for href in v.info["links"]:
            if not href.startswith(server):
                continue
            url, fragment = urldefrag(href)
            rel = unquote(urlparse(url).path).lstrip("/")
            if rel == "" or rel.endswith("/"):
                rel += "index.html"
            checked += 1
            if not (HTML / rel).is_file():
                problems.append(f"{page}: link to missing {rel}")
            elif fragment and rel in ids and unquote(fragment) not in ids[rel]:
                problems.append(f"{page}: link to missing anchor {rel}#{fragment}")
    assert not problems, _report(problems)
    assert checked > 10


def test_a_screenshot_of_every_page(visits):
    shots = {p.name for p in SHOTS.glob("*.png")}
    missing = [p for p in visits if p.replace("/", "__").removesuffix(".html") + ".png" not in shots]
    assert not missing, missing
    assert all((SHOTS / s).stat().st_size > 10_000 for s in shots)


# The reader's book: provenance under every table, findings first on the landing page, readable on a phone.


def _glued(notebook: Path, prefix: str) -> dict[str, str]:
    """The text of every value glued under a key starting with `prefix` in an executed notebook."""
    import nbformat

    out = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
            if name.startswith(prefix):
                text = next(v for k, v in output["data"].items() if k.endswith("text/plain"))  # glued: papermill's record type
                out[name] = ast.literal_eval(text)  # a string's repr
    return out


def test_every_table_links_its_csv_its_results_and_its_command(visits, server):
    from urllib.request import urlopen

    import pandas as pd

    from vqlib.results import CHAPTERS

    problems, fetched = [], 0
    for page, names in expected_tables().items():
        stem = Path(page).stem
        lines = {p["table"]: p for p in visits[page].info["provenance"]}
        for name in names:
            line = lines.get(name)
            if line is None:
                problems.append(f"{page}: table {name} has no provenance line below it")
                continue
            if line["csv"] != [f"{server}_data/tables/{name}.csv"]:
                problems.append(f"{page}: {name} links {line['csv']}")
            else:
                with urlopen(line["csv"][0]) as response:  # served from _build/html: the link resolves
                    frame = pd.read_csv(response)
                fetched += 1
                if frame.empty or frame.shape[1] < 1:
                    problems.append(f"{page}: {name}.csv is empty")
            want = [f"{server}_data/results/{study}/index.html" for study in CHAPTERS.get(stem, [])]
            if line["results"] != want:
                problems.append(f"{page}: {name} links results {line['results']}, expected {want}")
            if not line["command"].startswith(f"python -m vqlib.run book/{stem}.md -p "):
                problems.append(f"{page}: {name} command {line['command'][:80]!r}")
    assert not problems, _report(problems)
    assert fetched >= 50


def test_the_per_seed_results_behind_the_tables_are_served():
    indexes = sorted((HTML / "_data" / "results").glob("*/index.html"))
    assert len(indexes) >= 10
    problems = []
    for index in indexes:
        hrefs = re.findall(r'href="([^"]+)"', index.read_text())
        problems += [f"{index.relative_to(HTML)}: {h}" for h in hrefs if not (index.parent / h).is_file()]
        if not any(h.endswith(".parquet") for h in hrefs):
            problems.append(f"{index.relative_to(HTML)} lists no Parquet file")
    assert not problems, _report(problems)


def test_findings_first_on_the_landing_page(visits):
    findings = _glued(ROOT / "book" / "verdicts.ipynb", "finding_")
    assert 5 <= len(findings) <= 8
    intro = visits["book/intro.html"].info
    problems = [f"{key} not on the landing page: {text[:80]}" for key, text in findings.items() if text not in intro["glued"]]
    problems += [f"{key} has no number: {text[:80]}" for key, text in findings.items() if not re.search(r"\d", text)]
    assert not problems, _report(problems)
    with_interval = [k for k, text in findings.items() if re.search(INTERVAL, text)]
    assert len(with_interval) >= 5, with_interval  # a measured mean [95 % CI]; a rank or a count has none
    assert intro["text"].index("What the book found") < intro["text"].index("What the book studies")


def test_the_landing_page_on_a_phone(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        page.goto(server + "book/intro.html", wait_until="networkidle")
        seen = page.evaluate("""() => {
          const items = Array.from(document.querySelector('#findings').parentElement.querySelectorAll(':scope > ol > li'));
          return {scroll: document.documentElement.scrollWidth, width: document.documentElement.clientWidth,
                  wide: Array.from(document.querySelectorAll('article *')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '.' + e.className).slice(0, 5),
                  items: items.length, first: items.length ? items[0].getBoundingClientRect().bottom : 1e9,
                  firstText: items.length ? items[0].innerText : ''};
        }""")
        page.screenshot(path=str(SHOTS / "intro-390px.png"))
        browser.close()
    assert seen["scroll"] <= seen["width"] == PHONE["width"], f"horizontal overflow at 390 px: {seen['wide']}"
    assert not seen["wide"], seen["wide"]
    assert seen["items"] >= 5
    assert seen["first"] <= PHONE["height"], f"the first finding ends at {seen['first']:.0f} px, below the first screen"
    assert re.search(INTERVAL, seen["firstText"]), seen["firstText"]  # its number and interval are on that screen
    assert (SHOTS / "intro-390px.png").stat().st_size > 10_000
