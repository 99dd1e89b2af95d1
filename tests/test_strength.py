"""The hidden tests catch plausible wrong code and keep alternative correct code at full marks.

Each chapter's corpus lives in tests/corpus/<slug>.py as a list VARIANTS of
dlcourse_grading.strength.Variant. One process runs the whole chapter, two chapters at a time,
the longest first.
"""
from __future__ import annotations

import importlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from dlcourse.chapters import available_chapters, chapter as find_chapter
from dlcourse_grading.notebook import read_assignment, strip_solution_markers
from dlcourse_grading.strength import StrengthRunner, Variant
from tests import tables
from tests.kernels import CONCURRENT_RUNS

MIN_WRONG, MIN_CORRECT = 6, 2
CHAPTERS = available_chapters()
#: The corpora that take longest, started first so that the short ones fill the other process.
#: In chapter order on the 2-core machine: chapter 1 done after 13 s, chapter 2 after 65 s,
#: chapters 3-5 meanwhile, and chapter 6, started last, after 126 s, its last minute beside an
#: idle core (54% of the machine busy).
LONGEST_FIRST = tuple(find_chapter(n).id for n in (2, 6))


def measure(chapter_id: str) -> dict:
    """One chapter's corpus against its hidden tests, in a process of its own: what the reference
    solutions lose, the tally per exercise and every variant that did not do as expected."""
    import dlcourse  # noqa: F401  (quiet TensorFlow before anything imports it)

    chapter = find_chapter(chapter_id)
    assignment = read_assignment(chapter.source)
    corpus = importlib.import_module(f"tests.corpus.{chapter.slug}").VARIANTS
    runner = StrengthRunner(assignment)
    exercises = [ex.grade_id for ex in assignment.exercises if ex.kind == "code"]

    # The reference solution itself must score full marks in this harness, silently.
    reference = []
    for ex in assignment.exercises:
        if ex.kind == "code":
            ref = runner.run(Variant(ex.grade_id, "reference", True, strip_solution_markers(ex.source)))
            if not ref.full_marks:
                reference.append(f"reference {ex.grade_id} fails its own tests: {ref.messages}")
            if ref.stderr:
                reference.append(f"reference {ex.grade_id} writes to stderr: {ref.stderr[:300]}")

    tally = {grade_id: [0, 0, 0, 0] for grade_id in exercises}  # caught, wrong, kept, correct
    surprises = []
    for variant in corpus:
        result = runner.run(variant)
        row = tally.setdefault(variant.exercise, [0, 0, 0, 0])
        if variant.correct:
            row[3] += 1
            row[2] += result.full_marks
        else:
            row[1] += 1
            row[0] += not result.full_marks
        if not result.as_expected:
            kind = "correct variant lost points" if variant.correct else "wrong variant kept full marks"
            surprises.append(f"{variant.exercise} / {variant.name}: {kind} {result.messages}")
    return {"exercises": exercises, "reference": reference, "tally": tally, "surprises": surprises}


@pytest.fixture(scope="module")
def measured():
    """Every chapter measured, CONCURRENT_RUNS at a time (each keeps one core busy), the longest
    first."""
    order = sorted(CHAPTERS, key=lambda ch: ch.id not in LONGEST_FIRST)  # stable: the rest in chapter order
    with ProcessPoolExecutor(CONCURRENT_RUNS, mp_context=multiprocessing.get_context("spawn"),
                             max_tasks_per_child=1) as pool:
        yield {ch.id: pool.submit(measure, ch.id) for ch in order}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_strength_corpus(chapter, measured):
    found = measured[chapter.id].result()
    assert not found["reference"], found["reference"]
    tally = found["tally"]
    for grade_id in found["exercises"]:
        tables.add("strength", chapter.id, grade_id, *tally[grade_id])
    thin = [f"{grade_id}: {tally[grade_id][1]} wrong, {tally[grade_id][3]} correct" for grade_id in found["exercises"]
            if tally[grade_id][1] < MIN_WRONG or tally[grade_id][3] < MIN_CORRECT]
    assert not thin, f"corpus too thin (need >= {MIN_WRONG} wrong, >= {MIN_CORRECT} correct): {thin}"
    assert not found["surprises"], "\n".join(found["surprises"])


def test_an_edit_that_no_longer_matches_its_base_fails_loudly():
    """A named change must change the code: a missing, repeated or no-op edit is an error, never
    a silent copy of the (correct) base counted as a caught wrong variant."""
    from dlcourse_grading.strength import edited

    base = "a = 1\nb = a + 1\n"
    assert edited(base, ("a + 1", "a - 1")) == "a = 1\nb = a - 1\n"
    for edit in (("c = 3", "c = 4"), ("a", "z"), ("b = a + 1", "b = a + 1")):
        with pytest.raises(ValueError):
            edited(base, edit)
