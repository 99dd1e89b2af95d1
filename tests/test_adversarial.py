"""Grading survives any submission: the adversarial class, graded by the parallel engine.

For every case the attacked test cells score zero with a clear status, the others keep their
points, the well-behaved students score exactly as in a clean run, the gradebook has a row for
every (student, test cell), and nothing the students started is left running.
"""
from __future__ import annotations

import socket

import psutil
import pytest
from nbgrader.api import Gradebook

from dlcourse_grading import example_class
from dlcourse_grading.engine.classgrader import grade_class
from dlcourse_grading.engine import sandbox
from dlcourse_grading.grading import class_results, expected_table, prepare_course
from dlcourse_grading.settings import GradingSettings
from tests.adversarial import CASES, CH, SNOOPER, TESTS, snoop_report, write_adversarial_class, write_snooper
from tests import tables

LIMITS = dict(cell_timeout=10, notebook_timeout=240, memory_mb=1024)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("adversarial_class")
    prepare_course(root, [CH])
    example_class.write_class(CH, root)
    write_adversarial_class(root)
    with socket.socket() as server:  # a service on loopback that student code must not reach
        server.bind(("127.0.0.1", 0))
        server.listen()
        write_snooper(root, server.getsockname()[1])
        run = grade_class(GradingSettings.load(root, workers=2, **LIMITS), [CH.id], progress=False)
    jobs = run.jobs
    results = class_results(root, jobs)
    print("\nseconds per submission: " + ", ".join(f"{j.student} {j.seconds:.1f}" for j in jobs))
    for case in CASES:
        rows = results[results.student == case.student]
        lost = rows[rows.points < rows.max_points]
        summary = ", ".join(sorted(set(lost.status))) or "all passed"
        tables.add("adversarial", case.student, summary, float(rows.points.sum()), float(rows.max_points.sum()))
    return root, jobs, results, run


def test_grading_finishes_without_grader_errors(graded):
    _, jobs, _, _ = graded
    assert [j for j in jobs if j.error] == []


def test_well_behaved_students_score_as_in_a_clean_run(graded):
    _, _, results, _ = graded
    clean = results[results.student.isin(example_class.STUDENTS)]
    table = clean.pivot(index="student", columns="grade_id", values="points")
    expected = expected_table([CH])[CH.id]
    assert table.reindex_like(expected).equals(expected)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.student)
def test_attacked_part_scores_zero_with_a_clear_status(graded, case):
    _, _, results, _ = graded
    rows = results[results.student == case.student].set_index("grade_id")
    lost = case.lost_cells()
    for grade_id in TESTS:
        row = rows.loc[grade_id]
        if grade_id in lost:
            assert row.points == 0, f"{grade_id} kept {row.points} points ({row.status}: {row.message})"
            assert row.status in lost[grade_id], f"{grade_id}: {row.status} ({row.message})"
            assert row.message
        else:
            assert row.points == row.max_points and row.status == "passed", \
                f"{grade_id}: {row.status} {row.points}/{row.max_points} ({row.message})"


def test_gradebook_has_a_row_for_every_student_and_test_cell(graded):
    root, jobs, _, _ = graded
    with Gradebook(GradingSettings.load(root).db_url) as gb:
        for job in jobs:
            grades = {g.name: g for g in gb.find_submission_notebook(CH.id, CH.id, job.student).grades}
            for grade_id in TESTS:
                assert grade_id in grades and grades[grade_id].score is not None, (job.student, grade_id)


def test_student_code_cannot_read_the_course_or_reach_the_network(graded):
    """As root (CI, a grading server) student code runs as an unprivileged uid in an empty
    network namespace; without root the run must say that it is not isolated."""
    root, _, results, run = graded
    report = snoop_report(root)
    rows = results[results.student == SNOOPER]
    assert (rows.points == rows.max_points).all()  # snooping is not an error in itself
    if sandbox.is_root() and run.limits.drop_privileges:
        assert report["uid"] >= sandbox.STUDENT_UID_BASE
        assert {k: v for k, v in report.items() if k != "uid"} == {
            "gradebook": "denied", "source": "denied", "other_student": "denied",
            "hidden_checks": "denied", "network": "denied"}
    elif sandbox.is_root():  # root, but the Python installation is private: the run must say so
        assert any("not readable by other users" in w for w in run.warnings)
    else:
        assert any("NOT isolated" in p for p in sandbox.protections(run.limits, run.fork))


def test_nothing_left_running(graded):
    leftovers = [p.info for p in psutil.process_iter(["pid", "cmdline"])
                 if p.info["cmdline"] and p.info["cmdline"][:2] == ["sleep", "987"]]
    assert leftovers == []
