"""Grading through the real nbgrader commands: one notebook, or a whole (example) class."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
from nbgrader.api import Gradebook

from dlcourse.chapters import ROOT, Chapter, chapter as find_chapter
from dlcourse_grading import example_class
from dlcourse_grading.engine import classgrader as engine
from dlcourse_grading.nbgrader_cli import nbgrader
from dlcourse_grading.settings import GradingSettings, default_db_url, sqlite_url
from dlcourse_grading.results import CellResult, collect

GRADE_ONE_STUDENT = "student"


def prepare_course(root: Path, chapters: list[Chapter], log: Path | None = None, db_url: str | None = None) -> None:
    """A course directory at `root` with source/ copied from the repo and a gradebook that knows it:
    nbgrader's GenerateAssignment with the course's configuration, in this process (as `nbgrader
    generate_assignment` runs it, without a new process's ~4 s of imports per chapter; the
    release it writes is the committed one: tests/test_release.py)."""
    from dlcourse_grading.engine import converters
    from dlcourse_grading.paths import venv_on_path

    venv_on_path()  # nbgrader asks alembic for a new gradebook's schema version
    root.mkdir(parents=True, exist_ok=True)
    config = converters.course_config()
    for ch in chapters:
        target = root / "source" / ch.id
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ch.source.parent, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        converters.run("generate", config, root, db_url or default_db_url(root), ch.id)
        if log is not None:
            with open(log, "a") as fh:
                fh.write(f"generate_assignment {ch.id} (nbgrader's GenerateAssignment, in process) into {root}\n")


def grade_notebook(notebook: Path, assignment: str, student: str = GRADE_ONE_STUDENT,
                   **overrides) -> list[CellResult]:
    """Interface 2: grade one submitted notebook with the class-grading engine, on a temporary
    course directory. Its grades go to COURSE_DB_URL's gradebook when that is set (else to a
    temporary one). `overrides` are GradingSettings.load's (cell_timeout, notebook_timeout, ...)."""
    ch = find_chapter(assignment)
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        root = Path(tmp)
        settings = GradingSettings.load(root, workers=1, **overrides)
        prepare_course(root, [ch], db_url=settings.db_url)
        folder = root / "submitted" / student / ch.id
        folder.mkdir(parents=True)
        shutil.copyfile(notebook, folder / f"{ch.id}.ipynb")
        run = engine.grade_class(settings, [ch.id], progress=False)
        return collect(root, settings.db_url, ch.id, student, ch.id, ch.source, submitted_nb=Path(notebook),
                       lost=run.jobs[0].error if run.jobs and run.jobs[0].status == "lost" else "")


def class_results(root: Path, jobs: list[engine.Job], db_url: str | None = None) -> pd.DataFrame:
    """One row per (student, assignment, test cell) with points, status and message."""
    rows = []
    for job in jobs:
        ch = find_chapter(job.assignment)
        original = root / "submitted" / job.student / job.assignment / f"{ch.id}.ipynb"
        unreadable = original.with_name(original.name + engine.UNREADABLE_SUFFIX)
        for r in collect(root, db_url or default_db_url(root), job.assignment, job.student, ch.id, ch.source,
                         submitted_nb=unreadable if unreadable.exists() else original,
                         lost=job.error if job.status == "lost" else ""):
            rows.append({"student": job.student, "assignment": job.assignment, **r.to_dict(),
                         "notes": "; ".join(job.notes), "grader_error": job.error})
    return pd.DataFrame(rows)


def grade_class(root: Path, chapters: list[Chapter], log: Path | None = None) -> None:
    """autograde, generate_feedback and export for every chapter's submissions under `root`
    (its own SQLite gradebook: the example class never touches a real class's)."""
    db = sqlite_url(root)
    for ch in chapters:
        nbgrader("autograde", ch.id, "--force", root=root, db_url=db, log=log)
        nbgrader("generate_feedback", ch.id, "--force", root=root, db_url=db, log=log)
    nbgrader("export", f"--CsvExportPlugin.to={root / 'grades.csv'}", root=root, db_url=db, log=log)


def score_table(root: Path, chapters: list[Chapter], db_url: str | None = None) -> pd.DataFrame:
    """student x (assignment, test cell) points, read back from nbgrader's gradebook."""
    rows = {}
    with Gradebook(db_url or default_db_url(root)) as gb:
        for ch in chapters:
            for submission in gb.assignment_submissions(ch.id):
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        if grade.cell_type == "code":
                            rows.setdefault(submission.student_id, {})[(ch.id, grade.name)] = grade.score
    table = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["assignment", "test cell"])
    return table


def expected_table(chapters: list[Chapter], students: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """What score_table must read back for the example class (`students` as for run_example_class)."""
    rows = {}
    for ch in chapters:
        for student, cells in example_class.expected_points(ch).items():
            if students and student not in students[ch.id]:
                continue
            for cell, points in cells.items():
                rows.setdefault(student, {})[(ch.id, cell)] = points
    table = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["assignment", "test cell"])
    return table


def run_example_class(root: Path, chapters: list[Chapter], log: Path | None = None,
                      students: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """Build the example class under `root` (`students`: who submits each assignment, by default
    every example student), grade it, and return its score table."""
    prepare_course(root, chapters, log=log, db_url=sqlite_url(root))
    for ch in chapters:
        example_class.write_class(ch, root, *([students[ch.id]] if students else []))
    grade_class(root, chapters, log=log)
    return score_table(root, chapters, db_url=sqlite_url(root))


def release_all(chapters: list[Chapter], root: Path = ROOT, log: Path | None = None) -> None:
    """Regenerate release/ from source/ with nbgrader (the committed student versions)."""
    for ch in chapters:
        nbgrader("generate_assignment", ch.id, "--force", root=root, log=log)
