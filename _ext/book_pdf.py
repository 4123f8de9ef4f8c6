"""`make pdf`: the whole built book as one PDF, offline, printed by the system Chromium (not a Sphinx extension).

The built HTML (_build/html) is served on a loopback http.server. The first page of the table of contents is
opened in headless Chromium (Playwright, as the browser test does); the article of every other page, in table
of contents order, is appended to it, each starting on a new sheet; MathJax typesets the whole and, once every
image has loaded, Chromium prints it (`page.pdf`, tagged, with an outline of the headings) to
_build/pdf/book.pdf. The combined page is kept beside it (book.html) for the test to compare against, with
book.overflow.json: the tables and images still wider than the sheet at the print width (none, or they are cut).

    python _ext/book_pdf.py [--out _build/pdf/book.pdf]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
        "--disable-extensions", "--no-first-run", "--disable-sync", "--disable-default-apps", "--mute-audio"]

#: Append the article of each page (fetched from the same server) to this one, each on a new sheet; drop what only
#: makes sense on screen (the theme's navigation, "previous / next" links, header buttons).
COMBINE = """async (paths) => {
  const main = document.querySelector('article.bd-article');
  const first = main.querySelector('section');
  first.setAttribute('data-page', location.pathname);
  const contents = document.createElement('nav');
  contents.className = 'pdf-contents';
  contents.innerHTML = '<h2>Contents</h2><ol></ol>';
  first.querySelector('h1').after(contents);
  for (const path of paths) {
    const text = await (await fetch(path)).text();
    const doc = new DOMParser().parseFromString(text, 'text/html');
    const article = doc.querySelector('article.bd-article');
    const part = document.createElement('div');
    part.className = 'pdf-chapter';
    part.setAttribute('data-page', path);
    part.id = 'pdf-' + path.split('/').pop().replace('.html', '');
    const title = article.querySelector('h1') ? article.querySelector('h1').textContent.replace(/#$/, '') : path;
    contents.querySelector('ol').insertAdjacentHTML('beforeend', `<li><a href="#${part.id}">${title}</a></li>`);
    part.style.breakBefore = 'page';
    part.innerHTML = article.innerHTML;
    part.querySelectorAll('img').forEach(i => { i.loading = 'eager'; i.src = new URL(i.getAttribute('src'), new URL(path, location.href)).href; });
    main.appendChild(part);
  }
  const style = document.createElement('style');  // paper is narrower than a screen: tables shrink and wrap instead of being cut
  style.textContent = `.pst-scrollable-table-container, .table-wrapper, .cell_output { overflow: visible !important; }
    table { font-size: 6.5pt !important; width: 100% !important; }
    th, td { padding: 1px 3px !important; overflow-wrap: anywhere; hyphens: auto; }
    img { max-width: 100% !important; height: auto !important; }`;
  document.head.appendChild(style);
  document.querySelectorAll('.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .prev-next-area, .bd-footer, '
                          + '.header-article, .bd-header-article, .headerlink, #jb-print-docs-body').forEach(e => e.remove());
  await MathJax.startup.promise;
  await MathJax.typesetPromise();
}"""
#: Tables and images wider than the printed article (they would be cut at the sheet's edge), as [id or src, width].
OVERFLOW = """() => {
  const width = document.querySelector('article.bd-article').getBoundingClientRect().right + 1;
  return Array.from(document.querySelectorAll('article table, article img'))
    .filter(e => e.getBoundingClientRect().right > width || e.parentElement.scrollWidth > e.parentElement.clientWidth + 1)
    .map(e => [e.id || e.getAttribute('src') || e.tagName, Math.round(e.getBoundingClientRect().width)]);
}"""
#: The printable width of an A4 sheet at the margins below (210 − 2 × 12 mm at 96 px per inch).
PRINT_WIDTH = 703


def toc_pages() -> list[str]:
    """The book's pages in table of contents order, as paths under _build/html (book/intro.html first)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    return [str(Path(f).with_suffix(".html")) for f in files]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def build(out: Path) -> Path:
    """Print the whole book to `out` (and the combined page to out with .html); returns out."""
    from playwright.sync_api import sync_playwright

    if not (HTML / "index.html").is_file():
        sys.exit(f"{HTML} is not built: run `make html` first")
    if not CHROMIUM.is_file():
        sys.exit(f"{CHROMIUM} is missing: install Chromium with `make chromium` (apt-get install chromium)")
    pages = toc_pages()
    missing = [p for p in pages if not (HTML / p).is_file()]
    if missing:
        sys.exit(f"pages missing from {HTML}: {missing}")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(HTML)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server = f"http://127.0.0.1:{httpd.server_address[1]}/"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": PRINT_WIDTH, "height": 1000})
            page.emulate_media(media="print")
            page.goto(server + pages[0], wait_until="networkidle")
            page.evaluate(COMBINE, ["/" + p for p in pages[1:]])
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=60_000)
            page.wait_for_load_state("networkidle")
            out.with_suffix(".html").write_text(page.content())
            out.with_suffix(".overflow.json").write_text(json.dumps(page.evaluate(OVERFLOW)))
            page.pdf(path=str(out), format="A4", print_background=True, outline=True, tagged=True,
                     margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
            browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "pdf" / "book.pdf")
    args = parser.parse_args()
    start = time.perf_counter()
    out = build(args.out)
    print(f"{out.relative_to(ROOT) if ROOT in out.resolve().parents else out}: {out.stat().st_size / 1e6:.1f} MB "
          f"in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
