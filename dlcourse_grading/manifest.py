"""Interface 1: the exercise manifest, generated from the chapter list and the source notebooks."""
from __future__ import annotations

import json

from dlcourse.chapters import COURSE_ID, ROOT, available_chapters
from dlcourse_grading.notebook import read_assignment


def build_manifest() -> dict:
    chapters = []
    for ch in available_chapters():
        nb = read_assignment(ch.source)
        exercises = [{
            "grade_id": ex.grade_id,
            "kind": ex.kind,
            "names": ex.names,
            "points": ex.max_points,
            "tests": [{"grade_id": t.grade_id, "points": t.points} for t in ex.tests],
        } for ex in nb.exercises]
        chapters.append({
            "number": ch.number,
            "title": ch.title,
            "assignment": ch.id,
            "notebook": str(ch.source.relative_to(ROOT)),
            "release": str(ch.release.relative_to(ROOT)),
            "lecture": str(ch.lecture.relative_to(ROOT)),
            "auto_points": sum(t["points"] for ex in exercises for t in ex["tests"]),
            "manual_points": sum(ex["points"] for ex in exercises if ex["kind"] == "written"),
            "exercises": exercises,
        })
    return {"course_id": COURSE_ID, "schema": 1, "chapters": chapters}


def manifest_json() -> str:
    return json.dumps(build_manifest(), indent=2) + "\n"
