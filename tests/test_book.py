"""The course as a book (`course book`): built offline from the lectures this session executed.

The site is rendered from the notebooks the lecture tests already ran (`course book --executed`,
through the session's `notebook_runs`), so the suite runs no lecture twice; run alone, this module
executes them itself. Chromium then reads every page from a server on 127.0.0.1, with every other
address refused and recorded.
"""
from __future__ import annotations

import functools
import http.server
import ipaddress
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dlcourse.chapters import available_chapters
from dlcourse_grading import book
from tests import browser
from tests import tables

CHAPTERS = available_chapters()
needs_chromium = pytest.mark.skipif(not Path(browser.CHROMIUM).exists(),
                                    reason="needs Debian's Chromium (`make chromium`, as root)")

# What a page is given to settle: MathJax typesets a few hundred formulas per lecture.
PAGE_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def site(notebook_runs, tmp_path_factory) -> Path:
    for ch in CHAPTERS:
        notebook_runs.lecture(ch)  # a no-op after the lecture tests (they run first, tests/conftest.py)
    book.install_mathjax()  # set-up, once per machine (`make test` did it already)
    out = tmp_path_factory.mktemp("book")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dlcourse_grading.cli", "book", "--executed", str(notebook_runs.lectures),
                           "--out", str(out)], capture_output=True, text=True)
    tables.add("book", "course book --executed (nothing executed: Sphinx, MathJax copied)", time.perf_counter() - started)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "html"


def test_the_site_has_every_chapter_and_loads_nothing_from_the_network(site):
    assert (site / "index.html").exists()
    assert book.external_resources(site) == []
    assert (site / "_static" / "mathjax" / "tex-mml-chtml.js").exists()
    for ch in CHAPTERS:
        lecture = (site / "lectures" / f"{ch.id}.html").read_text()
        assignment = (site / "assignments" / f"{ch.id}.html").read_text()
        assert '_static/mathjax/tex-mml-chtml.js"' in lecture, "MathJax must be the site's own copy"
        assert "cell_output" in lecture and "<img" in lecture, f"{ch.id}: the lecture should show its outputs"
        # The student version, as handed out: never executed, stubs in place of the solutions.
        assert "cell_output" not in assignment, f"{ch.id}: the assignment page must not be executed"
        assert "NotImplementedError" in assignment and "BEGIN SOLUTION" not in assignment


def test_the_offline_check_sees_what_a_page_would_load(tmp_path):
    """What makes the check above meaningful: remote scripts, styles, images and fonts are found,
    plain hyperlinks and local files are not."""
    (tmp_path / "page.html").write_text(
        '<link rel="stylesheet" href="https://cdn.example/a.css"><link rel="canonical" href="https://x.example/">'
        '<script src="https://cdn.example/m.js"></script><script src="_static/local.js"></script>'
        '<img src="//img.example/i.png"><a href="https://arxiv.org/abs/1502.01852">paper</a>'
        '<div style="background: url(http://img.example/b.png)"></div>')
    (tmp_path / "site.css").write_text("@font-face { src: url('https://fonts.example/f.woff2') } "
                                       "a { background: url(data:image/png;base64,AAAA) }")
    found = book.external_resources(tmp_path)
    assert len(found) == 5, found
    assert not any("arxiv" in f or "canonical" in f or "local.js" in f for f in found), found


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Every formula typeset, and no TeX left in what a reader sees (code and outputs aside).
_MATHS = """() => {
  const article = document.querySelector("article");
  const formulas = [...article.querySelectorAll(".math")];
  const prose = article.cloneNode(true);
  prose.querySelectorAll("pre, code, script, style, mjx-container").forEach(e => e.remove());
  return {formulas: formulas.length, typeset: article.querySelectorAll("mjx-container").length,
          untypeset: formulas.filter(m => !m.querySelector("mjx-container")).map(m => m.textContent.slice(0, 80)),
          prose: prose.textContent};
}"""
_FIGURES = "imgs => imgs.map(i => ({src: i.currentSrc, complete: i.complete, width: i.naturalWidth}))"


def _open(page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok, f"{url}: {response and response.status}"
    page.wait_for_load_state("load")  # images included


def _typeset(page) -> dict:
    """Wait for MathJax's first typesetting (Sphinx loads it only on pages with maths)."""
    if not page.locator("article .math").count():
        return page.evaluate(_MATHS)
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise.then(() => true)")
    return page.evaluate(_MATHS)


def _check_lecture(page, ch, lectures: dict[str, str], assignments: dict[str, str]) -> str:
    """Maths typeset, figures shown, every chapter in the navigation; scrolled to the first figure."""
    maths = _typeset(page)
    assert maths["formulas"] > 0 and maths["typeset"] >= maths["formulas"], maths["formulas"]
    assert maths["untypeset"] == [], f"{ch.id}: formulas left as TeX: {maths['untypeset'][:5]}"
    for raw in ("$$", "\\(", "\\[", "\\begin{"):
        assert raw not in maths["prose"], f"{ch.id}: {raw!r} left in the text"
    figures = page.eval_on_selector_all("article img", _FIGURES)
    assert figures, f"{ch.id}: a lecture page shows at least one figure"
    assert all(f["complete"] and f["width"] > 0 for f in figures), [f for f in figures if not f["width"]]
    # (the current page's own entry links to "#": its href is the page's URL and a fragment)
    nav = page.eval_on_selector_all("nav.bd-docs-nav a", "as => as.map(a => [a.href.split('#')[0], a.innerText])")
    for other in CHAPTERS:
        assert any(h == lectures[other.id] and other.title in t for h, t in nav), f"nav lacks {other.title}"
        assert assignments[other.id] in {h for h, _ in nav}, f"nav lacks assignment {other.id}"
    page.locator("article img").first.scroll_into_view_if_needed()  # the screenshot shows a figure
    return f"{maths['formulas']} formulas, {len(figures)} figures"


@needs_chromium
def test_the_book_in_chromium(served):
    started = time.perf_counter()
    shots = browser.BOOK
    shots.clear()
    remote, broken, errors = [], [], []
    lectures = {ch.id: f"{served}/lectures/{ch.id}.html" for ch in CHAPTERS}
    assignments = {ch.id: f"{served}/assignments/{ch.id}.html" for ch in CHAPTERS}

    def only_loopback(route):
        if _loopback(route.request.url):
            route.continue_()
        else:  # refused, so that a failing check never reaches out either
            remote.append(route.request.url)
            route.abort()

    with browser.browser() as chromium:
        context = chromium.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        context.route("**/*", only_loopback)
        context.on("response", lambda r: r.status >= 400 and broken.append(f"{r.status} {r.url}"))
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        try:
            # The landing page: one row per chapter, whose two links open that chapter's pages,
            # which are checked as the reader reaches them (the index itself has no maths: cheap to reload).
            _open(page, f"{served}/index.html")
            shots.take(page, "index")
            for ch in CHAPTERS:
                row = page.locator("article table tbody tr").filter(has_text=ch.title)
                assert row.count() == 1, f"the index lists {ch.title!r} once"
                for kind, url in (("lecture", lectures[ch.id]), ("assignment", assignments[ch.id])):
                    link = row.locator(f'a[href="{url.removeprefix(served + "/")}"]')
                    assert link.count() == 1, f"{ch.title}: no link to {url}"
                    opened = time.perf_counter()
                    with page.expect_navigation() as navigation:
                        link.click()
                    assert navigation.value.ok and page.url == url, (page.url, navigation.value.status)
                    assert ch.title in page.locator("article h1").first.inner_text()
                    if kind == "lecture":
                        seen = _check_lecture(page, ch, lectures, assignments)
                    else:
                        seen = f"{_typeset(page)['formulas']} formulas"
                    shots.take(page, f"{kind}_{ch.id}")
                    tables.add("book", f"  {kind} {ch.id}: {seen}", time.perf_counter() - opened)
                    page.go_back()
        except BaseException:
            shots.take(page, "FAILED_here")
            raise
        finally:
            context.close()
    tables.add("book", f"Chromium: {len(shots.paths)} pages checked", time.perf_counter() - started)
    assert remote == [], f"requests off loopback: {remote[:10]}"
    assert broken == [], f"missing files: {broken[:10]}"
    assert errors == [], errors[:5]
