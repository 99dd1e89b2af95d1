"""The classroom round trip through nbgrader's exchange, between real Unix accounts:
release, fetch, validate, submit (a resubmission and a late one), collect, grade with the
course's grader, generate and release feedback, fetch feedback."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from dlcourse.chapters import chapter
from dlcourse_grading.classroom import INSTRUCTOR, Classroom
from dlcourse_grading.engine import sandbox
from dlcourse_grading.engine.classgrader import grade_class
from dlcourse_grading.notebook import nbgrader_meta, read_assignment, strip_solution_markers
from dlcourse_grading.paths import db_url

CH = chapter(1)
ALICE, BOB = "course-alice", "course-bob"

pytestmark = pytest.mark.skipif(not sandbox.is_root(), reason="needs root to create the class's Unix accounts")


def solve(path, grade_ids):
    """What a student does in JupyterLab: type the answer into the chosen solution cells."""
    source = read_assignment(CH.source)
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in grade_ids:
            cell.source = strip_solution_markers(source.exercise(gid).source)
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def classroom():
    # Not under pytest's tmp_path: that is private to root, and the class's accounts must reach it.
    base = Path(tempfile.mkdtemp(prefix="course-classroom-"))
    room = Classroom(base)
    room.setup()
    yield from _round_trip(room)
    shutil.rmtree(base, ignore_errors=True)


def _round_trip(room):
    room.nbgrader(INSTRUCTOR, "generate_assignment", CH.id)
    room.nbgrader(INSTRUCTOR, "release_assignment", CH.id)
    notebook = f"{CH.id}/{CH.id}.ipynb"

    room.nbgrader(ALICE, "fetch_assignment", CH.id)
    solve(room.home(ALICE) / notebook, {"collapse_dense_layers"})
    room.validate_first = room.nbgrader(ALICE, "validate", notebook)
    room.nbgrader(ALICE, "submit", CH.id)
    solve(room.home(ALICE) / notebook, {"collapse_dense_layers", "mlp_forward"})  # she improves it...
    room.nbgrader(ALICE, "submit", CH.id)                                         # ...and resubmits

    time.sleep(3)  # the due date falls well between Alice's last submission and Bob's
    due = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S UTC")
    room.nbgrader(INSTRUCTOR, "db", "assignment", "add", CH.id, f"--duedate={due}")
    room.nbgrader(BOB, "fetch_assignment", CH.id)
    solve(room.home(BOB) / notebook, {"collapse_dense_layers"})
    room.nbgrader(BOB, "submit", CH.id)                                           # after the due date

    room.nbgrader(INSTRUCTOR, "collect", CH.id)
    room.graded = grade_class(room.course, [CH.id], progress=False)  # as root: student code unprivileged
    room.nbgrader(INSTRUCTOR, "release_feedback", CH.id)
    for student in (ALICE, BOB):
        room.nbgrader(student, "fetch_feedback", CH.id)
    yield room


def test_validate_reports_to_the_student(classroom):
    assert "VALIDATION FAILED" in classroom.validate_first or "failed" in classroom.validate_first.lower()


def test_collected_and_graded_with_the_resubmission(classroom):
    assert not [j for j in classroom.graded.jobs if j.error]
    with Gradebook(db_url(classroom.course)) as gb:
        alice = gb.find_submission(CH.id, ALICE)
        bob = gb.find_submission(CH.id, BOB)
        scores = {s: {g.name: g.score for nb in sub.notebooks for g in nb.grades if g.cell_type == "code"}
                  for s, sub in ((ALICE, alice), (BOB, bob))}
        assert alice.total_seconds_late == 0 and bob.total_seconds_late > 0
    assert scores[ALICE]["test_collapse_dense_layers"] == 2 and scores[ALICE]["test_mlp_forward"] == 2
    assert scores[BOB]["test_collapse_dense_layers"] == 2 and scores[BOB]["test_mlp_forward"] == 0
    assert sum(scores[ALICE].values()) == 4 and sum(scores[BOB].values()) == 2


def test_students_fetch_feedback_without_hidden_tests(classroom):
    for student in (ALICE, BOB):
        pages = list((classroom.home(student) / CH.id / "feedback").glob(f"*/{CH.id}.html"))
        assert len(pages) == 1, pages
        text = pages[0].read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "dlcourse_grading" not in text
        assert "test_collapse_dense_layers" in text or "collapse_dense_layers" in text


def test_released_assignment_has_no_solutions(classroom):
    fetched = classroom.home(BOB) / CH.id / f"{CH.id}.ipynb"
    released = list(classroom.exchange.glob(f"*/outbound/{CH.id}/{CH.id}.ipynb"))
    assert released and "BEGIN SOLUTION" not in released[0].read_text()
    assert json.loads(fetched.read_text())["cells"]
