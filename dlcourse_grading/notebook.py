"""Read an nbgrader notebook as exercises: solution cells and the test cells that follow them.

The source notebooks are the one place where points and grade ids live; the manifest,
the strength corpus and the example class all read them through this module.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HIDDEN_BLOCK = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)
SOLUTION_BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION[ \t]*\n?", re.S | re.M)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def is_solution_cell(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


@dataclass
class TestCell:
    grade_id: str
    points: float
    source: str


@dataclass
class Exercise:
    grade_id: str
    kind: str  # "code" (autograded through its test cells) or "written" (graded by hand)
    source: str
    points: float = 0.0  # only for written answers; code exercises score through tests
    tests: list[TestCell] = field(default_factory=list)
    #: Locked code cells between the previous exercise's tests and this solution cell (data, a
    #: given function to read): the notebook runs them before the solution, so the harness does too.
    context: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Top-level functions and classes the solution cell must define."""
        if self.kind != "code":
            return []
        tree = ast.parse(strip_solution_markers(self.source))
        return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]

    @property
    def max_points(self) -> float:
        return self.points + sum(t.points for t in self.tests)


@dataclass
class AssignmentNotebook:
    path: Path
    setup: list[str]
    exercises: list[Exercise]

    @property
    def test_cells(self) -> list[TestCell]:
        return [t for ex in self.exercises for t in ex.tests]

    def exercise(self, grade_id: str) -> Exercise:
        for ex in self.exercises:
            if ex.grade_id == grade_id:
                return ex
        raise KeyError(grade_id)


def strip_solution_markers(source: str) -> str:
    """The reference solution as a student would write it: markers removed, code kept."""
    return SOLUTION_BLOCK.sub(lambda m: m.group(2), source)


def strip_hidden_tests(source: str) -> str:
    return HIDDEN_BLOCK.sub("", source)


def read_assignment(path: Path | str) -> AssignmentNotebook:
    """Group a source notebook's cells: setup code, then each exercise with its test cells."""
    nb = nbformat.read(str(path), as_version=4)
    setup: list[str] = []
    exercises: list[Exercise] = []
    context: list[str] = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if is_solution_cell(cell):
            kind = "code" if cell.cell_type == "code" else "written"
            points = float(meta.get("points", 0)) if kind == "written" else 0.0
            exercises.append(Exercise(meta["grade_id"], kind, cell.source, points, context=context))
            context = []
        elif is_test_cell(cell):
            if not exercises:
                raise ValueError(f"{path}: test cell {meta.get('grade_id')} comes before any solution cell")
            exercises[-1].tests.append(TestCell(meta["grade_id"], float(meta.get("points", 0)), cell.source))
        elif cell.cell_type == "code":
            (context if exercises else setup).append(cell.source)
    return AssignmentNotebook(Path(path), setup, exercises)
