"""Scale-out with real parts on loopback: a PostgreSQL gradebook and a Dask cluster.

A throwaway PostgreSQL server (Debian's, started by the repo's own `pgserver`), a real
`dask scheduler` and two `dask worker` processes started here. The class is graded on the
cluster into PostgreSQL with the same scores as a local run; a Dask worker killed mid-run loses
nothing and grades nothing twice; a PostgreSQL restart during a run is survived.
"""
from __future__ import annotations

from collections import Counter
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Grade, Gradebook

from dlcourse.chapters import chapter
from dlcourse_grading import example_class
from dlcourse_grading.engine.classgrader import grade_class
from dlcourse_grading.engine.cluster import scheduler_environment
from dlcourse_grading.grading import expected_table, prepare_course, score_table
from dlcourse_grading.notebook import nbgrader_meta
from dlcourse_grading.paths import VENV_BIN, venv_on_path
from dlcourse_grading.pgserver import PostgresServer, server_bin
from dlcourse_grading.settings import GradingSettings

CH = chapter(1)
venv_on_path()  # nbgrader creates a new gradebook with `alembic` from PATH


def _can_run_postgres() -> bool:
    try:
        server_bin()
        return True
    except (RuntimeError, subprocess.CalledProcessError):
        return False


pytestmark = pytest.mark.skipif(not _can_run_postgres(), reason="PostgreSQL is not installed and we are not root")


@pytest.fixture(scope="module")
def postgres():
    # Not under pytest's tmp_path (private to root): the server runs as Debian's postgres account.
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="course-pg-"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes (one thread each) on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("dask")
    file = folder / "scheduler.json"
    env = {**os.environ, **scheduler_environment()}
    procs = [subprocess.Popen([str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(file)], env=env,
                              stdout=subprocess.DEVNULL, stderr=open(folder / "scheduler.log", "wb"))]
    for name in ("1", "2"):
        procs.append(subprocess.Popen(
            [str(VENV_BIN / "dask"), "worker", "--scheduler-file", str(file), "--nthreads", "1",
             "--name", name, "--no-dashboard", "--memory-limit", "0", "--death-timeout", "60"],
            env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=open(folder / f"worker{name}.log", "wb")))
    from distributed import Client

    deadline = time.monotonic() + 60
    while not file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    with Client(scheduler_file=str(file), timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
        address = client.scheduler.address
    yield address, file
    for proc in reversed(procs):
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _example_class(root: Path, db_url: str) -> None:
    prepare_course(root, [CH], db_url=db_url)
    example_class.write_class(CH, root)


def _rows_once(db_url: str) -> list:
    """(student, test cell, how many grade rows) for every row that is not there exactly once."""
    with Gradebook(db_url) as gb:
        counts = Counter((g.notebook.assignment.student_id, g.name) for g in gb.db.query(Grade).all())
    return [(*key, n) for key, n in counts.items() if n != 1], len(counts)


def _empty(db_url: str) -> None:
    """The shared server's gradebook without what an earlier test graded."""
    with Gradebook(db_url) as gb:
        for name in [a.name for a in gb.assignments]:
            gb.remove_assignment(name)


def _worker_pids(scheduler_file: Path) -> dict:
    from distributed import Client

    with Client(scheduler_file=str(scheduler_file), timeout=30) as client:
        return client.run(os.getpid)


def test_the_class_graded_on_the_cluster_into_postgres_scores_as_locally(tmp_path, postgres, cluster):
    address, _ = cluster
    root = tmp_path / "course"
    _empty(postgres.url)
    _example_class(root, postgres.url)
    settings = GradingSettings.load(root, db_url=postgres.url, scheduler=address)
    run = grade_class(settings, [CH.id], progress=False)
    assert [(j.student, j.error) for j in run.jobs if j.error or j.status != "graded"] == []
    expected = expected_table([CH])
    assert score_table(root, [CH], db_url=postgres.url).reindex_like(expected).equals(expected)
    assert run.fork and run.limits.cell_timeout == settings.limits.cell_timeout  # read back from the workers
    assert not (root / "gradebook.db").exists()
    assert sorted(p.name for p in (root / "feedback").iterdir()) == sorted(example_class.STUDENTS)


def test_a_dask_worker_killed_mid_run_loses_nothing_and_grades_nothing_twice(tmp_path, postgres, cluster):
    address, scheduler_file = cluster
    root = tmp_path / "course"
    db_url = postgres.url
    _empty(db_url)
    _example_class(root, db_url)
    pids = _worker_pids(scheduler_file)
    victim = pids[sorted(pids)[0]]
    threading.Timer(6.0, os.kill, (victim, signal.SIGKILL)).start()  # while both workers are grading
    run = grade_class(GradingSettings.load(root, db_url=db_url, scheduler=address), [CH.id], progress=False)
    assert [(j.student, j.error) for j in run.jobs if j.error or j.status != "graded"] == []
    assert any(j.attempts == 2 for j in run.jobs), "the killed worker was holding no submission"
    expected = expected_table([CH])
    assert score_table(root, [CH], db_url=db_url).reindex_like(expected).equals(expected)
    not_once, count = _rows_once(db_url)
    graded_cells = [c for c in nbformat.read(str(CH.source), as_version=4).cells if nbgrader_meta(c).get("grade")]
    assert not_once == [] and count == len(example_class.STUDENTS) * len(graded_cells)
    deadline = time.monotonic() + 120  # the nanny brings the worker back for the next test
    while len(_worker_pids(scheduler_file)) < 2 and time.monotonic() < deadline:
        time.sleep(1)


def test_a_postgres_restart_during_a_run_is_survived(tmp_path, postgres):
    root = tmp_path / "course"
    db_url = postgres.url
    _empty(db_url)
    _example_class(root, db_url)
    restarted = []

    def down_for_a_while():
        postgres.stop()
        time.sleep(5)  # outcomes arrive meanwhile and must wait for the server
        postgres.start()

    def restart_once(sub, pid):
        if sub.student == "cam_partial" and not restarted:  # the third dispatch: after a first outcome
            restarted.append(sub.student)
            threading.Thread(target=down_for_a_while).start()

    run = grade_class(GradingSettings.load(root, db_url=db_url, workers=2), [CH.id], progress=False,
                      on_dispatch=restart_once)
    assert restarted
    assert [(j.student, j.error) for j in run.jobs if j.error] == []
    expected = expected_table([CH])
    assert score_table(root, [CH], db_url=db_url).reindex_like(expected).equals(expected)
    assert _rows_once(db_url)[0] == []
