"""Grade a whole class in parallel with nbgrader's own Autograde and GenerateFeedback.

The coordinator (this module) finds the submissions, packs each one with what grading needs
(:class:`~.protocol.Submission`), hands them to workers (:mod:`.pool`: one process per core,
each with a kernel fork server that imported TensorFlow once; :mod:`.worker`) and writes every
:class:`~.protocol.Outcome` into nbgrader's gradebook, ``autograded/`` and ``feedback/``
itself (:mod:`.recorder`), one transaction per submission. Scores are exactly what
`nbgrader autograde` gives: the same pipeline (grading_config.py), preprocessors and limits,
the limits being the run's :class:`~dlcourse_grading.settings.GradingSettings`.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import nbformat

from dlcourse.chapters import COURSE_ID, ROOT
from dlcourse_grading.engine import sandbox
from dlcourse_grading.engine.pool import LocalPool
from dlcourse_grading.engine.protocol import Outcome
from dlcourse_grading.engine.recorder import Recorder
from dlcourse_grading.engine.zygote import gpu_present
from dlcourse_grading.paths import venv_on_path

UNREADABLE_SUFFIX = ".unreadable"


@dataclass
class Run:
    """What a grading run did: its submissions, and the protections its workers applied (read
    back from their pipelines, not from the settings)."""
    jobs: list
    limits: sandbox.Limits
    fork: bool
    warnings: list[str]
    seconds: float = 0.0
    workers: int = 1


@dataclass
class Job:
    assignment: str
    student: str
    seconds: float = 0.0
    error: str = ""
    notes: list[str] = field(default_factory=list)
    status: str = "pending"   # graded, or lost (no worker could finish it: zeros, needs a look)
    attempts: int = 0
    kernel_seconds: float = 0.0
    steps: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- driver side

def find_submissions(root: Path, assignments: list[str], students: list[str] | None) -> list[Job]:
    jobs = []
    for folder in sorted((root / "submitted").glob("*/*")):
        if folder.is_dir() and folder.name in assignments and (not students or folder.parent.name in students):
            jobs.append(Job(folder.name, folder.parent.name))
    return jobs


def make_readable(root: Path, job: Job, release_dir: Path) -> None:
    """An unreadable notebook (invalid JSON, empty file) is kept aside as NAME.unreadable and
    replaced by the untouched release version, so that grading completes and the gradebook gets
    a zero for every test cell instead of nothing."""
    folder = root / "submitted" / job.student / job.assignment
    for released in release_dir.glob("*.ipynb"):
        path = folder / released.name
        try:
            nbformat.validate(nbformat.read(str(path), as_version=4))
            continue
        except FileNotFoundError:
            reason = "missing"
        except Exception as exc:  # noqa: BLE001 - any reason to be unreadable is the same case
            reason = f"unreadable ({type(exc).__name__})"
        if path.exists():
            shutil.move(path, path.with_name(path.name + UNREADABLE_SUFFIX))
        nb = nbformat.read(str(released), as_version=4)
        nb.metadata["course_repairs"] = [f"the submitted notebook was {reason}; graded as the untouched release"]
        nbformat.write(nb, str(path))
        job.notes.append(f"{released.name} {reason}")


class ClosedPaths:
    """Modes of the paths closed to everyone but root while gradings run, kept in one file for the
    machine. Several runs at once (two assistants, two assignments, two courses sharing the checks)
    share it: the first run that closes a path records its mode, the last one to leave restores
    it, and a run that died is counted out (its pid is gone)."""

    def __init__(self, state: Path = ROOT / ".grading" / "closed-paths.json"):
        self.state = state

    @contextmanager
    def _locked(self):
        self.state.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.state.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            record = json.loads(self.state.read_text()) if self.state.exists() else {}
            for entry in record.values():
                entry["holders"] = [pid for pid in entry["holders"] if _alive(pid)]
            yield record
            self.state.write_text(json.dumps(record, indent=1))

    def close(self, paths: list[Path]) -> None:
        with self._locked() as record:
            for path in paths:
                if path.exists():
                    entry = record.setdefault(str(path), {"mode": path.stat().st_mode & 0o7777, "holders": []})
                    entry["holders"].append(os.getpid())
                    os.chmod(path, 0o600 if path.is_file() else 0o700)

    def release(self) -> None:
        with self._locked() as record:
            for name, entry in list(record.items()):
                entry["holders"] = [pid for pid in entry["holders"] if pid != os.getpid()]
                if not entry["holders"]:
                    if os.path.exists(name):
                        os.chmod(name, entry["mode"])
                    del record[name]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def lock_down(root: Path) -> bool:
    """As root, what student code must not read is readable by root alone while grading."""
    if not sandbox.is_root():
        return False
    paths = [root / name for name in ("source", "release", "submitted", "autograded", "feedback")]
    paths += list(root.glob("gradebook.db*")) + [Path(__file__).resolve().parent.parent / "checks"]
    ClosedPaths().close(paths)
    return True


def unlock(root: Path, locked: bool) -> None:
    """Put the modes back (when no other run still needs them closed), and hand what grading
    wrote as root to the course directory's owner (an instructor account then releases feedback
    as usual)."""
    if locked:
        ClosedPaths().release()
    owner = root.stat()
    if not sandbox.is_root() or owner.st_uid == 0:
        return
    for top in [root / "autograded", root / "feedback", *root.glob("gradebook.db*"), *root.glob("grades.csv")]:
        if not top.exists():
            continue
        for folder, dirs, files in os.walk(top) if top.is_dir() else [(str(top.parent), [], [top.name])]:
            names = ([folder] if top.is_dir() else []) + [os.path.join(folder, n) for n in dirs + files]
            for name in names:
                os.chown(name, owner.st_uid, owner.st_gid)


def ensure_assignments(settings, assignments) -> list[str]:
    """Every assignment in the gradebook (nbgrader's GenerateAssignment registers a missing one)."""
    from nbgrader.api import Gradebook, MissingEntry

    from dlcourse_grading.engine import converters

    added = []
    with Gradebook(settings.db_url, COURSE_ID) as gb:
        missing = []
        for assignment in sorted(assignments):
            try:
                gb.find_assignment(assignment)
            except MissingEntry:
                missing.append(assignment)
    for assignment in missing:
        converters.run("generate", converters.course_config(), settings.root, settings.db_url, assignment)
        added.append(f"{assignment} was not in the gradebook: registered with nbgrader generate_assignment")
    return added


def read_back(outcomes: list[Outcome], asked: sandbox.Limits) -> tuple[sandbox.Limits, bool, list[str]]:
    """The limits and kernel start-up the workers reported, with a warning where they differ
    from what was asked."""
    applied = [o.applied for o in outcomes if o.applied]
    if not applied:
        return asked, False, []
    names = {f.name for f in fields(sandbox.Limits)}
    limits = replace(asked, **{k: v for k, v in applied[0].items() if k in names})
    warnings = [f"the workers applied {k} = {getattr(limits, k)}, not {getattr(asked, k)}"
                for k in sorted(names) if getattr(limits, k) != getattr(asked, k)]
    if any(a != applied[0] for a in applied):
        warnings.append("workers applied different limits: " + "; ".join(sorted({str(a) for a in applied})))
    return limits, any(o.fork for o in outcomes), warnings


def grade_class(settings, assignments: list[str], students: list[str] | None = None,
                progress: bool = True, on_dispatch=None) -> Run:
    """Grade every matching submission under ``settings.root``: one Job per submission.

    `on_dispatch(submission, worker_pid)` is called as each submission goes to a worker."""
    started = time.perf_counter()
    venv_on_path()
    root = settings.root
    jobs = find_submissions(root, assignments, students)
    for job in jobs:
        make_readable(root, job, root / "release" / job.assignment)
    limits, warnings = sandbox.usable(settings.limits)
    if settings.fork and gpu_present():
        warnings.append("a GPU is present: forking after CUDA libraries load is unsafe, so kernels start normally")
        settings = replace(settings, fork=False)
    settings = replace(settings, limits=limits, workers=max(1, min(settings.workers, len(jobs) or 1)))
    warnings += ensure_assignments(settings, {j.assignment for j in jobs})
    outcomes: list[Outcome] = []
    locked = lock_down(root)
    try:
        with Recorder(settings, COURSE_ID) as recorder:
            _grade_all(settings, jobs, recorder, outcomes, progress, on_dispatch)
    finally:
        unlock(root, locked)
    applied, forked, differ = read_back(outcomes, settings.limits)
    return Run(jobs, applied, forked, warnings + differ, time.perf_counter() - started, settings.workers)


def _grade_all(settings, jobs, recorder, outcomes, progress, on_dispatch) -> None:
    by_key = {(j.assignment, j.student): j for j in jobs}
    bar = None
    if progress and jobs:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="notebook", desc="grading", file=sys.stderr, dynamic_ncols=True)

    def on_outcome(outcome: Outcome) -> None:
        job = by_key[outcome.key]
        job.seconds, job.error, job.status, job.attempts = (outcome.seconds, outcome.error,
                                                            outcome.status, outcome.attempts)
        job.kernel_seconds, job.steps = outcome.kernel_seconds, outcome.steps
        try:
            recorder.record(outcome)
        except Exception as exc:  # noqa: BLE001 - this submission is not recorded; the rest are
            job.error = f"recording the grades failed: {type(exc).__name__}: {exc}"[:500]
        outcomes.append(outcome)
        if bar:
            bar.update(1)

    if settings.scheduler:
        from dlcourse_grading.engine.cluster import DaskPool

        pool = DaskPool(settings, settings.scheduler, on_dispatch)
    else:
        pool = LocalPool(settings, on_dispatch)
    pool.run((recorder.submission(j.assignment, j.student) for j in jobs), on_outcome)
    if bar:
        bar.close()
