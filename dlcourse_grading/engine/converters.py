"""nbgrader's own converters with the course's configuration, in this process.

The one place where the course's nbgrader settings (``nbgrader_config.py`` -> ``grading_config.py``)
are loaded for the engine and where GenerateAssignment, Autograde and GenerateFeedback are run on
a course directory and gradebook of the caller's choice.
"""
from __future__ import annotations

from pathlib import Path

from dlcourse.chapters import ROOT


def course_config():
    """The course's nbgrader configuration, as plain nbgrader loads it in the repository root."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


def run(kind: str, config, root: Path, db_url: str, assignment: str, student: str | None = None):
    """Run one converter ("generate", "autograde" or "feedback") with `--force`; returns it."""
    from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    config = config.copy()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = db_url
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    if student:
        coursedir.student_id = student
    converter = {"generate": GenerateAssignment, "autograde": Autograde,
                 "feedback": GenerateFeedback}[kind](coursedir=coursedir, config=config)
    converter.force = True
    converter.start()
    return converter
