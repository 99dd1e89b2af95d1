"""Measure how strong the hidden tests are: run plausible wrong and alternative correct
implementations of each exercise against the exercise's full test cells (hidden part included).

Everything runs in one process per chapter: the notebook's setup and every reference
solution are executed once; each variant gets a shallow copy of that namespace with its own
code on top, so a variant of one function is graded together with the reference versions
of the others (e.g. a wrong `tanh` still sees the correct `sigmoid`).
"""
from __future__ import annotations

import contextlib
import io
import traceback
from dataclasses import dataclass

from dlcourse_grading.notebook import AssignmentNotebook, strip_solution_markers


@dataclass(frozen=True)
class Variant:
    exercise: str  # grade_id of the solution cell it replaces
    name: str      # what is wrong (or which alternative it is)
    correct: bool
    code: str


def edited(base: str, *edits: tuple[str, str]) -> str:
    """``base`` with each ``(old, new)`` edit applied: a variant written as the change it makes.

    Each ``old`` must occur exactly once in the code it is applied to, so an edit that no longer
    matches (the base was rewritten) fails loudly when the corpus is imported instead of silently
    producing the unchanged, correct code.
    """
    code = base
    for old, new in edits:
        found = code.count(old)
        if found != 1:
            raise ValueError(f"edit target occurs {found} times (need exactly 1): {old!r}")
        code = code.replace(old, new)
    if code == base and edits:
        raise ValueError("the edits leave the code unchanged")
    return code


def change(exercise: str, name: str, correct: bool, base: str, *edits: tuple[str, str]) -> Variant:
    """A variant that is ``base`` with the named edits (see :func:`edited`)."""
    return Variant(exercise, name, correct, edited(base, *edits))


@dataclass
class VariantResult:
    variant: Variant
    points: float
    max_points: float
    messages: list[str]
    stderr: str

    @property
    def full_marks(self) -> bool:
        return self.points == self.max_points

    @property
    def as_expected(self) -> bool:
        """Correct variants keep every point; wrong ones lose at least one."""
        return self.full_marks if self.variant.correct else not self.full_marks


def _run(code: str, namespace: dict) -> str | None:
    """Execute code; return None on success, else the error's last line."""
    try:
        exec(compile(code, "<cell>", "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - a variant may raise anything, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return None


class StrengthRunner:
    def __init__(self, assignment: AssignmentNotebook):
        self.assignment = assignment
        self.base: dict = {"__name__": "__main__"}
        for source in assignment.setup:
            error = _run(source, self.base)
            if error:
                raise RuntimeError(f"setup cell failed: {error}")
        for ex in assignment.exercises:
            for source in ex.context:
                error = _run(source, self.base)
                if error:
                    raise RuntimeError(f"the cell before {ex.grade_id} failed: {error}")
            if ex.kind == "code":
                error = _run(strip_solution_markers(ex.source), self.base)
                if error:
                    raise RuntimeError(f"reference solution {ex.grade_id} failed: {error}")

    def run(self, variant: Variant) -> VariantResult:
        exercise = self.assignment.exercise(variant.exercise)
        namespace = dict(self.base)
        stderr = io.StringIO()
        messages: list[str] = []
        points = 0.0
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            error = _run(variant.code, namespace)
            for test in exercise.tests:
                if error is None:
                    failure = _run(test.source, namespace)
                else:
                    failure = f"solution cell failed: {error}"
                if failure is None:
                    points += test.points
                else:
                    messages.append(f"{test.grade_id}: {failure}")
        return VariantResult(variant, points, sum(t.points for t in exercise.tests), messages, stderr.getvalue())
