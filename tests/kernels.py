"""Run notebooks in a real Jupyter kernel and report what a student would see."""
from __future__ import annotations

import fcntl
import json
import time
from dataclasses import dataclass
from pathlib import Path

import nbclient
import nbformat

PEAK_RSS_CELL = "import resource as _r; print('PEAK_RSS_KB', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)"


@dataclass
class Run:
    nb: nbformat.NotebookNode
    seconds: float
    peak_rss_mb: float

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
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_RSS_CELL))
    started = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": cwd}}).execute()
    seconds = time.perf_counter() - started
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    peak = float(text.split()[-1]) / 1024 if "PEAK_RSS_KB" in text else float("nan")
    nb.cells.pop()
    return Run(nb, seconds, peak)


class LectureRuns:
    """Each lecture executed once per test session, its run kept in `folder`.

    The lecture tests assert on the run (clean, fast, small) and the book is rendered from the
    executed notebooks (`course book --executed FOLDER`), whichever asks first. Under pytest-xdist
    the workers share the folder, and a lock per lecture lets one of them run it.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, chapter) -> Run:
        notebook = self.folder / f"{chapter.id}.ipynb"  # the name `course book --executed` reads
        measured = self.folder / f"{chapter.id}.run.json"  # written last: the run is complete
        with open(self.folder / f"{chapter.id}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if measured.exists():
                facts = json.loads(measured.read_text())
                return Run(nbformat.read(str(notebook), as_version=4), facts["seconds"], facts["peak_rss_mb"])
            run = run_notebook(nbformat.read(str(chapter.lecture), as_version=4), str(chapter.lecture.parent))
            nbformat.write(run.nb, str(notebook))
            measured.write_text(json.dumps({"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}))
            return run
