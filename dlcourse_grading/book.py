"""The course as a book: a static HTML site of the executed lectures and the assignments (`course book`).

    build/book/src/       the pages, laid out from the chapter list: index.md (the chapter index),
                          lectures/NN_topic.ipynb (executed here), assignments/NN_topic.ipynb
                          (the student versions from release/, never executed)
    build/book/html/      the site (open index.html; it loads nothing from the network)
    build/book/kernels.log  what the lectures' kernel processes printed on their own stderr

Sphinx renders it with myst-nb and sphinx-book-theme (settings in book/conf.py); myst-nb executes
nothing. The lectures are executed by the course itself with nbclient, in notebooks/ as a student
runs them, or taken ready-made from a folder (`--executed DIR`: the test suite hands over the
lectures its own lecture tests already ran, so nothing runs twice). MathJax comes from the npm
registry at set-up time (`course book --install-mathjax`, the Makefile's step) into .mathjax/ and
is copied into the site.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import nbformat

from dlcourse.chapters import ROOT, Chapter, available_chapters

CONF_DIR = ROOT / "book"
BOOK_DIR = ROOT / "build" / "book"
MATHJAX_PACKAGE = "mathjax@3.2.2"  # 3.x: its fonts ship in the package (4.x fetches them from a CDN)
MATHJAX_PREFIX = ROOT / ".mathjax"
MATHJAX_DIST = MATHJAX_PREFIX / "node_modules" / "mathjax" / "es5"
# latest.js looks up the newest MathJax on a CDN; node-main.js is for Node. Neither belongs in a page.
MATHJAX_LEFT_OUT = ("latest.js", "node-main.js")
CELL_TIMEOUT_S = 120


class BookError(RuntimeError):
    pass


def install_mathjax() -> Path:
    """MathJax from the npm registry into .mathjax/ (once); the build itself downloads nothing."""
    if not (MATHJAX_DIST / "tex-mml-chtml.js").exists():
        if not shutil.which("npm"):
            raise BookError("npm is needed once to install MathJax (Debian: apt-get install npm)")
        MATHJAX_PREFIX.mkdir(exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(MATHJAX_PREFIX), MATHJAX_PACKAGE],
                       check=True, capture_output=True)
    return MATHJAX_DIST


def execute_lecture(chapter: Chapter, kernel_log: Path, timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """Run a lecture top to bottom in a fresh python3 kernel, in notebooks/ as a student would.

    The kernel process's own stderr (ipykernel's start-up notices) goes to `kernel_log`; what the
    lecture's cells write to stderr stays in the notebook, as a student would see it.
    """
    import nbclient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(str(chapter.lecture), as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(chapter.lecture.parent)}})
    with kernel_log.open("a") as log:
        log.write(f"--- {chapter.lecture.relative_to(ROOT)}\n")
        log.flush()
        try:
            client.execute(stderr=log)
        except CellExecutionError as err:  # a lecture that fails is a bug, not a page to publish
            raise BookError(f"{chapter.lecture.relative_to(ROOT)} failed:\n{str(err)[-2000:]}") from err
        except Exception as err:  # a dead kernel, a timeout: its own log says more
            raise BookError(f"{chapter.lecture.relative_to(ROOT)} could not run ({err!r}); kernel log: {kernel_log}") from err
    return nb


def landing_page(chapters: list[Chapter]) -> str:
    """index.md: what the book is, the chapter index, and the navigation (two hidden toctrees)."""
    rows = "\n".join(
        f"| {ch.number} | {ch.title} | {{doc}}`Lecture {ch.number} <lectures/{ch.id}>` "
        f"| {{doc}}`Assignment {ch.number} <assignments/{ch.id}>` |" for ch in chapters)
    lectures = "\n".join(f"lectures/{ch.id}" for ch in chapters)
    assignments = "\n".join(f"assignments/{ch.id}" for ch in chapters)
    return f"""# Deep learning foundations in Keras 3

From a single neuron to a deep net that trains, in {len(chapters)} chapters. Each chapter has a
**lecture**, shown here as it ran (its outputs and figures), and an **assignment**: the student
version as it is handed out, without outputs. Download an assignment with the download button at
the top of its page, solve it in JupyterLab, and check it with the visible tests in the notebook;
the repository's README shows how to run the hidden tests (`course grade`).

| # | chapter | lecture | assignment |
|---|---------|---------|------------|
{rows}

```{{toctree}}
:caption: Lectures
:hidden:

{lectures}
```

```{{toctree}}
:caption: Assignments
:hidden:

{assignments}
```
"""


def lay_out(src: Path, chapters: list[Chapter], lectures: dict[str, nbformat.NotebookNode]) -> None:
    """Write the pages Sphinx reads: the landing page, the executed lectures, the release notebooks."""
    shutil.rmtree(src, ignore_errors=True)
    (src / "lectures").mkdir(parents=True)
    (src / "assignments").mkdir()
    (src / "index.md").write_text(landing_page(chapters))
    for ch in chapters:
        nbformat.write(lectures[ch.id], str(src / "lectures" / f"{ch.id}.ipynb"))
        if not ch.release.exists():
            raise BookError(f"{ch.release.relative_to(ROOT)} is missing: run `course release`")
        shutil.copyfile(ch.release, src / "assignments" / f"{ch.id}.ipynb")


def sphinx(src: Path, html: Path, doctrees: Path, jobs: int = 2) -> None:
    """Sphinx in its own process: its global registries stay out of the caller's (pytest's)."""
    shutil.rmtree(html, ignore_errors=True)
    shutil.rmtree(doctrees, ignore_errors=True)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", str(jobs), "-c", str(CONF_DIR),
           "-d", str(doctrees), str(src), str(html)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise BookError(f"sphinx-build failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    if done.stderr.strip():  # warnings: shown, not fatal (one markup slip in a lecture should not cost the book)
        print(done.stderr.rstrip(), file=sys.stderr)


# Tags whose attribute makes the browser fetch something as the page loads (a plain <a href> does not).
_FETCHED = {"script": ("src",), "img": ("src", "srcset"), "source": ("src", "srcset"), "iframe": ("src",),
            "embed": ("src",), "object": ("data",), "video": ("src", "poster"), "audio": ("src",),
            "track": ("src",), "input": ("src",)}
# <link> relations that only name another page; every other <link> (stylesheet, icon, preload, ...) loads.
_LINK_NAVIGATION = {"canonical", "alternate", "next", "prev", "search", "index", "author", "license", "help"}
_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])(?P<url>[a-z][a-z0-9+.-]*:)?//""", re.I)


class _Resources(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        names = _FETCHED.get(tag, ())
        if tag == "link" and not set(attrs.get("rel", "").lower().split()) <= _LINK_NAVIGATION:
            names = ("href",)
        for name in names:
            for url in attrs.get(name, "").replace(",", " ").split():
                if _remote(url):
                    self.found.append(f"<{tag} {name}={url}>")
        if _CSS_URL.search(attrs.get("style", "")):
            self.found.append(f"<{tag} style=...{attrs['style'][:80]}>")


def _remote(url: str) -> bool:
    parts = urlsplit(url)
    return url.startswith("//") or (parts.scheme in ("http", "https", "ws", "wss", "ftp") and bool(parts.netloc))


def external_resources(html: Path) -> list[str]:
    """Every URL off this machine that a page or stylesheet of the site would load (hyperlinks excepted)."""
    found = []
    for page in sorted(html.rglob("*.html")):
        text = page.read_text(errors="replace")
        parser = _Resources()
        parser.feed(text)
        inline_css = " ".join(re.findall(r"<style[^>]*>(.*?)</style>", text, re.S))
        found += [f"{page.relative_to(html)}: {item}" for item in parser.found]
        if _CSS_URL.search(inline_css):
            found.append(f"{page.relative_to(html)}: <style> loads a remote URL")
    for sheet in sorted(html.rglob("*.css")):
        for match in _CSS_URL.finditer(sheet.read_text(errors="replace")):
            found.append(f"{sheet.relative_to(html)}: {match.group(0)}")
    return found


@dataclass
class Book:
    html: Path
    chapters: list[Chapter]
    seconds: dict[str, float] = field(default_factory=dict)  # step -> seconds

    @property
    def index(self) -> Path:
        return self.html / "index.html"


def build(out: Path = BOOK_DIR, executed: Path | None = None, chapters: list[Chapter] | None = None,
          timeout: int = CELL_TIMEOUT_S, log=print) -> Book:
    """Lay out and render the book under `out`; lectures executed here unless `executed` holds them."""
    chapters = chapters if chapters is not None else available_chapters()
    if not (MATHJAX_DIST / "tex-mml-chtml.js").exists():
        raise BookError("MathJax is not installed: run `course book --install-mathjax` (or `make book`)")
    book = Book(out / "html", chapters)
    lectures = {}
    out.mkdir(parents=True, exist_ok=True)
    kernel_log = out / "kernels.log"
    kernel_log.unlink(missing_ok=True)
    for ch in chapters:
        started = time.perf_counter()
        if executed is None:
            log(f"executing {ch.lecture.relative_to(ROOT)}", flush=True)
            lectures[ch.id] = execute_lecture(ch, kernel_log, timeout)
            book.seconds[f"executing {ch.lecture.name}"] = time.perf_counter() - started
        else:
            path = executed / f"{ch.id}.ipynb"
            if not path.exists():
                raise BookError(f"{path} is missing: --executed needs every lecture, executed")
            lectures[ch.id] = nbformat.read(str(path), as_version=4)
    started = time.perf_counter()
    lay_out(out / "src", chapters, lectures)
    log(f"rendering {len(chapters)} lectures and {len(chapters)} assignments with Sphinx", flush=True)
    sphinx(out / "src", book.html, out / "doctrees")
    shutil.copytree(MATHJAX_DIST, book.html / "_static" / "mathjax", ignore=shutil.ignore_patterns(*MATHJAX_LEFT_OUT))
    book.seconds["rendering with Sphinx"] = time.perf_counter() - started
    remote = external_resources(book.html)
    if remote:
        raise BookError("the site would load from the network:\n" + "\n".join(remote[:20]))
    return book
