"""Per-test-cell results of an autograded submission, as students and tools see them.

Scores come from nbgrader's gradebook; the status and message come from the autograded
notebook's outputs and from comparing the submitted notebook with the source.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from dlcourse_grading.notebook import is_test_cell, nbgrader_meta, read_assignment, strip_hidden_tests

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STATUSES = ("passed", "failed", "error", "timeout", "crashed", "missing", "tampered")


@dataclass
class CellResult:
    grade_id: str
    points: float
    max_points: float
    status: str    # one of STATUSES: what the student should know first
    outcome: str   # passed / failed / error / timeout / crashed: how the cell ran
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def _error_of(cell) -> tuple[str, str] | None:
    """The cell's error; tampering, once detected, is what the student must hear about."""
    errors = [(o.get("ename", "Error"), ANSI.sub("", o.get("evalue", "")))
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    tampering = [e for e in errors if e[0] == "TamperingError"]
    return (tampering or errors or [None])[0]


def _stderr_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stderr")


#: How the engine's error names read to a student.
ERROR_STATUS = {"CellTimeoutError": "timeout", "NotebookTimeout": "timeout", "DeadKernelError": "crashed",
                "KeyboardInterrupt": "timeout",  # only the grader's timeout interrupts a kernel
                "NotRun": "crashed", "TamperingError": "tampered", "AssertionError": "failed"}


def _outcome(cell, points: float, max_points: float) -> tuple[str, str]:
    if cell is None:
        return "crashed", "the notebook stopped before this cell ran (the kernel died or grading was aborted)"
    error = _error_of(cell)
    if error:
        ename, evalue = error
        if ename == "KeyboardInterrupt":
            evalue = "the cell ran past its time limit and was interrupted"
        return ERROR_STATUS.get(ename, "error"), f"{ename}: {evalue}".strip().rstrip(":")
    if points >= max_points:
        return "passed", ""
    if _stderr_of(cell):
        return "failed", "the cell wrote to stderr, which nbgrader scores as a failure"
    return "failed", "the cell ran without passing all its checks"


def _sources_by_grade_id(path: Path) -> dict[str, str] | None:
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # an unreadable submission: every cell counts as missing
        return None
    return {nbgrader_meta(c).get("grade_id"): c.get("source", "") for c in nb.cells if nbgrader_meta(c).get("grade_id")}


def collect(root: Path, db_url: str, assignment: str, student: str, notebook: str, source_nb: Path,
            submitted_nb: Path | None = None, lost: str = "") -> list[CellResult]:
    """Results for every test cell of the source notebook, in notebook order. `lost` is the
    reason when no grading worker could finish the submission."""
    root = Path(root)
    source = read_assignment(source_nb)
    autograded_path = root / "autograded" / student / assignment / f"{notebook}.ipynb"
    autograded = {}
    if autograded_path.exists():
        nb = nbformat.read(str(autograded_path), as_version=4)
        autograded = {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if is_test_cell(c)}
    submitted_path = submitted_nb or root / "submitted" / student / assignment / f"{notebook}.ipynb"
    submitted = _sources_by_grade_id(submitted_path)
    unreadable = submitted is None
    submitted = submitted or {}

    results = []
    with Gradebook(db_url) as gb:
        for test in source.test_cells:
            try:
                grade = gb.find_grade(test.grade_id, notebook, assignment, student)
                points = float(grade.score or 0.0)
            except MissingEntry:
                points = 0.0
            outcome, message = _outcome(autograded.get(test.grade_id), points, test.points)
            status = outcome
            if lost:
                message = lost
            elif unreadable:
                status = "missing"
                message = "your notebook file could not be read (invalid or empty); it was graded as the untouched assignment"
            elif outcome not in ("crashed", "timeout", "tampered"):
                if test.grade_id not in submitted:
                    status = "missing"
                    message = f"this test cell was deleted from your notebook; the original was restored and {outcome}. {message}".strip()
                elif submitted[test.grade_id].strip() != strip_hidden_tests(test.source).strip() and \
                        submitted[test.grade_id].strip() != test.source.strip():
                    status = "tampered"
                    message = f"this test cell was edited in your notebook; the original was restored and {outcome}. {message}".strip()
            results.append(CellResult(test.grade_id, points, test.points, status, outcome, message))
    return results

