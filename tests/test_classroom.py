"""The classroom round trip through a real JupyterHub (tests need root: the class's Unix accounts).

The hub (`dlcourse_grading.hub`, `classroom/jupyterhub_config.py`) runs on loopback with
configurable-http-proxy, a shared-password login and a local spawner; every user's JupyterLab
runs as their own account with nbgrader's extensions. In order:

1. the instructor generates and releases chapter 1 (Formgrader's API, through the hub);
2. carol, in Chromium: logs in, opens the Assignments panel, fetches, completes an exercise and
   the written answer in JupyterLab, runs Validate, reads the result, submits;
3. alice, through her server's API: fetches, solves, validates, submits, improves, resubmits;
4. the instructor sets a due date that has passed; bob fetches, solves and submits late;
5. the instructor collects; the class is graded with `course grade-class` (as root, so student
   code runs unprivileged); feedback is generated and released, and every student fetches it
   (carol with the panel's Fetch Feedback button);
6. the instructor, in Chromium: opens Formgrader, sees the submissions with their autograded
   scores, and enters a manual grade for carol's written answer.

Students' servers run from the student environment (no `dlcourse_grading`) and the repository is
closed to them while the hub is up: a kernel of a student's, started through the hub, proves it
(`test_student_kernel_sees_nothing_of_the_instructors`).
"""
from __future__ import annotations

import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from dlcourse.chapters import COURSE_ID, ROOT, chapter
from dlcourse_grading.classroom import INSTRUCTOR, Classroom
from dlcourse_grading.engine import sandbox
from dlcourse_grading.engine.classgrader import grade_class
from dlcourse_grading.hub import Hub
from dlcourse_grading.notebook import nbgrader_meta, read_assignment, strip_solution_markers
from dlcourse_grading.settings import GradingSettings, sqlite_url as db_url
from tests import browser
from tests import tables

CH = chapter(1)
NOTEBOOK = f"{CH.id}/{CH.id}.ipynb"
ALICE, BOB, CAROL = "course-alice", "course-bob", "course-carol"
WRITTEN = "written_choose_activation"
CAROL_ANSWER = "ReLU in the hidden layers: cheap, no saturation for positive inputs; softmax at the output."

pytestmark = pytest.mark.skipif(not sandbox.is_root(), reason="needs root to create the class's Unix accounts")


def solution(grade_id: str) -> str:
    return strip_solution_markers(read_assignment(CH.source).exercise(grade_id).source)


def solve(server, grade_ids) -> None:
    """Type answers into chosen solution cells and save, as JupyterLab does (contents API)."""
    nb = server.read_notebook(NOTEBOOK)
    for cell in nb["cells"]:
        if nbgrader_meta(cell).get("grade_id") in grade_ids:
            cell["source"] = solution(nbgrader_meta(cell)["grade_id"])
    server.save_notebook(NOTEBOOK, nb)


class _Steps:
    """Times each step of the round trip for the summary printed at the end of the run."""
    def __init__(self):
        self.last = time.perf_counter()

    def done(self, step: str) -> None:
        now = time.perf_counter()
        tables.add("classroom", step, now - self.last)
        self.last = now


def repository_group_and_mode():
    st = ROOT.stat()
    return st.st_gid, stat.S_IMODE(st.st_mode)


@pytest.fixture(scope="module")
def classroom():
    # Not under pytest's tmp_path: that is private to root, and the class's accounts must reach it.
    base = Path(tempfile.mkdtemp(prefix="course-classroom-"))
    steps = _Steps()
    room = Classroom(base)
    before = repository_group_and_mode()
    hub = None
    try:
        room.setup()
        steps.done("accounts, homes, exchange, student environment; repository closed")
        hub = room.hub = Hub(room).start()
        steps.done("JupyterHub started")
        browser.clear_output()
        with browser.browser() as chromium:
            yield from _round_trip(room, hub, chromium, steps)
    finally:
        if hub:
            hub.stop()  # ends the classroom: Classroom.teardown()
        room.teardown()
        shutil.rmtree(base, ignore_errors=True)
    assert repository_group_and_mode() == before, "the repository's group and mode were not restored"


def _round_trip(room, hub, chromium, steps):
    seen = room.seen = {}
    instructor = hub.user(INSTRUCTOR)
    instructor.formgrader("POST", f"assignment/{CH.id}/assign")
    seen["release"] = instructor.formgrader("POST", f"assignment/{CH.id}/release")
    steps.done("instructor: generate and release (Formgrader API)")

    _carol_in_the_browser(chromium, hub, room.password, seen)
    steps.done("carol in Chromium: fetch, complete, validate, submit")

    alice = hub.user(ALICE)
    alice.assignments("fetch", COURSE_ID, CH.id)
    solve(alice, {"collapse_dense_layers"})
    seen["alice_validate"] = alice.validate(NOTEBOOK)
    alice.assignments("submit", COURSE_ID, CH.id)
    solve(alice, {"collapse_dense_layers", "mlp_forward"})  # she improves it...
    alice.assignments("submit", COURSE_ID, CH.id)           # ...and resubmits
    steps.done("alice via her server: fetch, solve, validate, submit, resubmit")

    time.sleep(2)  # the due date falls well between alice's last submission and bob's
    due = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    instructor.formgrader("PUT", f"assignment/{CH.id}", json={
        "duedate_notimezone": due.strftime("%Y-%m-%dT%H:%M:%S"), "duedate_timezone": "+0000"})
    bob = hub.user(BOB)
    bob.assignments("fetch", COURSE_ID, CH.id)
    solve(bob, {"collapse_dense_layers"})
    bob.assignments("submit", COURSE_ID, CH.id)             # after the due date
    steps.done("due date passes; bob fetches, solves, submits late")

    seen["collect"] = instructor.formgrader("POST", f"assignment/{CH.id}/collect")
    steps.done("instructor: collect")
    seen["graded"] = grade_class(GradingSettings.load(room.course), [CH.id], progress=False)  # as root: unprivileged kernels
    steps.done("course grade-class (as root)")
    seen["generate_feedback"] = instructor.formgrader("POST", f"assignment/{CH.id}/generate_feedback")
    seen["release_feedback"] = instructor.formgrader("POST", f"assignment/{CH.id}/release_feedback")
    for student in (alice, bob):
        student.assignments("fetch_feedback", COURSE_ID, CH.id)
    steps.done("feedback generated, released, fetched by alice and bob")
    _carol_fetches_feedback(chromium, hub, room.password, seen)
    steps.done("carol in Chromium: fetch feedback, open it")
    _instructor_in_the_browser(chromium, hub, room.password, seen)
    steps.done("instructor in Chromium: Formgrader scores, manual grade")
    yield room


def _carol_in_the_browser(chromium, hub, password, seen):
    with browser.session(chromium, hub.url, CAROL, password) as page:
        browser.open_from_nbgrader_menu(page, "Assignment List")
        released = page.locator("#released_assignments_list")
        released.get_by_text(CH.id).wait_for()
        browser.shot(page, "carol_assignments_panel")
        released.get_by_role("button", name="Fetch").click()

        fetched = page.locator("#fetched_assignments_list")
        fetched.get_by_role("button", name=CH.id).click()           # show the assignment's notebooks
        browser.shot(page, "carol_fetched")
        fetched.locator(".nested_list_item a", has_text=CH.id).click()  # open it in JupyterLab

        cell = page.locator(".jp-Notebook .jp-CodeCell", has_text="def collapse_dense_layers").first
        browser.replace_cell_text(page, cell, solution("collapse_dense_layers"))
        answer = page.locator(".jp-Notebook .jp-MarkdownCell", has_text="YOUR ANSWER HERE").first
        answer.dblclick()
        browser.replace_cell_text(page, answer, CAROL_ANSWER)
        page.keyboard.press("Shift+Enter")
        page.keyboard.press("Control+s")
        page.locator(".jp-StatusBar-TextItem", has_text="Saving completed").wait_for()
        cell.scroll_into_view_if_needed()
        browser.shot(page, "carol_exercise_completed")

        browser.open_from_nbgrader_menu(page, "Assignment List")
        fetched.get_by_role("button", name="Validate").click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for()
        seen["carol_validate"] = dialog.inner_text()
        browser.shot(page, "carol_validate_result")
        dialog.get_by_role("button", name="OK").click()

        fetched.get_by_role("button", name="Submit").click()
        submitted = page.locator("#submitted_assignments_list .list_item")
        submitted.first.wait_for()
        seen["carol_submitted"] = submitted.first.inner_text()
        browser.shot(page, "carol_submitted")


def _carol_fetches_feedback(chromium, hub, password, seen):
    with browser.session(chromium, hub.url, CAROL, password) as page:
        browser.open_from_nbgrader_menu(page, "Assignment List")
        submitted = page.locator("#submitted_assignments_list")
        submitted.get_by_role("button", name="Fetch Feedback").click()
        submitted.locator("a", has_text="view feedback").first.click()  # the file browser opens its folder
        feedback = page.locator(".jp-DirListing-item", has_text=f"{CH.id}.html")
        feedback.dblclick()                                           # and JupyterLab shows the page
        page.get_by_role("tab", name=f"{CH.id}.html").wait_for()
        page.wait_for_timeout(1000)  # let the page render before the screenshot
        browser.shot(page, "carol_reads_feedback")
        seen["carol_feedback_opened"] = True


def _instructor_in_the_browser(chromium, hub, password, seen):
    with browser.session(chromium, hub.url, INSTRUCTOR, password) as page:
        browser.open_from_nbgrader_menu(page, "Formgrader")
        formgrader = page.frame_locator("iframe[src*='/formgrader']")
        row = formgrader.locator("tr", has_text=CH.id)
        row.locator("td").nth(8).get_by_role("link").click()  # the "# submissions" column
        formgrader.locator("tr", has_text=CAROL).wait_for()
        seen["formgrader_submissions"] = formgrader.locator("table").inner_text()
        browser.shot(page, "instructor_formgrader_submissions")

        formgrader.get_by_role("link", name="Manual Grading").first.click()
        formgrader.get_by_role("link", name=CH.id).click()
        formgrader.locator("tbody a").first.click()              # the assignment's notebook
        formgrader.get_by_role("link", name="Submission #3").wait_for()  # the table has loaded
        formgrader.get_by_text("Show All Names").click()         # submissions are anonymous at first
        formgrader.get_by_role("link", name=CAROL).click()
        score = formgrader.locator(f"input#{WRITTEN}")
        score.scroll_into_view_if_needed()
        seen["formgrade_answer_shown"] = CAROL_ANSWER[:40] in formgrader.locator("body").inner_text()
        with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as saved:
            score.fill("2")
            score.press("Tab")                                   # Formgrader saves when the field changes
        seen["manual_grade_saved"] = saved.value.status
        browser.shot(page, "instructor_manual_grade")


def scores(course, student):
    with Gradebook(db_url(course)) as gb:
        sub = gb.find_submission(CH.id, student)
        return {g.name: g.score for nb in sub.notebooks for g in nb.grades}, sub.total_seconds_late


def test_assignment_released_without_solutions(classroom):
    assert classroom.seen["release"]["success"]
    released = list(classroom.exchange.glob(f"*/outbound/{CH.id}/{CH.id}.ipynb"))
    assert released and "BEGIN SOLUTION" not in released[0].read_text()


def test_student_in_the_browser_validates_and_submits(classroom):
    seen = classroom.seen
    assert "Validation Results" in seen["carol_validate"]
    failed = seen["carol_validate"]
    assert "mlp_forward(x, params)" in failed                 # the next, unsolved exercise fails...
    assert "collapse_dense_layers(first, second)" not in failed  # ...the one she completed does not
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", seen["carol_submitted"])
    assert seen["carol_feedback_opened"]


def test_validate_through_the_hub_reports_failures(classroom):
    result = classroom.seen["alice_validate"]
    assert result["success"] and result["value"]["failed"]


def test_collected_and_graded_with_resubmission_and_late_work(classroom):
    assert "Processing 3 submissions" in classroom.seen["collect"]["log"]
    assert not [j for j in classroom.seen["graded"].jobs if j.error]
    alice, alice_late = scores(classroom.course, ALICE)
    bob, bob_late = scores(classroom.course, BOB)
    carol, carol_late = scores(classroom.course, CAROL)
    assert alice_late == 0 and carol_late == 0 and bob_late > 0
    assert alice["test_collapse_dense_layers"] == 2 and alice["test_mlp_forward"] == 2  # the resubmission
    assert bob["test_collapse_dense_layers"] == 2 and bob["test_mlp_forward"] == 0
    assert carol["test_collapse_dense_layers"] == 2 and carol["test_mlp_forward"] == 0
    assert sum(v for k, v in alice.items() if k != WRITTEN) == 4
    assert sum(v for k, v in bob.items() if k != WRITTEN) == 2


def test_instructor_sees_scores_and_grades_the_written_answer(classroom):
    seen = classroom.seen
    table = seen["formgrader_submissions"]
    for student in (ALICE, BOB, CAROL):
        assert student in table
    carol_row = next(line for line in table.splitlines() if CAROL in line)
    total = sum(ex.max_points for ex in read_assignment(CH.source).exercises)  # Formgrader's "score / max"
    assert re.search(rf"\b2(\.0)? / {total:g}\b", carol_row), carol_row  # her autograded score
    assert seen["formgrade_answer_shown"]
    assert seen["manual_grade_saved"] == 200
    carol, _ = scores(classroom.course, CAROL)
    assert carol[WRITTEN] == 2


def test_instructor_report_from_the_classroom_gradebook(classroom, tmp_path):
    """`course report` on the hub's course: the manual grade typed in Formgrader is in it."""
    import pandas as pd

    from dlcourse_grading.report import build_report

    html_path, csv_path = build_report(classroom.course, tmp_path)
    grades = pd.read_csv(csv_path, index_col="student")
    assert grades.loc[CAROL, f"{CH.id}:{WRITTEN}"] == 2
    assert grades.loc[ALICE, f"{CH.id}:test_mlp_forward"] == 2 and grades.loc[BOB, f"{CH.id}:test_mlp_forward"] == 0
    assert "data:image/png;base64," in html_path.read_text()


def test_students_fetch_feedback_without_hidden_tests(classroom):
    assert classroom.seen["release_feedback"]["success"]
    for student in (ALICE, BOB, CAROL):
        pages = list((classroom.home(student) / CH.id / "feedback").glob(f"*/{CH.id}.html"))
        assert len(pages) == 1, (student, pages)
        text = pages[0].read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "dlcourse_grading" not in text
        assert "collapse_dense_layers" in text


# Run in a student's kernel: what it can import and read (PATHS is prepended).
PROBE = """
import json, os, sys
seen = {"executable": sys.executable}
try:
    import dlcourse_grading
    seen["import dlcourse_grading"] = "imported from " + dlcourse_grading.__file__
except ModuleNotFoundError as error:
    seen["import dlcourse_grading"] = type(error).__name__
for name, path in PATHS.items():
    try:
        os.listdir(path) if name.endswith("/") else open(path, "rb").read(1)
        seen[name] = "read"
    except OSError as error:
        seen[name] = type(error).__name__
import dlcourse, keras
seen["dlcourse"], seen["keras"] = dlcourse.__file__, keras.__version__
print(json.dumps(seen))
"""


def test_student_kernel_sees_nothing_of_the_instructors(classroom):
    """A kernel on alice's server, started through the hub's proxy with her token, cannot import the
    grading package nor read the instructor's course or the repository; it has dlcourse and keras."""
    private = {"instructor's course source/ notebook": classroom.course / "source" / CH.id / f"{CH.id}.ipynb",
               "instructor's gradebook.db": classroom.course / "gradebook.db",
               "repository source/ notebook": CH.source,
               "repository hidden checks": ROOT / "dlcourse_grading" / "checks" / "activations.py",
               "repository checks folder/": ROOT / "dlcourse_grading" / "checks",
               "repository root/": ROOT,
               "repository .venv/": ROOT / ".venv"}
    paths = {name: str(path) for name, path in private.items()}
    for name, path in paths.items():  # all there, and root reads them: a refusal below is the protection
        os.listdir(path) if name.endswith("/") else open(path, "rb").read(1)
    assert importlib.util.find_spec("dlcourse_grading")  # importable in the instructor's environment

    started = time.perf_counter()
    out = classroom.hub.user(ALICE).run_in_kernel(f"PATHS = {paths!r}\n{PROBE}")
    tables.add("classroom", "alice's kernel via the hub: imports, reads refused", time.perf_counter() - started)
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["import dlcourse_grading"] == "ModuleNotFoundError", seen
    for name in paths:
        assert seen[name] == "PermissionError", (name, seen[name])
    env = f"{classroom.student_env}/"
    assert seen["executable"].startswith(env) and seen["dlcourse"].startswith(env), seen
    assert seen["keras"] == importlib.metadata.version("keras")


def test_screenshots_of_every_step(classroom):
    names = [p.name for p in browser.SCREENSHOTS]
    for step in ("carol_assignments_panel", "carol_validate_result", "carol_submitted",
                 "instructor_formgrader_submissions", "instructor_manual_grade"):
        assert any(step in n for n in names), names
    assert all(p.stat().st_size > 10_000 for p in browser.SCREENSHOTS)
    assert not any("FAILED" in n for n in names)
