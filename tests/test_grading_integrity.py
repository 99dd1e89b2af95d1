"""Grading loses nothing and does what its settings say (issue: grading integrity).

- The same new students submit to every chapter and two workers grade at once: every
  (student, assignment, test cell) row is in the gradebook with the exact expected score, and no
  database error is printed. (Before the coordinator became the gradebook's only writer, two
  workers creating the same new student at once lost that submission's grades.)
- A worker process killed while grading costs only the submission it held: regraded once on a
  fresh worker, then recorded as lost, with zeros in the gradebook, while the rest is graded.
- One worker grades to the same scores; the command line's limits reach nbgrader's execute
  step, and the run reports what was applied.
- COURSE_DB_URL is where grade-class, grade and report read and write.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import threading
import time

import nbformat
import psutil
from nbgrader.api import Gradebook

from dlcourse.chapters import available_chapters, chapter
from dlcourse_grading import cli, example_class
from dlcourse_grading.engine.classgrader import grade_class
from dlcourse_grading.grading import class_results, expected_table, prepare_course, score_table
from dlcourse_grading.notebook import nbgrader_meta, read_assignment
from dlcourse_grading.settings import ENV_DB_URL, GradingSettings

DB_ERRORS = re.compile(r"IntegrityError|Rolling back session|database is locked|UNIQUE constraint|OperationalError")


def _rows(db_url: str, chapters, students) -> dict:
    """(student, assignment, test cell) -> auto score, for every row the gradebook should hold."""
    rows = {}
    with Gradebook(db_url) as gb:
        for ch in chapters:
            for student in students:
                grades = {g.name: g.auto_score for g in gb.find_submission_notebook(ch.id, ch.id, student).grades}
                for test in read_assignment(ch.source).test_cells:
                    rows[(student, ch.id, test.grade_id)] = grades.get(test.grade_id)
    return rows


def test_same_new_students_in_every_chapter_with_two_workers(tmp_path, capfd):
    chapters = available_chapters()
    prepare_course(tmp_path, chapters)
    for ch in chapters:
        example_class.write_class(ch, tmp_path)
    in_flight, overlaps = {}, []

    def dispatched(sub, pid):  # a student whose submissions are graded at the same moment
        in_flight[sub.key] = time.monotonic()
        overlaps.extend(k for k in in_flight if k[1] == sub.student and k != sub.key)

    capfd.readouterr()
    settings = GradingSettings.load(tmp_path, workers=2)
    run = grade_class(settings, [ch.id for ch in chapters], progress=False, on_dispatch=dispatched)
    printed = capfd.readouterr()
    assert DB_ERRORS.findall(printed.out + printed.err) == []
    assert [(j.student, j.assignment, j.error) for j in run.jobs if j.error or j.status != "graded"] == []
    assert overlaps, "the test never had one student's two submissions in flight at once"
    rows = _rows(settings.db_url, chapters, example_class.STUDENTS)
    assert [key for key, score in rows.items() if score is None] == []
    expected = expected_table(chapters)
    assert score_table(tmp_path, chapters).reindex_like(expected).equals(expected)


def _with_extra_cell(nb, source: str):
    """The notebook with a cell of the student's own before the first graded cell."""
    nb = nbformat.from_dict(nb)
    first = next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id"))
    nb.cells.insert(first, nbformat.v4.new_code_cell(source))
    return nb


def _fork_servers(folder) -> list[dict]:
    """The fork servers, and kernels forked from them, whose socket lies under `folder`."""
    return [p.info for p in psutil.process_iter(["pid", "cmdline"])
            if "dlcourse_grading.engine.zygote" in " ".join(p.info["cmdline"] or [])
            and str(folder) in " ".join(p.info["cmdline"])]


def test_a_killed_worker_costs_only_its_submission(tmp_path, monkeypatch):
    """kim's worker is killed once (regraded: full marks); kay's every time (lost: zeros with a
    clear status); ada, graded beside them, is untouched; no kernel is left running."""
    # The workers' folders (their fork servers' sockets) in a folder of this test's: what runs
    # with its name in its command line is this run's, whatever else grades on the machine.
    homes = tmp_path / "workers"
    homes.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(homes))
    ch = chapter(1)
    prepare_course(tmp_path, [ch])
    reference = example_class.submissions(ch)["ada_reference"]
    slow = _with_extra_cell(reference, "import time\ntime.sleep(6)  # long enough to be killed mid-grade")
    for student, nb in {"ada_reference": reference, "kay_killed_twice": slow, "kim_killed_once": slow}.items():
        folder = tmp_path / "submitted" / student / ch.id
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{ch.id}.ipynb"))
    kills, fork_servers_seen = [], []

    def kill_soon(sub, pid):
        fork_servers_seen.extend(_fork_servers(homes))
        if sub.student == "kay_killed_twice" or (sub.student == "kim_killed_once" and sub.attempt == 1):
            kills.append((sub.student, sub.attempt, pid))
            threading.Timer(3.0, os.kill, (pid, signal.SIGKILL)).start()

    settings = GradingSettings.load(tmp_path, workers=2)
    run = grade_class(settings, [ch.id], progress=False, on_dispatch=kill_soon)
    jobs = {j.student: j for j in run.jobs}
    assert sorted((student, attempt) for student, attempt, _ in kills) == [
        ("kay_killed_twice", 1), ("kay_killed_twice", 2), ("kim_killed_once", 1)]
    assert (jobs["kim_killed_once"].status, jobs["kim_killed_once"].attempts) == ("graded", 2)
    assert (jobs["kay_killed_twice"].status, jobs["kay_killed_twice"].attempts) == ("lost", 2)
    assert "killed by SIGKILL" in jobs["kay_killed_twice"].error
    assert jobs["ada_reference"].status == "graded" and not jobs["ada_reference"].error

    results = class_results(tmp_path, run.jobs, settings.db_url).set_index("student")
    full = float(results.loc["ada_reference"].max_points.sum())
    assert float(results.loc["ada_reference"].points.sum()) == full
    assert float(results.loc["kim_killed_once"].points.sum()) == full
    kay = results.loc["kay_killed_twice"]
    assert (kay.points == 0).all() and set(kay.status) == {"crashed"}
    assert all("grading worker died" in m for m in kay.message)
    with Gradebook(settings.db_url) as gb:
        grades = gb.find_submission_notebook(ch.id, ch.id, "kay_killed_twice").grades
        assert grades and all(g.auto_score == 0 and g.needs_manual_grade for g in grades)
    print("\n" + kay[["grade_id", "status", "points", "message"]].head(2).to_string())
    # Kernels are forked from a worker's zygote and keep its command line (with the socket in the
    # worker's folder): none may outlive the run.
    assert fork_servers_seen, "no fork server of this run was found while it graded"
    assert _fork_servers(homes) == []


def test_one_worker_grades_exactly_and_a_short_cell_timeout_ends_an_infinite_loop(tmp_path):
    """One worker grades the example class to its exact expected scores (they never depend on the
    number of workers: the other runs here use two), and a 4 s cell limit ends lou's infinite
    loop in about that time, costing only its own cell."""
    ch = chapter(1)
    prepare_course(tmp_path, [ch])
    example_class.write_class(ch, tmp_path)
    folder = tmp_path / "submitted" / "lou_loops" / ch.id
    folder.mkdir(parents=True)
    nb = _with_extra_cell(example_class.submissions(ch)["ada_reference"], "while True:\n    pass")
    nbformat.write(nb, str(folder / f"{ch.id}.ipynb"))
    settings = GradingSettings.load(tmp_path, workers=1, cell_timeout=4, notebook_timeout=300)
    run = grade_class(settings, [ch.id], progress=False)
    # What the run reports is what nbgrader's execute step ran under.
    assert (run.limits.cell_timeout, run.limits.notebook_timeout) == (4, 300)
    assert [(j.student, j.error) for j in run.jobs if j.error or j.status != "graded"] == []
    expected = expected_table([ch])
    assert score_table(tmp_path, [ch]).reindex_like(expected).equals(expected)
    lou = next(j for j in run.jobs if j.student == "lou_loops")
    # grading_config.py's 120 s would take minutes; 4 s plus the rest of the notebook is well under 60.
    assert lou.seconds < 60, lou.seconds
    results = class_results(tmp_path, [lou], settings.db_url)
    assert float(results.points.sum()) == float(results.max_points.sum())  # the loop cost only its own cell


def test_course_db_url_is_where_every_command_reads_and_writes(tmp_path, monkeypatch, capsys):
    """A new course directory with source/ and submitted/ only, and COURSE_DB_URL elsewhere."""
    ch = chapter(1)
    (tmp_path / "source").mkdir()
    shutil.copytree(ch.source.parent, tmp_path / "source" / ch.id)
    folder = tmp_path / "submitted" / "ada_reference" / ch.id
    folder.mkdir(parents=True)
    nbformat.write(example_class.submissions(ch)["ada_reference"], str(folder / f"{ch.id}.ipynb"))
    other = tmp_path / "elsewhere" / "gradebook.db"
    other.parent.mkdir()
    monkeypatch.setenv(ENV_DB_URL, f"sqlite:///{other}")

    assert cli.main(["grade-class", ch.id, "--root", str(tmp_path), "--workers", "1"]) == 0
    assert cli.main(["grade", str(folder / f"{ch.id}.ipynb"), ch.id, "--student", "solo"]) == 0
    assert cli.main(["report", "--root", str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    assert not (tmp_path / "gradebook.db").exists()
    with Gradebook(f"sqlite:///{other}") as gb:
        assert sorted(s.id for s in gb.students) == ["ada_reference", "solo"]
        full = gb.find_submission(ch.id, "ada_reference")
        assert full.score == sum(t.points for t in read_assignment(ch.source).test_cells) > 0
    assert "ada_reference" in (tmp_path / "report" / "grades_by_exercise.csv").read_text()
    assert f"gradebook: sqlite:///{other}" in printed
