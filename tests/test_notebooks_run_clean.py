"""Lecture notebooks and reference solutions run top to bottom, fast, with nothing on stderr."""
from __future__ import annotations

import nbformat
import pytest

from dlcourse.chapters import available_chapters
from tests import tables
from tests.kernels import run_notebook

CHAPTERS = available_chapters()
#: "Well under a minute" on a 2-core laptop, kernel start included, counted in the kernel's CPU
#: seconds: the lectures run on one core (alone on this 2-core machine, 28-41 s of CPU for 29-43 s
#: of wall time), and unlike wall time the count does not grow when the suite runs two at once
#: (tests/kernels.py).
LECTURE_BUDGET_S = 60
MEMORY_BUDGET_MB = 1500   # a hub pod has 2 GiB


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_lecture_runs_clean(chapter, notebook_runs):
    run = notebook_runs.lecture(chapter)  # kept for the book (tests/test_book.py)
    tables.add("run", f"notebooks/{chapter.lecture.name}", run.seconds, run.cpu_seconds, run.peak_rss_mb)
    assert not run.problems(), run.problems()
    assert run.cpu_seconds < LECTURE_BUDGET_S, f"{run.cpu_seconds:.0f} s of CPU"
    assert run.peak_rss_mb < MEMORY_BUDGET_MB


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_reference_solution_is_silent(chapter, notebook_runs):
    """Every cell of the reference submission, hidden tests included, writes nothing to stderr."""
    run = notebook_runs.reference(chapter)  # the hidden tests put back as nbgrader does when it grades
    tables.add("run", f"{chapter.id} reference solution + hidden tests", run.seconds, run.cpu_seconds, run.peak_rss_mb)
    assert not run.problems(), run.problems()  # errors and stderr alike (the test below shows it)


def test_a_run_reports_every_error_and_every_write_to_stderr(tmp_path):
    """What makes the two tests above meaningful: problems() sees stderr and errors, per cell."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in (
        "print('fine')", "import sys; sys.stderr.write('a warning')", "1 / 0")])
    problems = run_notebook(nb, str(tmp_path)).problems()
    assert problems == ["cell 1 stderr: a warning", "cell 2: ZeroDivisionError: division by zero"]
