"""The hidden tests catch plausible wrong code and keep alternative correct code at full marks.

Each chapter's corpus lives in tests/corpus/<slug>.py as a list VARIANTS of
dlcourse_grading.strength.Variant. One process runs the whole chapter.
"""
from __future__ import annotations

import importlib
from collections import defaultdict

import pytest

from dlcourse.chapters import available_chapters
from dlcourse_grading.notebook import read_assignment, strip_solution_markers
from dlcourse_grading.strength import StrengthRunner, Variant
from tests import tables

MIN_WRONG, MIN_CORRECT = 6, 2


@pytest.mark.parametrize("chapter", available_chapters(), ids=lambda c: c.id)
def test_strength_corpus(chapter):
    assignment = read_assignment(chapter.source)
    corpus = importlib.import_module(f"tests.corpus.{chapter.slug}").VARIANTS
    runner = StrengthRunner(assignment)

    # The reference solution itself must score full marks in this harness.
    for ex in assignment.exercises:
        if ex.kind == "code":
            ref = runner.run(Variant(ex.grade_id, "reference", True, strip_solution_markers(ex.source)))
            assert ref.full_marks, f"reference {ex.grade_id} fails its own tests: {ref.messages}"
            assert not ref.stderr, f"reference {ex.grade_id} writes to stderr: {ref.stderr[:300]}"

    tally = defaultdict(lambda: [0, 0, 0, 0])  # caught, wrong, kept, correct
    surprises = []
    for variant in corpus:
        result = runner.run(variant)
        row = tally[variant.exercise]
        if variant.correct:
            row[3] += 1
            row[2] += result.full_marks
        else:
            row[1] += 1
            row[0] += not result.full_marks
        if not result.as_expected:
            kind = "correct variant lost points" if variant.correct else "wrong variant kept full marks"
            surprises.append(f"{variant.exercise} / {variant.name}: {kind} {result.messages}")

    for ex in assignment.exercises:
        if ex.kind == "code":
            caught, wrong, kept, correct = tally[ex.grade_id]
            tables.add("strength", chapter.id, ex.grade_id, caught, wrong, kept, correct)
    thin = [f"{ex.grade_id}: {tally[ex.grade_id][1]} wrong, {tally[ex.grade_id][3]} correct"
            for ex in assignment.exercises if ex.kind == "code"
            and (tally[ex.grade_id][1] < MIN_WRONG or tally[ex.grade_id][3] < MIN_CORRECT)]
    assert not thin, f"corpus too thin (need >= {MIN_WRONG} wrong, >= {MIN_CORRECT} correct): {thin}"
    assert not surprises, "\n".join(surprises)


def test_an_edit_that_no_longer_matches_its_base_fails_loudly():
    """A named change must change the code: a missing, repeated or no-op edit is an error, never
    a silent copy of the (correct) base counted as a caught wrong variant."""
    from dlcourse_grading.strength import edited

    base = "a = 1\nb = a + 1\n"
    assert edited(base, ("a + 1", "a - 1")) == "a = 1\nb = a - 1\n"
    for edit in (("c = 3", "c = 4"), ("a", "z"), ("b = a + 1", "b = a + 1")):
        with pytest.raises(ValueError):
            edited(base, edit)
