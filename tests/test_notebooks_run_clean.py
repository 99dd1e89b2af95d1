"""Lecture notebooks and reference solutions run top to bottom, fast, with nothing on stderr."""
from __future__ import annotations

import nbformat
import pytest

from dlcourse.chapters import available_chapters
from dlcourse_grading.example_class import submissions
from tests import tables
from tests.kernels import run_notebook

CHAPTERS = available_chapters()
LECTURE_BUDGET_S = 60     # "well under a minute" on 2 CPU cores, kernel start included
MEMORY_BUDGET_MB = 1500   # a hub pod has 2 GiB


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_lecture_runs_clean(chapter, lecture_runs):
    run = lecture_runs.get(chapter)  # executed here, kept for the book (tests/test_book.py)
    tables.add("run", f"notebooks/{chapter.lecture.name}", run.seconds, run.peak_rss_mb)
    assert not run.problems(), run.problems()
    assert run.seconds < LECTURE_BUDGET_S
    assert run.peak_rss_mb < MEMORY_BUDGET_MB


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_reference_solution_is_silent(chapter, tmp_path):
    """Every cell of the reference submission, hidden tests included, writes nothing to stderr."""
    reference = submissions(chapter)["ada_reference"]
    # Put the hidden tests back as nbgrader does when it grades.
    source = nbformat.read(str(chapter.source), as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    for cell in reference.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in tests and cell.cell_type == "code":
            cell.source = tests[gid]
    run = run_notebook(reference, str(tmp_path))
    tables.add("run", f"{chapter.id} reference solution + hidden tests", run.seconds, run.peak_rss_mb)
    assert not run.problems(), run.problems()  # errors and stderr alike (the test below shows it)


def test_a_run_reports_every_error_and_every_write_to_stderr(tmp_path):
    """What makes the two tests above meaningful: problems() sees stderr and errors, per cell."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in (
        "print('fine')", "import sys; sys.stderr.write('a warning')", "1 / 0")])
    problems = run_notebook(nb, str(tmp_path)).problems()
    assert problems == ["cell 1 stderr: a warning", "cell 2: ZeroDivisionError: division by zero"]
