"""A grading worker: grades one :class:`~.protocol.Submission` at a time, touching nothing shared.

Each submission is graded by nbgrader's own Autograde and GenerateFeedback converters, with the
course's pipeline (grading_config.py), in a private course directory of the worker's: the
assignment's source files, the submission's files, and a private SQLite gradebook that holds
the assignment (made once per assignment by nbgrader's GenerateAssignment, then copied) and what
the real gradebook knows about this submission (every Gradebook nbgrader opens on it shares one
engine: fastpaths.private_gradebook). What nbgrader computed there is read back into
an :class:`~.protocol.Outcome`; the private directory is then removed. The worker never opens
the course's gradebook or writes into the course directory, so any number of workers (local
processes, or tasks on a cluster) can grade at once without a race, and only the coordinator
writes.

Kernels are forked from the worker's zygote (TensorFlow imported once), under the run's limits.
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from sqlalchemy.exc import SAWarning

from dlcourse_grading.engine import converters, fastpaths, sandbox
from dlcourse_grading.engine.protocol import NotebookOutcome, Outcome, Submission, read_tree, write_tree
from dlcourse_grading.engine.provisioner import (ENV_LIMITS, ENV_PIDS, ENV_UID, await_shut_down_kernels,
                                                 discard_spares)
from dlcourse_grading.engine.zygote import ENV_SOCKET
from dlcourse_grading.paths import venv_on_path

PR_SET_CHILD_SUBREAPER = 36
#: The step (Outcome.steps) that holds CPU seconds, not wall seconds.
CPU_OUTSIDE_CELLS = "grader CPU outside the cells"


def nbgrader_config(settings):
    """The course's nbgrader configuration with this run's limits in it: the one place where the
    settings reach nbgrader's execute step."""
    config = converters.course_config()
    config.NbGrader.logfile = ""
    config.RobustExecute.timeout = settings.limits.cell_timeout
    config.RobustExecute.notebook_timeout = settings.limits.notebook_timeout
    config.Execute.timeout = settings.limits.cell_timeout
    config.AsyncKernelManager.client_class = "dlcourse_grading.engine.client.QuickStartClient"
    # Once every cell has answered, nothing the kernel could still do counts: kill it rather than
    # ask it to shut down and wait on jupyter_client's 0.1 s polls (0.12 s a notebook, measured).
    # Whatever it started is killed after it (kill_strays).
    config.RobustExecute.shutdown_kernel = "immediate"
    # nbconvert validates the whole notebook against its schema after every preprocessor (14 in
    # the autograde pipeline, ~45 ms a notebook); its own option validates once, after the last.
    config.Exporter.optimistic_validation = True
    return config


class Worker:
    """Owns a kernel fork server and a scratch folder; grades submissions one by one."""

    def __init__(self, settings, number: int, home: str | None = None):
        import dlcourse  # noqa: F401  (quiet TensorFlow switches for the kernels' environment)

        self.settings, self.number = settings, number
        self.home = Path(home or tempfile.mkdtemp(prefix="course-worker-"))
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.home / "kernels").mkdir(exist_ok=True)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of student code come back to us
        venv_on_path()  # for the gradebooks of the worker's templates
        os.environ[ENV_LIMITS] = json.dumps(settings.limits.to_dict())
        os.environ[ENV_PIDS] = str(self.home / "kernels")
        os.environ.pop(ENV_SOCKET, None)
        os.environ.pop(ENV_UID, None)
        if sandbox.is_root() and settings.limits.drop_privileges:
            os.environ[ENV_UID] = str(sandbox.STUDENT_UID_BASE + number)
        # The fork server imports TensorFlow (seconds) while this process loads nbgrader and
        # nbconvert and makes its empty gradebook: the two start-ups overlap.
        zygote = self._launch_zygote() if settings.fork else None
        from jupyter_client.provisioning import KernelProvisionerFactory

        KernelProvisionerFactory.instance().default_provisioner_name = "course-fork"
        self.config = nbgrader_config(settings)
        self.templates: dict[str, Path] = {}
        self._frozen = False
        fastpaths.install()
        # nbgrader's add_submission builds its rows under SQLAlchemy's autoflush, which warns
        # "not in session" for each; the rows are complete when it commits (nbgrader's own tests).
        warnings.filterwarnings("ignore", message=r".*not in session", category=SAWarning)
        self._empty_gradebook()
        self.zygote = self._await_zygote(zygote) if zygote else None

    def _launch_zygote(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "dlcourse_grading.engine.zygote", self._socket],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    @property
    def _socket(self) -> str:
        return str(self.home / "zygote.sock")

    def _await_zygote(self, proc: subprocess.Popen) -> subprocess.Popen | None:
        path = self._socket
        if proc.stdout.readline().strip() != "ready":
            proc.kill()
            print("warning: kernel fork server unavailable; starting kernels normally", file=sys.stderr)
            return None
        os.environ[ENV_SOCKET] = path
        return proc

    def close(self) -> None:
        discard_spares(self._socket)
        if self.zygote and self.zygote.poll() is None:
            self.zygote.terminate()
            self.zygote.wait(10)
        # What this worker set for its kernels goes with it: a later kernel of this process
        # (a lecture run by nbclient, another Worker) must not ask a fork server that is gone.
        for name, value in self._environ().items():
            if os.environ.get(name) == value:
                del os.environ[name]
        shutil.rmtree(self.home, ignore_errors=True)

    def _environ(self) -> dict[str, str]:
        return {ENV_SOCKET: self._socket, ENV_PIDS: str(self.home / "kernels")}

    # ------------------------------------------------------------------ one submission

    def grade(self, sub: Submission) -> Outcome:
        started, cpu = time.perf_counter(), time.thread_time()
        cell_cpu = 0.0
        outcome = Outcome(sub.assignment, sub.student, attempts=sub.attempt, fork=self.zygote is not None)
        steps = outcome.steps

        def step(name: str, since: float) -> float:
            now = time.perf_counter()
            steps[name] = steps.get(name, 0.0) + now - since
            return now

        course = Path(tempfile.mkdtemp(prefix="grading-", dir=self.home))
        try:
            mark = step("prepare", started)
            self._template(sub)
            mark = step("assignment set-up", mark)  # once per worker and assignment
            with fastpaths.private_gradebook(_sqlite(course)):
                self._prepare(course, sub)
                mark = step("prepare", mark)
                for kind in ("autograde", "feedback"):
                    try:
                        converter = self._run_converter(kind, course, sub.assignment, sub.student)
                        if kind == "autograde":
                            outcome.applied, outcome.kernel_seconds, spans = applied_limits(converter)
                            cell_cpu = spans.pop("cells (grader CPU)", 0.0)
                            steps.update(spans)
                    except BaseException as exc:  # noqa: BLE001 - one submission's failure is its own
                        outcome.error = outcome.error or f"{kind}: {type(exc).__name__}: {exc}"[:500]
                    finally:
                        mark = step(kind, mark)
                        kill_strays(self.zygote)
                        mark = step("kill strays", mark)
                self._read_back(course, sub, outcome)
            mark = step("read back", mark)
        except BaseException as exc:  # noqa: BLE001 - whatever went wrong is reported, not raised
            outcome.error = outcome.error or f"grading: {type(exc).__name__}: {exc}"[:500]
        finally:
            shutil.rmtree(course, ignore_errors=True)
        if not self._frozen:
            # What the first grading loaded (nbgrader, nbconvert, Jinja, Pygments: ~400k objects)
            # lives as long as the worker: out of the collector's sight, full collections no
            # longer walk it (BeautifulSoup's feedback pass alone makes ~50k objects a page).
            gc.collect()
            gc.freeze()
            self._frozen = True
        outcome.seconds = time.perf_counter() - started
        # The grading thread's own CPU outside the cells (the wall-time steps above also count
        # waiting, and time lost to other processes on a busy machine).
        steps[CPU_OUTSIDE_CELLS] = time.thread_time() - cpu - cell_cpu
        return outcome

    def _prepare(self, course: Path, sub: Submission) -> None:
        from nbgrader.api import Gradebook

        write_tree(course / "source" / sub.assignment, sub.source)
        write_tree(course / "submitted" / sub.student / sub.assignment, sub.files)
        shutil.copyfile(self._template(sub), course / "gradebook.db")
        if sub.extension is None and not sub.manual:
            return  # nothing to carry over: Autograde creates the student and the submission itself
        with Gradebook(_sqlite(course), self.config.CourseDirectory.course_id) as gb:
            gb.update_or_create_student(sub.student)
            submission = gb.add_submission(sub.assignment, sub.student, extension=sub.extension)
            for nb in submission.notebooks:  # a manual grade already entered counts, as in nbgrader
                for grade in nb.grades:
                    grade.manual_score = sub.manual.get(nb.name, {}).get(grade.name, {}).get("score")
                for comment in nb.comments:
                    comment.manual_comment = sub.manual.get(nb.name, {}).get(comment.name, {}).get("comment")
            gb.db.commit()

    def _template(self, sub: Submission) -> Path:
        """A gradebook holding the assignment, made once per assignment by GenerateAssignment."""
        key = sub.source_digest()
        if key not in self.templates:
            from nbgrader.api import Gradebook

            folder = self.home / "templates" / key
            shutil.rmtree(folder, ignore_errors=True)
            write_tree(folder / "source" / sub.assignment, sub.source)
            shutil.copyfile(self._empty_gradebook(), folder / "gradebook.db")
            self._run_converter("generate", folder, sub.assignment)
            if sub.duedate:
                with Gradebook(_sqlite(folder), self.config.CourseDirectory.course_id) as gb:
                    gb.update_or_create_assignment(sub.assignment, duedate=sub.duedate)
            self.templates[key] = folder / "gradebook.db"
        return self.templates[key]

    def _empty_gradebook(self) -> Path:
        """nbgrader asks `alembic` (a new process, ~1 s) for its schema version whenever it creates
        a gradebook: once per worker, then copies."""
        path = self.home / "empty-gradebook.db"
        if not path.exists():
            from nbgrader.api import Gradebook

            Gradebook(f"sqlite:///{path}", self.config.CourseDirectory.course_id).close()
        return path

    def _run_converter(self, kind: str, course: Path, assignment: str, student: str | None = None):
        return converters.run(kind, self.config, course, _sqlite(course), assignment, student)

    def _read_back(self, course: Path, sub: Submission, outcome: Outcome) -> None:
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(_sqlite(course), self.config.CourseDirectory.course_id) as gb:
            try:
                submission = gb.find_submission(sub.assignment, sub.student)
            except MissingEntry:
                return
            outcome.timestamp = submission.timestamp.isoformat() if submission.timestamp else None
            for nb in submission.notebooks:
                outcome.notebooks[nb.name] = NotebookOutcome(
                    late_penalty=nb.late_submission_penalty,
                    grades={g.name: g.auto_score for g in nb.grades},
                    comments={c.name: c.auto_comment for c in nb.comments})
        outcome.autograded = read_tree(course / "autograded" / sub.student / sub.assignment)
        outcome.feedback = read_tree(course / "feedback" / sub.student / sub.assignment)


def _sqlite(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def applied_limits(converter) -> tuple[dict, float, dict]:
    """The limits read back from the execute step nbgrader actually ran (not from the settings),
    the seconds its cells took and where the rest of its time went."""
    from dlcourse_grading.engine.preprocessors import RobustExecute

    for pp in converter.exporter._preprocessors:
        if isinstance(pp, RobustExecute):
            return ({"cell_timeout": pp.timeout, "notebook_timeout": pp.notebook_timeout,
                     **json.loads(os.environ.get(ENV_LIMITS, "{}")),
                     "uid": int(os.environ[ENV_UID]) if os.environ.get(ENV_UID) else None},
                    getattr(pp, "cell_seconds", 0.0),
                    {**getattr(pp, "spans", {}), "cells (grader CPU)": getattr(pp, "cell_cpu", 0.0)})
    return {}, 0.0, {}


def kill_strays(zygote: subprocess.Popen | None) -> None:
    """Kill every process left behind by student code: once the kernels shut down have ended,
    everything they started is our child (we are its subreaper), but the fork server and what it
    holds (the next submission's kernel, started ahead: no student code has run in it)."""
    import psutil

    await_shut_down_kernels()
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
