"""The example class: submissions made from each chapter's source and release notebooks,
with the exact scores nbgrader must give them.

Students (the same in every chapter):
- ``ada_reference``: the reference solution in the student notebook: full marks.
- ``ben_untouched``: the release as handed out: zero on every test cell, grading completes.
- ``cam_partial``: solved the first half of the exercises (later exercises may build on
  earlier ones, never the reverse): exactly the points of those exercises' tests.
- ``dee_deleted_cell``: the reference with the first test cell deleted: nbgrader restores it
  from source/ and the restored cell passes.
- ``eli_edited_cell``: the reference with the last exercise left unsolved and its first test cell
  edited to ``pass``: the original is restored, so that exercise's tests score zero.
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat

from dlcourse.chapters import Chapter
from dlcourse_grading.notebook import (AssignmentNotebook, nbgrader_meta, read_assignment,
                                       strip_solution_markers)

WRITTEN_ANSWER = "My answer: see the lecture's summary table; I chose by output range and gradient flow."
STUDENTS = ("ada_reference", "ben_untouched", "cam_partial", "dee_deleted_cell", "eli_edited_cell")


def _solved(release_nb, source: AssignmentNotebook, solved: set[str]):
    """The release notebook with the reference solution typed into the chosen solution cells."""
    nb = copy.deepcopy(release_nb)
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in solved and nbgrader_meta(cell).get("solution"):
            ex = source.exercise(gid)
            cell.source = WRITTEN_ANSWER if ex.kind == "written" else strip_solution_markers(ex.source)
    return nb


def _code_exercises(source: AssignmentNotebook):
    return [ex for ex in source.exercises if ex.kind == "code"]


def submissions(chapter: Chapter) -> dict[str, nbformat.NotebookNode]:
    release = nbformat.read(str(chapter.release), as_version=4)
    source = read_assignment(chapter.source)
    every = {ex.grade_id for ex in source.exercises}
    code = _code_exercises(source)
    first_half = {ex.grade_id for ex in code[: len(code) // 2]}

    deleted = _solved(release, source, every)
    first_test = source.test_cells[0].grade_id
    deleted.cells = [c for c in deleted.cells if nbgrader_meta(c).get("grade_id") != first_test]

    last = code[-1]
    edited = _solved(release, source, every - {last.grade_id})
    for cell in edited.cells:
        if nbgrader_meta(cell).get("grade_id") == last.tests[0].grade_id:
            cell.source = "# the tests were in the way\npass"

    return {
        "ada_reference": _solved(release, source, every),
        "ben_untouched": copy.deepcopy(release),
        "cam_partial": _solved(release, source, first_half),
        "dee_deleted_cell": deleted,
        "eli_edited_cell": edited,
    }


def expected_points(chapter: Chapter) -> dict[str, dict[str, float]]:
    """student -> test cell grade_id -> points nbgrader must award."""
    source = read_assignment(chapter.source)
    code = _code_exercises(source)
    first_half = {ex.grade_id for ex in code[: len(code) // 2]}
    last = code[-1].grade_id

    def score(solved):
        return {t.grade_id: (t.points if ex.grade_id in solved else 0.0) for ex in code for t in ex.tests}

    every = {ex.grade_id for ex in code}
    return {
        "ada_reference": score(every),
        "ben_untouched": score(set()),
        "cam_partial": score(first_half),
        "dee_deleted_cell": score(every),
        "eli_edited_cell": score(every - {last}),
    }


def write_class(chapter: Chapter, course_root: Path, students: tuple[str, ...] = STUDENTS) -> list[Path]:
    """Write the example submissions of `students` to course_root/submitted/STUDENT/ASSIGNMENT/."""
    paths = []
    for student, nb in submissions(chapter).items():
        if student not in students:
            continue
        folder = Path(course_root) / "submitted" / student / chapter.id
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        path = folder / f"{chapter.id}.ipynb"
        nbformat.write(nb, str(path))
        paths.append(path)
    return paths
