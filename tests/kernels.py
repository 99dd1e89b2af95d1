"""Run notebooks in a real Jupyter kernel and report what a student would see."""
from __future__ import annotations

import fcntl
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbclient
import nbformat

from dlcourse_grading.example_class import submissions

#: The kernel's own account, appended as a last cell: peak resident memory (kB) and CPU seconds
#: (all its threads, and any processes it waited for), from its start. The peak is Linux's VmHWM,
#: its own memory's: ru_maxrss also keeps the launching process's, across the exec (a kernel the
#: suite started after TensorFlow was loaded into pytest reported 950 MB whatever it ran).
USAGE_CELL = ("import resource as _r; _s, _c = _r.getrusage(_r.RUSAGE_SELF), _r.getrusage(_r.RUSAGE_CHILDREN); "
              "_p = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')]; "
              "print('USAGE', (_p or [_s.ru_maxrss])[0], _s.ru_utime + _s.ru_stime + _c.ru_utime + _c.ru_stime)")


@dataclass
class Run:
    nb: nbformat.NotebookNode
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float  # the kernel's: unlike `seconds`, the same whatever else runs on the machine

    def problems(self) -> list[str]:
        """Every error output and every stderr stream, with the cell index."""
        found = []
        for index, cell in enumerate(self.nb.cells):
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    found.append(f"cell {index}: {out.ename}: {out.evalue[:300]}")
                elif out.output_type == "stream" and out.name == "stderr":
                    found.append(f"cell {index} stderr: {out.text[:300]}")
        return found


def run_notebook(nb: nbformat.NotebookNode, cwd: str, timeout: int = 120) -> Run:
    nb = nbformat.from_dict(nb)
    nb.cells.append(nbformat.v4.new_code_cell(USAGE_CELL))
    started = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": cwd}}).execute()
    seconds = time.perf_counter() - started
    words = "".join(o.get("text", "") for o in nb.cells[-1].outputs).split()
    peak, cpu = (float(words[-2]) / 1024, float(words[-1])) if words[:1] == ["USAGE"] else (float("nan"),) * 2
    nb.cells.pop()
    return Run(nb, seconds, peak, cpu)


#: Notebooks executed at once: a lecture's kernel keeps one core busy (its CPU seconds are its
#: wall seconds, measured), and the suite has two.
CONCURRENT_RUNS = 2


def reference_with_hidden_tests(chapter) -> nbformat.NotebookNode:
    """The chapter's reference submission with the hidden tests put back, as nbgrader grades it."""
    reference = submissions(chapter)["ada_reference"]
    source = nbformat.read(str(chapter.source), as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    for cell in reference.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in tests and cell.cell_type == "code":
            cell.source = tests[gid]
    return reference


class NotebookRuns:
    """Every lecture, and every reference solution with its hidden tests, executed once per test
    session and kept in `folder` (lectures/ is what `course book --executed` reads).

    The first test that asks for one kind runs all notebooks of that kind, CONCURRENT_RUNS at a
    time; the tests then assert on the runs (clean, small, within their CPU budget) and the book
    renders the lectures, whichever asks first. Under pytest-xdist the workers share the folder,
    and a lock per kind lets one of them run it.
    """

    def __init__(self, folder: Path, chapters):
        self.folder, self.chapters = folder, list(chapters)
        self.lectures = folder / "lectures"
        for kind in ("lectures", "references"):
            (folder / kind).mkdir(parents=True, exist_ok=True)

    def lecture(self, chapter) -> Run:
        return self._get("lectures", chapter)

    def reference(self, chapter) -> Run:
        return self._get("references", chapter)

    def _job(self, kind: str, chapter) -> tuple[nbformat.NotebookNode, str]:
        if kind == "lectures":
            return nbformat.read(str(chapter.lecture), as_version=4), str(chapter.lecture.parent)
        cwd = self.folder / kind / f"{chapter.id}.cwd"  # the working directory a submission gets
        cwd.mkdir(exist_ok=True)
        return reference_with_hidden_tests(chapter), str(cwd)

    def _paths(self, kind: str, chapter) -> tuple[Path, Path]:
        """The executed notebook, and its measurements (written last: the run is complete)."""
        notebook = self.folder / kind / f"{chapter.id}.ipynb"
        return notebook, notebook.with_suffix(".run.json")

    def _get(self, kind: str, chapter) -> Run:
        notebook, measured = self._paths(kind, chapter)
        with open(self.folder / f"{kind}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not measured.exists():
                self._run_all(kind)
            return Run(nbformat.read(str(notebook), as_version=4), **json.loads(measured.read_text()))

    def _run_all(self, kind: str) -> None:
        def one(chapter):
            run = run_notebook(*self._job(kind, chapter))
            notebook, measured = self._paths(kind, chapter)
            nbformat.write(run.nb, str(notebook))
            measured.write_text(json.dumps({"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb,
                                            "cpu_seconds": run.cpu_seconds}))

        pending = [ch for ch in self.chapters if not self._paths(kind, ch)[1].exists()]
        with ThreadPoolExecutor(CONCURRENT_RUNS) as pool:  # nbclient runs an event loop per thread
            list(pool.map(one, pending))
