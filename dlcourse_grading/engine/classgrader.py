"""Grade a whole class in parallel with nbgrader's own Autograde and GenerateFeedback.

Each worker process owns a kernel fork server (a zygote that has imported TensorFlow once) and
runs nbgrader's converters in-process, one submission at a time; the kernels it starts are
forked from its zygote, so no submission pays the TensorFlow import. Scores go to nbgrader's
gradebook exactly as `nbgrader autograde` would put them there: it is the same pipeline
(grading_config.py), with the same preprocessors and timeouts.
"""
from __future__ import annotations

import ctypes
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dlcourse.chapters import ROOT
from dlcourse_grading.engine import fastpaths, sandbox
from dlcourse_grading.engine.provisioner import ENV_LIMITS, ENV_UID
from dlcourse_grading.engine.zygote import ENV_SOCKET, gpu_present
from dlcourse_grading.paths import db_url

PR_SET_CHILD_SUBREAPER = 36
UNREADABLE_SUFFIX = ".unreadable"


@dataclass
class Run:
    """What a grading run did: its submissions, and the protections it could apply."""
    jobs: list
    limits: sandbox.Limits
    fork: bool
    warnings: list[str]
    seconds: float = 0.0


@dataclass
class Job:
    assignment: str
    student: str
    seconds: float = 0.0
    error: str = ""
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- worker side

_worker: dict = {}


def _start_zygote(workdir: str) -> subprocess.Popen:
    path = os.path.join(workdir, "zygote.sock")
    proc = subprocess.Popen([sys.executable, "-m", "dlcourse_grading.engine.zygote", path],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError("the kernel fork server did not start")
    os.environ[ENV_SOCKET] = path
    return proc


def _init_worker(root: str, limits: dict, fork: bool, counter) -> None:
    """Runs once in each worker process."""
    import dlcourse  # noqa: F401  (quiet TensorFlow switches for the kernels' environment)

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of student code come back to us
    with counter.get_lock():
        counter.value += 1
        number = counter.value
    os.environ[ENV_LIMITS] = json.dumps(limits)
    os.environ.pop(ENV_SOCKET, None)
    if sandbox.is_root() and limits.get("drop_privileges", True):
        os.environ[ENV_UID] = str(sandbox.STUDENT_UID_BASE + number)
    _worker["tmp"] = tempfile.mkdtemp(prefix="course-worker-")
    _worker["zygote"] = None
    if fork:
        try:
            _worker["zygote"] = _start_zygote(_worker["tmp"])
        except Exception as exc:  # noqa: BLE001 - the safe path: kernels started normally
            os.environ.pop(ENV_SOCKET, None)
            print(f"warning: kernel fork server unavailable ({exc}); starting kernels normally", file=sys.stderr)
    mp.util.Finalize(None, _stop_worker, exitpriority=10)
    from jupyter_client.provisioning import KernelProvisionerFactory

    KernelProvisionerFactory.instance().default_provisioner_name = "course-fork"
    _worker["config"] = _nbgrader_config(root)
    fastpaths.install()


def _stop_worker() -> None:
    zygote = _worker.get("zygote")
    if zygote and zygote.poll() is None:
        zygote.terminate()
        zygote.wait(10)
    shutil.rmtree(_worker.get("tmp", ""), ignore_errors=True)


def _nbgrader_config(root: str):
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    config.CourseDirectory.root = root
    config.CourseDirectory.db_url = db_url(Path(root))
    config.NbGrader.logfile = ""
    config.AsyncKernelManager.client_class = "dlcourse_grading.engine.client.QuickStartClient"
    return config


def _kill_strays() -> None:
    """Kill every process left behind by student code (adopted by us as subreaper)."""
    import psutil

    zygote = _worker.get("zygote")
    keep = {zygote.pid} if zygote else set()
    for child in psutil.Process().children(recursive=False):
        if child.pid in keep:
            continue
        try:
            for proc in child.children(recursive=True) + [child]:
                proc.kill()
        except psutil.Error:
            pass
    for _ in range(50):  # reap them, so none lingers as a zombie
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break


def _run_converter(kind: str, assignment: str, student: str) -> None:
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    config = _worker["config"]
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    coursedir.student_id = student
    converter = (Autograde if kind == "autograde" else GenerateFeedback)(coursedir=coursedir, config=config)
    converter.force = True
    converter.start()


def _grade(assignment: str, student: str) -> Job:
    job = Job(assignment, student)
    started = time.perf_counter()
    for kind in ("autograde", "feedback"):
        try:
            _run_converter(kind, assignment, student)
        except BaseException as exc:  # noqa: BLE001 - one submission's failure must not stop the class
            job.error = job.error or f"{kind}: {type(exc).__name__}: {exc}"[:500]
        finally:
            _kill_strays()
    job.seconds = time.perf_counter() - started
    return job


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


def lock_down(root: Path) -> list[tuple[Path, int]]:
    """As root, what student code must not read is readable by root alone while grading.
    Returns the previous modes, for :func:`unlock`."""
    if not sandbox.is_root():
        return []
    paths = [root / name for name in ("source", "release", "submitted", "autograded", "feedback")]
    paths += list(root.glob("gradebook.db*")) + [Path(__file__).resolve().parent.parent / "checks"]
    saved = []
    for path in paths:
        if path.exists():
            saved.append((path, path.stat().st_mode & 0o7777))
            os.chmod(path, 0o600 if path.is_file() else 0o700)
    return saved


def unlock(root: Path, saved: list[tuple[Path, int]]) -> None:
    """Put the modes back, and hand what grading wrote as root to the course directory's owner
    (an instructor account then releases feedback as usual)."""
    for path, mode in saved:
        os.chmod(path, mode)
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


def grade_class(root: Path, assignments: list[str], students: list[str] | None = None,
                workers: int | None = None, limits: sandbox.Limits = sandbox.Limits(),
                progress: bool = True, fork: bool | None = None) -> Run:
    """Grade every matching submission: one Job per submission (time, grader errors)."""
    started = time.perf_counter()
    root = Path(root).resolve()
    jobs = find_submissions(root, assignments, students)
    for job in jobs:
        make_readable(root, job, root / "release" / job.assignment)
    fork = (not gpu_present()) if fork is None else fork
    limits, warnings = sandbox.usable(limits)
    if fork and gpu_present():
        warnings.append("a GPU is present: forking after CUDA libraries load is unsafe, so kernels start normally")
    saved = lock_down(root)
    try:
        return _grade_all(root, jobs, workers, limits, fork, warnings, progress, started)
    finally:
        unlock(root, saved)


def _grade_all(root, jobs, workers, limits, fork, warnings, progress, started) -> Run:
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    counter = mp.get_context("spawn").Value("i", 0)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="notebook", desc="grading", file=sys.stderr, dynamic_ncols=True)
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker,
                             initargs=(str(root), limits.to_dict(), fork, counter)) as pool:
        futures = {pool.submit(_grade, j.assignment, j.student): j for j in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
                job.seconds, job.error = result.seconds, result.error
            except BaseException as exc:  # noqa: BLE001 - a worker that died takes one submission with it
                job.error = f"worker failed: {type(exc).__name__}: {exc}"
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    return Run(jobs, limits, fork, warnings, time.perf_counter() - started)
