"""Grading on a Dask cluster: the same :class:`~.worker.Worker` as the local pool, as Dask tasks.

Each Dask worker process starts one grading Worker (its kernel fork server included) on its first
task and keeps it for every later one; a task is one :class:`~.protocol.Submission` (and the
run's settings) in, one :class:`~.protocol.Outcome` out. (A worker plugin would start it earlier,
but a Dask worker that dies while plugins are registered fails the registration, and a worker
without the plugin could not grade: started by the task itself, it always exists.) What a task needs travels
with it, so the Dask workers need neither the gradebook nor the course directory; the
coordinator alone writes them, as in a local run.

A student's kernel dying is caught inside the task (nbgrader's execute step, made robust) and
comes back as an ordinary outcome. A Dask worker process dying (SIGKILL, out of memory) makes
the scheduler fail its task with ``KilledWorker`` once ``allowed-failures`` is passed: the
coordinator then submits it once more itself, and records it as lost after the second death, as
the local pool does. Run the scheduler with ``distributed.scheduler.allowed-failures: 0`` and
``worker-saturation: 1.0`` (``cluster_environment()``) so that a death counts against the
submission that was running only, and the workers with ``--nthreads 1`` (one submission at a
time per grading Worker) and without Dask's statistical profiler (``distributed.worker.profile.
enabled: false``), which samples every thread of the worker process every 10 ms, the grading
thread's deep nbgrader and asyncio stacks included, under the same GIL.
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
import uuid
import zlib
from pathlib import Path
from typing import Callable, Iterable

from dlcourse_grading.engine.protocol import MAX_ATTEMPTS, Outcome, Submission
from dlcourse_grading.paths import VENV_BIN

def cluster_environment() -> dict[str, str]:
    """Dask settings for a grading cluster's scheduler and workers (see the module's docstring)."""
    return {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0",
            "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
            "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}


#: The grading Workers of this (Dask worker) process, by the settings they were started with.
_WORKERS: dict = {}


def _local_worker(settings):
    """This Dask worker's grading Worker for `settings`, started on its first task (the fork
    server then serves every later task); closed when the Dask worker's process ends."""
    key = repr(settings.limits) + repr(settings.fork)
    if key not in _WORKERS:
        from distributed import get_worker

        from dlcourse_grading.engine.worker import Worker

        # One unprivileged uid per Dask worker: from its name when numeric, else from its address.
        me = get_worker()
        name = str(me.name)
        number = int(name) if name.isdigit() else 1 + zlib.crc32(me.address.encode()) % 900
        _without_nanny_environ()
        _WORKERS[key] = Worker(settings, number)
        atexit.register(_WORKERS[key].close)
    return _WORKERS[key]


def _without_nanny_environ() -> None:
    """Dask's nanny tunes its worker process through the environment (``distributed.nanny.
    pre-spawn-environ``: MALLOC_TRIM_THRESHOLD_=65536, one OpenMP/MKL/OpenBLAS thread). The
    fork server and the kernels are started from this environment, and get the one a local run
    gives them: what the nanny set (still at its configured value) is taken out before they
    start, so that a submission's cells run alike on both paths."""
    import dask

    for section in ("distributed.nanny.pre-spawn-environ", "distributed.nanny.environ"):
        for name, value in (dask.config.get(section, default={}) or {}).items():
            if os.environ.get(name) == str(value):
                del os.environ[name]


def grade_task(submission: Submission, settings) -> Outcome:
    """The task a Dask worker runs: grade with this worker's own grading Worker."""
    return _local_worker(settings).grade(submission)


class DaskPool:
    """Same interface as :class:`~.pool.LocalPool`, on the cluster at `address`."""

    def __init__(self, settings, address: str, on_dispatch: Callable[[Submission, int], None] | None = None):
        self.settings, self.address, self.on_dispatch = settings, address, on_dispatch

    def run(self, submissions: Iterable[Submission], on_outcome: Callable[[Outcome], None]) -> None:
        from distributed import Client, as_completed
        from distributed.scheduler import KilledWorker

        with Client(self.address, timeout=60) as client:
            futures = as_completed()
            held = {}
            for sub in submissions:
                held[self._submit(client, sub, futures)] = sub
            for future in futures:
                sub = held.pop(future)
                try:
                    outcome = future.result()
                except KilledWorker as exc:
                    if sub.attempt < MAX_ATTEMPTS:
                        sub.attempt += 1
                        held[self._submit(client, sub, futures)] = sub
                        continue
                    outcome = Outcome(sub.assignment, sub.student, status="lost", attempts=sub.attempt,
                                      error=f"the grading worker died while grading this submission, "
                                            f"{sub.attempt} times (last: {exc.last_worker.address}); its "
                                            "grades are zero and it needs a look")
                except Exception as exc:  # noqa: BLE001 - the task itself failed: this submission only
                    outcome = Outcome(sub.assignment, sub.student, status="lost", attempts=sub.attempt,
                                      error=f"grading on the cluster failed: {type(exc).__name__}: {exc}"[:500])
                on_outcome(outcome)

    def _submit(self, client, sub: Submission, futures):
        future = client.submit(grade_task, sub, self.settings, pure=False, key=f"grade-{sub.assignment}-{sub.student}-{sub.attempt}-{uuid.uuid4().hex[:8]}")
        futures.add(future)
        if self.on_dispatch:
            self.on_dispatch(sub, 0)
        return future


class LoopbackCluster:
    """A real `dask scheduler` and `workers` one-thread `dask worker` processes on 127.0.0.1,
    with the grading settings above (for the tests and the benchmark; a real cluster is deployed
    with dask-kubernetes or dask-jobqueue the same way)."""

    def __init__(self, folder: Path, workers: int = 2):
        self.folder, self.workers = Path(folder), workers
        self.scheduler_file = self.folder / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        self.address = ""

    def _spawn(self, *args: str, log: str) -> subprocess.Popen:
        env = {**os.environ, **cluster_environment()}
        return subprocess.Popen([str(VENV_BIN / "dask"), *args], env=env, cwd=self.folder,
                                stdout=subprocess.DEVNULL, stderr=open(self.folder / log, "wb"))

    def __enter__(self) -> "LoopbackCluster":
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scheduler_file.unlink(missing_ok=True)
        self.procs.append(self._spawn("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", str(self.scheduler_file), log="scheduler.log"))
        for number in range(1, self.workers + 1):
            self.procs.append(self._spawn("worker", "--scheduler-file", str(self.scheduler_file), "--nthreads", "1",
                                          "--name", str(number), "--no-dashboard", "--memory-limit", "0",
                                          "--death-timeout", "60", log=f"worker{number}.log"))
        deadline = time.monotonic() + 60
        while not self.scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        with self.client() as client:
            client.wait_for_workers(self.workers, timeout=120)
            self.address = client.scheduler.address
        return self

    def client(self):
        from distributed import Client

        return Client(scheduler_file=str(self.scheduler_file), timeout=60)

    def worker_pids(self) -> dict:
        with self.client() as client:
            return client.run(os.getpid)

    def __exit__(self, *exc) -> None:
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
