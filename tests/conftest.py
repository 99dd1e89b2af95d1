"""Shared fixtures and the strength table printed at the end of the run."""
from __future__ import annotations

import os

import pytest

import dlcourse  # noqa: F401  (quiet TensorFlow before anything imports it)
from dlcourse.chapters import available_chapters
from tests import tables
from tests.kernels import NotebookRuns


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory) -> NotebookRuns:
    """The lectures and reference solutions executed in this session (each once), for the lecture
    tests and the book."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker has its own basetemp; their parent is the run's
        base = base.parent
    return NotebookRuns(base / "executed-notebooks", available_chapters())


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller of an xdist run, or a plain run
        tables.start()


def pytest_collection_modifyitems(items):
    """The book renders the lectures the lecture tests executed: after them, its time is its own."""
    items.sort(key=lambda item: item.path.name == "test_book.py")  # stable: the rest keep their order


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    RUN_ROWS, CLASSROOM_ROWS, BOOK_ROWS, ADVERSARIAL_ROWS, STRENGTH_ROWS = (
        tables.rows(name) for name in ("run", "classroom", "book", "adversarial", "strength"))
    if RUN_ROWS:
        tr.section("notebooks run top to bottom in a real kernel (budget: well under a minute on 2 cores)")
        tr.write_line(f"{'':<56}{'wall':>9}{'kernel CPU':>12}{'peak memory':>14}")
        for name, seconds, cpu, peak in RUN_ROWS:
            tr.write_line(f"{name:<56}{seconds:>7.1f} s{cpu:>10.1f} s{peak:>11.0f} MB")
    if CLASSROOM_ROWS:
        from tests.browser import CLASSROOM, OUTPUT

        tr.section("classroom round trip through JupyterHub: steps and screenshots")
        for step, seconds in CLASSROOM_ROWS:
            tr.write_line(f"{step:<60}{seconds:>7.1f} s")
        for path in CLASSROOM.saved():
            tr.write_line(str(path.relative_to(OUTPUT.parents[1])))
    if BOOK_ROWS:
        from tests.browser import BOOK

        tr.section("the course as a book: build from the executed lectures, pages in Chromium, screenshots")
        for step, seconds in BOOK_ROWS:
            tr.write_line(f"{step:<60}{seconds:>7.1f} s")
        for path in BOOK.saved():
            tr.write_line(str(path.relative_to(BOOK.folder.parents[1])))
    if ADVERSARIAL_ROWS:
        tr.section("adversarial class: case -> status of the lost test cells, points")
        for student, statuses, points, max_points in ADVERSARIAL_ROWS:
            tr.write_line(f"{student:<32}{statuses:<28}{points:g}/{max_points:g}")
    if not STRENGTH_ROWS:
        return
    tr.section("hidden-test strength: wrong implementations caught, correct ones kept")
    tr.write_line(f"{'chapter':<22}{'exercise':<28}{'wrong caught':>14}{'correct kept':>14}")
    for chapter, exercise, caught, wrong, kept, correct in sorted(STRENGTH_ROWS):
        tr.write_line(f"{chapter:<22}{exercise:<28}{f'{caught}/{wrong}':>14}{f'{kept}/{correct}':>14}")
    total = [sum(r[i] for r in STRENGTH_ROWS) for i in (2, 3, 4, 5)]
    tr.write_line(f"{'total':<50}{f'{total[0]}/{total[1]}':>14}{f'{total[2]}/{total[3]}':>14}")
