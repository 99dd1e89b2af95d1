"""The example class grades to its exact expected scores through real nbgrader commands,
and `course grade` (interface 2) reports each test cell as the class grading does."""
from __future__ import annotations

import csv
import json
import subprocess

import pandas as pd
import pytest

from dlcourse.chapters import available_chapters
from dlcourse_grading.example_class import STUDENTS, write_class
from dlcourse_grading.grading import expected_table, run_example_class
from dlcourse_grading.manifest import build_manifest
from dlcourse_grading.paths import VENV_BIN
from dlcourse_grading.results import STATUSES

CHAPTERS = available_chapters()
#: Plain nbgrader grades every example student of the first chapter (its pipeline is the same for
#: every chapter) and the reference of the last one (the heaviest notebook). The course's engine
#: grades every student of every chapter to the same expected scores in
#: test_grading_integrity.py::test_same_new_students_in_every_chapter_with_two_workers, and
#: test_notebooks_run_clean.py runs every chapter's reference, hidden tests included, in a kernel.
PLAIN_CLASS = {ch.id: STUDENTS if i == 0 else ("ada_reference",) if i == len(CHAPTERS) - 1 else ()
               for i, ch in enumerate(CHAPTERS)}
PLAIN_CHAPTERS = [ch for ch in CHAPTERS if PLAIN_CLASS[ch.id]]


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, one_notebook_gradings):
    """The plain class, graded while the one-notebook gradings run beside it: plain nbgrader runs
    one kernel at a time and leaves a core idle about half the time."""
    root = tmp_path_factory.mktemp("example_class")
    table = run_example_class(root, PLAIN_CHAPTERS, students=PLAIN_CLASS)
    return root, table


def test_scores_are_exactly_as_expected(graded_class):
    _, table = graded_class
    expected = expected_table(PLAIN_CHAPTERS, PLAIN_CLASS)
    assert sorted(table.index) == sorted(STUDENTS)
    assert table.reindex_like(expected).equals(expected), f"\n{table}\n!=\n{expected}"
    assert expected.notna().sum().sum() > 10, "the expected table is nearly empty"


def test_feedback_and_grades_file(graded_class):
    root, _ = graded_class
    for ch in PLAIN_CHAPTERS:
        for student in PLAIN_CLASS[ch.id]:
            html = root / "feedback" / student / ch.id / f"{ch.id}.html"
            assert html.exists(), html
            text = html.read_text()
            assert "BEGIN HIDDEN TESTS" not in text and "dlcourse_grading" not in text, "hidden tests leak"
    with open(root / "grades.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["student_id"] for r in rows} == set(STUDENTS)
    manual = {c["assignment"]: c["manual_points"] for c in build_manifest()["chapters"]}
    for row in rows:
        if row["student_id"] == "ada_reference":  # everything but the hand-graded answers
            assert float(row["score"]) == float(row["max_score"]) - manual[row["assignment"]]


ONE_NOTEBOOK = {"dee_deleted_cell": "missing", "eli_edited_cell": "tampered", "ben_untouched": "error"}


@pytest.fixture(scope="module")
def one_notebook_gradings(tmp_path_factory) -> dict:
    """`course grade NOTEBOOK ASSIGNMENT --json` for each student of ONE_NOTEBOOK, all started at
    once and left running (each keeps about one core busy): student -> its process."""
    chapter = CHAPTERS[0]
    paths = {p.parts[-3]: p for p in write_class(chapter, tmp_path_factory.mktemp("one_notebook"))}
    running = {student: subprocess.Popen([str(VENV_BIN / "course"), "grade", str(paths[student]), chapter.id, "--json"],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for student in ONE_NOTEBOOK}
    yield running
    for proc in running.values():  # a test that failed early leaves none behind
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def one_notebook_reports(one_notebook_gradings) -> dict:
    """Student -> the report its `course grade --json` printed."""
    reports = {}
    for student, proc in one_notebook_gradings.items():
        out, err = proc.communicate()
        assert proc.returncode == 0, err[-3000:]
        reports[student] = json.loads(out)
    return reports


@pytest.mark.parametrize("student, expect", ONE_NOTEBOOK.items())
def test_grade_one_notebook(one_notebook_reports, student, expect):
    chapter = CHAPTERS[0]
    report = one_notebook_reports[student]
    cells = report["cells"]
    assert [c["grade_id"] for c in cells] == [c for c in expected_table([chapter])[chapter.id].columns]
    assert all(c["status"] in STATUSES and set(c) >= {"grade_id", "points", "max_points", "status", "message"}
               for c in cells)
    expected = expected_table([chapter]).loc[student, chapter.id]
    assert [c["points"] for c in cells] == list(expected)
    statuses = {c["status"] for c in cells}
    assert expect in statuses, cells
    if expect == "error":  # the untouched stubs raise NotImplementedError, reported as such
        assert any("NotImplementedError" in c["message"] for c in cells if c["status"] == "error")
    else:
        flagged = [c for c in cells if c["status"] == expect]
        assert len(flagged) == 1 and "restored" in flagged[0]["message"]


def test_grade_prints_a_readable_table_by_default():
    """`course grade` without --json: a title with the total, one row per test cell, long messages
    wrapped under their column (the JSON above is the same grading, for scripts)."""
    from dlcourse_grading.cli import grade_table
    from dlcourse_grading.results import CellResult

    results = [CellResult("test_sigmoid", 2.0, 2.0, "passed", "passed", ""),
               CellResult("test_relu", 0.0, 1.5, "failed", "failed", "AssertionError: relu: " + "wrong " * 30)]
    lines = grade_table(results, "nb.ipynb (01_activations): 2 of 3.5 points").splitlines()
    assert lines[0] == "nb.ipynb (01_activations): 2 of 3.5 points" and lines[2].split() == [
        "test", "cell", "points", "status", "message"]
    assert lines[3].split()[:3] == ["test_sigmoid", "2/2", "passed"]
    assert lines[4].split()[:4] == ["test_relu", "0/1.5", "failed", "AssertionError:"]
    assert len(lines) > 5 and all(len(line) <= 100 for line in lines)
    assert lines[5].startswith(" " * lines[4].index("AssertionError"))


def test_instructor_report(graded_class, tmp_path):
    """One column per exercise (nbgrader's export has only totals), distributions, failure
    messages and who is not graded yet, all read back from the gradebook."""
    from dlcourse_grading.report import build_report

    root, table = graded_class
    manual = {c["assignment"]: c["manual_points"] for c in build_manifest()["chapters"]}
    late = root / "submitted" / "zoe_late" / CHAPTERS[0].id
    late.mkdir(parents=True)
    (late / f"{CHAPTERS[0].id}.ipynb").write_text(CHAPTERS[0].release.read_text())
    html_path, csv_path = build_report(root, tmp_path)
    grades = pd.read_csv(csv_path, index_col="student")
    for ch in PLAIN_CHAPTERS:
        for cell in table[ch.id].columns:
            graded = table[(ch.id, cell)].reindex(grades.index)
            assert (grades[f"{ch.id}:{cell}"] == graded)[graded.notna()].all()
            assert grades[f"{ch.id}:{cell}"][graded.isna()].isna().all()
        # The total is exactly its test cells plus its written answers (ungraded ones count zero).
        parts = [c for c in grades.columns if c.startswith(f"{ch.id}:") and c != f"{ch.id}:total"]
        tests = {f"{ch.id}:{c}" for c in table[ch.id].columns}
        assert set(parts) >= tests and (set(parts) > tests) == (manual[ch.id] > 0)  # written answers too
        total, submitted = grades[f"{ch.id}:total"], grades[parts].notna().any(axis=1)
        assert (total == grades[parts].fillna(0).sum(axis=1))[submitted].all()
        assert total[~submitted].isna().all()  # no submission: no total, not a zero
    text = html_path.read_text()
    assert text.count("data:image/png;base64,") == len(PLAIN_CHAPTERS)
    assert "NotImplementedError" in text  # the untouched release's most common message
    assert "zoe_late" in text and "not autograded" in text
