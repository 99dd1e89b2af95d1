"""What travels between the coordinator and a grading worker: plain, picklable data.

A worker needs no gradebook and no shared filesystem: a :class:`Submission` carries the
submitted files, the assignment's source files and what the gradebook knows that grading
depends on (due date, extension, manual grades already entered); an :class:`Outcome` carries
back what nbgrader computed (scores, comments, late penalties, timestamp) and the files it wrote
(the autograded notebook, feedback). The coordinator alone writes them into the course.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

#: A submission is graded at most this often: a worker that dies while holding it costs one retry.
MAX_ATTEMPTS = 2


def read_tree(folder: Path) -> dict[str, bytes]:
    """Every regular file under `folder`, by path relative to it (symbolic links are not followed)."""
    folder = Path(folder)
    files = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    folder = Path(folder)
    for name, data in files.items():
        path = (folder / name).resolve()
        if folder.resolve() not in path.parents:  # a name like ../../x never leaves the folder
            raise ValueError(f"refusing to write outside {folder}: {name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@dataclass
class Submission:
    """One student's submission of one assignment, with everything needed to grade it."""
    assignment: str
    student: str
    files: dict[str, bytes]              # submitted/STUDENT/ASSIGNMENT/, relative paths
    source: dict[str, bytes]             # source/ASSIGNMENT/, relative paths
    duedate: str | None = None           # the assignment's, from the gradebook (ISO 8601, UTC)
    extension: object = None             # this student's extension (a timedelta), as nbgrader stores it
    manual: dict = field(default_factory=dict)  # notebook -> grade id -> {"score"|"comment": ...}
    attempt: int = 1

    @property
    def key(self) -> tuple[str, str]:
        return self.assignment, self.student

    def source_digest(self) -> str:
        """Identifies the assignment as the worker caches it (source files and due date)."""
        digest = hashlib.sha256(self.assignment.encode())
        for name in sorted(self.source):
            digest.update(name.encode() + b"\0" + self.source[name] + b"\0")
        digest.update(str(self.duedate).encode())
        return digest.hexdigest()[:20]


@dataclass
class NotebookOutcome:
    late_penalty: float | None = None
    grades: dict[str, float | None] = field(default_factory=dict)          # grade id -> auto score
    comments: dict[str, str | None] = field(default_factory=dict)          # cell id -> auto comment


@dataclass
class Outcome:
    """What grading one submission produced. `status` is "graded", or "lost" when no worker
    could finish it (then nothing else is set and the coordinator records zeros)."""
    assignment: str
    student: str
    status: str = "graded"
    timestamp: str | None = None
    notebooks: dict[str, NotebookOutcome] = field(default_factory=dict)
    autograded: dict[str, bytes] = field(default_factory=dict)
    feedback: dict[str, bytes] = field(default_factory=dict)
    applied: dict = field(default_factory=dict)   # the limits the worker's pipeline ran under
    fork: bool = False                             # whether its kernels were forked from a zygote
    seconds: float = 0.0          # the whole submission, in the worker
    kernel_seconds: float = 0.0   # of which its cells ran in the kernel (the rest is grading overhead)
    steps: dict = field(default_factory=dict)  # seconds by step of grading (worker.py), for the benchmarks
    error: str = ""
    attempts: int = 1

    @property
    def key(self) -> tuple[str, str]:
        return self.assignment, self.student
