r"""The built book as a reader gets it: every page opened in headless Chromium, offline.

The module builds the book (zero warnings), serves ``_build/html`` on 127.0.0.1 and opens
every page in Debian's Chromium through Playwright, with every request to another host
aborted (the test proves it: a fetch to a CDN from the page fails). It fails on:

- a request to the local server that fails or returns an error status;
- any request to an outside host (the book must read with no network);
- a JavaScript error or a console error;
- an image that does not load, or a chapter with fewer figures than its notebook has;
- math left unrendered: raw ``$$``, ``\(``, ``\[`` or ``$...$`` in the visible prose, or
  a page with math markup but no MathJax output.

A full-page screenshot of each chapter and exercise page goes to ``_build/screenshots/``.

The test needs Chromium (Debian's package ``chromium``; Playwright comes with the course's
packages) and is skipped, with the reason in pytest's summary, where there is none. ``.ci/run``
installs Chromium and sets ``RNNCOURSE_REQUIRE_BROWSER=1``, which turns that skip into a failure.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
OUTSIDE_PROBE = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"


def _find_chromium() -> str | None:
    """Chromium on PATH, or Debian's /usr/bin/chromium; None where there is neither."""
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).exists() else None


CHROMIUM = _find_chromium()
NO_CHROMIUM = ("Chromium is not installed (Debian: apt-get install chromium), so the built book "
               "is not opened in a browser; .ci/run installs it")
if CHROMIUM is None and os.environ.get("RNNCOURSE_REQUIRE_BROWSER") == "1":
    pytest.fail(f"RNNCOURSE_REQUIRE_BROWSER=1 but {NO_CHROMIUM}", pytrace=False)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _Handler(http.server.SimpleHTTPRequestHandler):
    failures: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        pass

    def send_response(self, code: int, message: str | None = None) -> None:
        if code >= 400:
            _Handler.failures.append(f"{code} {self.path}")
        super().send_response(code, message)


@pytest.fixture(scope="module")
def book() -> Path:
    """Build the book with -W (warnings are errors) and return the HTML folder."""
    jb = Path(sys.executable).parent / "jupyter-book"
    run = subprocess.run([str(jb), "build", str(ROOT), "-W", "-n", "--keep-going"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, (
        f"jupyter-book build failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}")
    return HTML


@pytest.fixture(scope="module")
def server(book: Path):
    handler = functools.partial(_Handler, directory=str(book))
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _pages(book: Path) -> list[str]:
    skip = {"genindex.html", "search.html"}
    return sorted(
        str(p.relative_to(book)) for p in book.rglob("*.html")
        if not p.relative_to(book).parts[0].startswith(("_", ".")) and p.name not in skip
    )


def _expected_figures(page: str) -> int:
    """Number of PNG outputs stored in the notebook a page was built from (0 for Markdown)."""
    source = ROOT / Path(page).with_suffix(".ipynb")
    if not source.exists():
        return 0
    nb = json.loads(source.read_text(encoding="utf-8"))
    hidden = {"remove-output", "remove-cell"}
    return sum(
        1 for cell in nb["cells"] if cell["cell_type"] == "code"
        and not hidden & set(cell.get("metadata", {}).get("tags", []))
        for out in cell.get("outputs", []) if "image/png" in out.get("data", {})
    )


_PROSE_TEXT = """() => {
  const main = document.querySelector('main') || document.body;
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, .highlight, mjx-container, script, style, .cell_output')
       .forEach(e => e.remove());
  return clone.innerText;
}"""


def test_every_page_renders_offline(server: str, book: Path) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    _Handler.failures.clear()
    pages = _pages(book)
    assert any(p.startswith("chapters/") for p in pages), pages
    problems: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})

        def route(r) -> None:
            if r.request.url.startswith(server):
                r.continue_()
            else:  # the network is off for the book: abort and remember
                outside.append(r.request.url)
                r.abort("internetdisconnected")

        context.route("**/*", route)
        for page_path in pages:
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
            page.on("requestfailed", lambda req, e=errors: e.append(f"failed request {req.url}"))
            before = len(outside)
            page.goto(f"{server}/{page_path}", wait_until="networkidle")
            has_math = page.evaluate(
                "() => !!document.querySelector('.math, .MathJax, mjx-container')")
            if has_math:
                page.wait_for_function(
                    "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                    timeout=15_000)
                page.evaluate("() => MathJax.startup.promise")
                if page.evaluate("() => document.querySelectorAll('mjx-container').length") == 0:
                    problems.append(f"{page_path}: math markup but no MathJax output")
            prose = page.evaluate(_PROSE_TEXT)
            for pattern in (r"\$\$", r"\\\(", r"\\\[", r"\\begin\{", r"\$[^$\s][^$\n]*\$"):
                match = re.search(pattern, prose)
                if match:
                    problems.append(f"{page_path}: unrendered math {match.group(0)[:40]!r}")
            broken = page.evaluate(
                "() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                ".map(i => i.src)")
            problems += [f"{page_path}: image did not load {src}" for src in broken]
            shown = page.evaluate("() => document.querySelectorAll('.cell_output img').length")
            expected = _expected_figures(page_path)
            if shown < expected:
                problems.append(f"{page_path}: {shown} figures shown, the notebook has {expected}")
            problems += [f"{page_path}: console error: {e}" for e in errors
                         if not e.startswith("failed request")
                         or e.split()[-1].startswith(server)]
            problems += [f"{page_path}: loads from outside: {u}" for u in outside[before:]]
            if page_path.startswith(("chapters/", "exercises/")):
                name = page_path.replace("/", "__").removesuffix(".html")
                page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
            page.close()
        # Prove the network really is off for the pages: a fetch to a CDN must fail.
        probe = context.new_page()
        probe.goto(f"{server}/{pages[0]}")
        reached = probe.evaluate(
            "url => fetch(url).then(() => true, () => false)", OUTSIDE_PROBE)
        assert reached is False, "an outside host was reachable from the page"
        assert OUTSIDE_PROBE in outside
        browser.close()
    problems += [f"local server answered {f}" for f in _Handler.failures]
    assert not problems, "\n".join(problems)
