"""The one list of chapters, and the course-wide constants derived from it.

Everything else (nbgrader config, the manifest, the tests, the README table) reads
from here or from the notebooks this list points to.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

COURSE_ID = "keras-dl-foundations"
#: The seed every notebook and hidden check starts from.
SEED = 1234
#: Repository root (the package lives one level below it). In an installed copy of the student
#: package (a student environment) this is site-packages: nothing there uses the chapter paths,
#: and `Chapter.available` is simply False.
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Chapter:
    number: int
    slug: str
    title: str

    @property
    def id(self) -> str:
        """Assignment name and file stem, e.g. ``01_activations``."""
        return f"{self.number:02d}_{self.slug}"

    @property
    def lecture(self) -> Path:
        return ROOT / "notebooks" / f"{self.id}.ipynb"

    @property
    def source(self) -> Path:
        return ROOT / "source" / self.id / f"{self.id}.ipynb"

    @property
    def release(self) -> Path:
        return ROOT / "release" / self.id / f"{self.id}.ipynb"

    @property
    def available(self) -> bool:
        """A chapter is taught once its assignment exists in ``source/``."""
        return self.source.exists()


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "activations", "Neurons and activations"),
    Chapter(2, "gradient_descent", "Gradient descent"),
    Chapter(3, "backprop", "Backpropagation"),
    Chapter(4, "losses", "Losses"),
    Chapter(5, "regularization", "Regularization"),
    Chapter(6, "training_problems", "Training problems"),
)


def chapter(key: str | int) -> Chapter:
    """Look a chapter up by number, slug or id (``1``, ``"activations"``, ``"01_activations"``)."""
    for ch in CHAPTERS:
        if key in (ch.number, ch.slug, ch.id) or str(key) == str(ch.number):
            return ch
    raise KeyError(f"no chapter {key!r}; known: {[c.id for c in CHAPTERS]}")


def available_chapters() -> list[Chapter]:
    return [ch for ch in CHAPTERS if ch.available]
