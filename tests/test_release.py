"""release/ is exactly what nbgrader makes from source/, and leaks nothing."""
from __future__ import annotations

import json
import re

import nbformat
import pytest

from dlcourse.chapters import CHAPTERS as ALL_CHAPTERS, available_chapters
from dlcourse_grading.grading import prepare_course
from dlcourse_grading.manifest import manifest_json
from dlcourse_grading.notebook import nbgrader_meta, read_assignment
from dlcourse_grading.paths import MANIFEST

CHAPTERS = available_chapters()
LEAK = re.compile(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS|END HIDDEN TESTS|dlcourse_grading")


def test_at_least_one_chapter():
    assert CHAPTERS and CHAPTERS[0].id == "01_activations"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_release_regenerates_identically(chapter, tmp_path):
    prepare_course(tmp_path, [chapter])
    fresh = (tmp_path / "release" / chapter.id / f"{chapter.id}.ipynb").read_text()
    assert fresh == chapter.release.read_text(), "release/ is stale: run `make release` and commit it"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_release_has_no_solutions_or_hidden_tests(chapter):
    text = chapter.release.read_text()
    assert not LEAK.search(text)
    nb = nbformat.read(str(chapter.release), as_version=4)
    stubs = [c for c in nb.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code"]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)


@pytest.mark.parametrize("chapter", [c for c in ALL_CHAPTERS if c.lecture.exists()], ids=lambda c: c.id)
def test_source_and_lecture_committed_without_outputs(chapter):
    """Every lecture that exists (a chapter's lecture may come before its assignment) and every source."""
    for path in [p for p in (chapter.source, chapter.lecture) if p.exists()]:
        nb = json.loads(path.read_text())
        assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), path


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_every_exercise_is_graded(chapter):
    nb = read_assignment(chapter.source)
    for ex in nb.exercises:
        if ex.kind == "code":
            assert ex.tests, f"{ex.grade_id} has no test cell"
            assert ex.names, f"{ex.grade_id} defines nothing"
            for test in ex.tests:
                assert "### BEGIN HIDDEN TESTS" in test.source, f"{test.grade_id} has no hidden tests"
                assert test.points > 0
        else:
            assert ex.points > 0


def test_manifest_matches_the_notebooks():
    assert MANIFEST.read_text() == manifest_json(), "manifest.json is stale: run `make manifest`"
    manifest = json.loads(MANIFEST.read_text())
    for entry, chapter in zip(manifest["chapters"], CHAPTERS):
        nb = read_assignment(chapter.source)
        assert [e["grade_id"] for e in entry["exercises"]] == [e.grade_id for e in nb.exercises]
        assert entry["auto_points"] == sum(t.points for t in nb.test_cells)
