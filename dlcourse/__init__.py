"""The course package: what every lecture and assignment notebook imports.

``import dlcourse`` must come before ``import tensorflow`` so that TensorFlow starts
quiet (see :mod:`dlcourse.quiet`).
"""
from dlcourse import quiet as _quiet  # noqa: F401  (side effect: environment switches)
from dlcourse.chapters import CHAPTERS, COURSE_ID, SEED, Chapter, chapter
from dlcourse.setup import seed_everything, setup_notebook

__all__ = ["CHAPTERS", "COURSE_ID", "SEED", "Chapter", "chapter", "seed_everything", "setup_notebook"]
