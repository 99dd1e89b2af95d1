"""Scale-out with real parts on loopback: a PostgreSQL gradebook and a Dask cluster.

A throwaway PostgreSQL server (Debian's, started by the repo's own `pgserver`), a real
`dask scheduler` and two `dask worker` processes started here. The class is graded on the
cluster into PostgreSQL with the same scores as a local run; a Dask worker killed mid-run loses
nothing and grades nothing twice; a PostgreSQL restart during a run is survived.
"""
from __future__ import annotations

import os
import re
from collections import Counter
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Grade, Gradebook

from dlcourse.chapters import ROOT, chapter
from dlcourse_grading import example_class
from dlcourse_grading.engine.classgrader import grade_class
from dlcourse_grading.engine.cluster import LoopbackCluster
from dlcourse_grading.grading import expected_table, prepare_course, score_table
from dlcourse_grading.notebook import nbgrader_meta
from dlcourse_grading.paths import VENV_BIN, venv_on_path
from dlcourse_grading.pgserver import PostgresServer, server_bin
from dlcourse_grading.hub import free_port
from dlcourse_grading.settings import ENV_DB_URL, GradingSettings

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
    with LoopbackCluster(tmp_path_factory.mktemp("dask"), workers=2) as running:
        yield running


def _example_class(root: Path, db_url: str) -> None:
    prepare_course(root, [CH], db_url=db_url)
    example_class.write_class(CH, root)


def _rows_once(db_url: str) -> list:
    """(student, assignment, grade cell, how many rows) for every grade not there exactly once,
    and how many distinct grades there are."""
    with Gradebook(db_url) as gb:
        counts = Counter((g.notebook.assignment.student_id, g.notebook.assignment.name, g.name)
                         for g in gb.db.query(Grade).all())
    return [(*key, n) for key, n in counts.items() if n != 1], len(counts)


def _kill_when_busy(cluster, address: str, pid: int, killed: list) -> None:
    """SIGKILL the Dask worker at `address` one second into the first task it runs."""
    with cluster.client() as client:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if client.processing().get(address):
                time.sleep(1.0)
                os.kill(pid, signal.SIGKILL)
                killed.append(address)
                return
            time.sleep(0.2)


def _empty(db_url: str) -> None:
    """The shared server's gradebook without what an earlier test graded."""
    with Gradebook(db_url) as gb:
        for name in [a.name for a in gb.assignments]:
            gb.remove_assignment(name)


NANNY_ENVIRON = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def test_the_class_graded_on_the_cluster_into_postgres_scores_as_locally(tmp_path, postgres, cluster):
    """The example class graded on the cluster into PostgreSQL gets its expected scores, and its
    kernels run in the environment a local run gives them, without what Dask's nanny sets for
    its own worker process (a malloc trim threshold, one BLAS thread)."""
    root = tmp_path / "course"
    _empty(postgres.url)
    _example_class(root, postgres.url)
    probe = example_class.submissions(CH)["ada_reference"]
    probe.cells.append(nbformat.v4.new_code_cell(
        f"import os\nprint(sorted(n for n in {NANNY_ENVIRON!r} if n in os.environ))"))
    (root / "submitted" / "env_probe" / CH.id).mkdir(parents=True)
    nbformat.write(probe, str(root / "submitted" / "env_probe" / CH.id / f"{CH.id}.ipynb"))
    settings = GradingSettings.load(root, db_url=postgres.url, scheduler=cluster.address)
    run = grade_class(settings, [CH.id], progress=False)
    assert [(j.student, j.error) for j in run.jobs if j.error or j.status != "graded"] == []
    expected = expected_table([CH])
    assert score_table(root, [CH], db_url=postgres.url).reindex_like(expected).equals(expected)
    assert run.fork and run.limits.cell_timeout == settings.limits.cell_timeout  # read back from the workers
    assert not (root / "gradebook.db").exists()
    assert sorted(p.name for p in (root / "feedback").iterdir()) == sorted([*example_class.STUDENTS, "env_probe"])
    graded = nbformat.read(str(root / "autograded" / "env_probe" / CH.id / f"{CH.id}.ipynb"), as_version=4)
    assert [n for n in NANNY_ENVIRON if n in os.environ] == []  # so none may reach a kernel either
    assert graded.cells[-1].outputs[0]["text"] == "[]\n"


def test_a_dask_worker_killed_mid_run_loses_nothing_and_grades_nothing_twice(tmp_path, postgres, cluster):
    root = tmp_path / "course"
    db_url = postgres.url
    _empty(db_url)
    _example_class(root, db_url)
    pids = cluster.worker_pids()
    victim = sorted(pids)[0]
    killed = []
    threading.Thread(target=_kill_when_busy, args=(cluster, victim, pids[victim], killed), daemon=True).start()
    run = grade_class(GradingSettings.load(root, db_url=db_url, scheduler=cluster.address), [CH.id], progress=False)
    assert [(j.student, j.error) for j in run.jobs if j.error or j.status != "graded"] == []
    assert killed and any(j.attempts == 2 for j in run.jobs), "the killed worker was holding no submission"
    expected = expected_table([CH])
    assert score_table(root, [CH], db_url=db_url).reindex_like(expected).equals(expected)
    not_once, count = _rows_once(db_url)
    graded_cells = [c for c in nbformat.read(str(CH.source), as_version=4).cells if nbgrader_meta(c).get("grade")]
    assert not_once == [] and count == len(example_class.STUDENTS) * len(graded_cells)
    deadline = time.monotonic() + 120  # the nanny brings the worker back for the next test
    while len(cluster.worker_pids()) < 2 and time.monotonic() < deadline:
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


@pytest.fixture
def formgrader(tmp_path, postgres):
    """A Jupyter server with nbgrader's Formgrader for the course at tmp_path/course, on PostgreSQL."""
    import requests

    root, config = tmp_path / "course", tmp_path / "jupyter"
    config.mkdir()
    (config / "nbgrader_config.py").write_text(
        f"c = get_config()\nload_subconfig({str(ROOT / 'grading_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(root)!r}\nc.CourseDirectory.db_url = {postgres.url!r}\n")
    port, token = free_port(1), "course-tests"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), ENV_DB_URL: postgres.url,
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    root.mkdir()
    server = subprocess.Popen([str(VENV_BIN / "jupyter"), "server", "--allow-root", "--no-browser", "--ip", "127.0.0.1",
                               f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
                              cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.3)

    def put_grade(grade_id: str, score: float) -> dict:
        response = requests.put(f"{url}/formgrader/api/grade/{grade_id}", json={"manual_score": score},
                                headers={"Authorization": f"token {token}"}, timeout=60)
        response.raise_for_status()
        return response.json()

    yield root, put_grade
    server.terminate()
    server.wait(30)


def test_two_runs_and_a_manual_grade_at_once_on_postgres(formgrader, postgres):
    """Two grading runs of different assignments (two `course grade-class` processes) while the
    instructor enters manual grades through Formgrader's API: no row lost or doubled, the scores
    of a serial run, the manual grade kept, and the course's folders as open as before."""
    root, put_grade = formgrader
    first, *concurrent = [chapter(1), chapter(2), chapter(3)]
    _empty(postgres.url)
    prepare_course(root, [first, *concurrent], db_url=postgres.url)
    for ch in concurrent:
        example_class.write_class(ch, root)
    example_class.write_class(first, root)
    checks = Path(__import__("dlcourse_grading.checks").checks.__file__).parent  # shared by every run
    modes = {p: p.stat().st_mode for p in (root / "source", root / "submitted", checks)}
    # ada's chapter 1 first: its written answer is what the instructor grades during the runs.
    run = grade_class(GradingSettings.load(root, db_url=postgres.url, workers=1), [first.id], ["ada_reference"],
                      progress=False)
    assert not [j for j in run.jobs if j.error]
    with Gradebook(postgres.url) as gb:
        written = [g for g in gb.find_submission_notebook(first.id, first.id, "ada_reference").grades
                   if g.cell_type == "markdown"][0].id

    env = {**os.environ, ENV_DB_URL: postgres.url}
    runs = [subprocess.Popen([str(VENV_BIN / "course"), "grade-class", ch.id, "--root", str(root), "--workers", "1"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for ch in concurrent]
    entered = []
    while any(p.poll() is None for p in runs):
        entered.append(put_grade(written, 0.5 * (len(entered) % 4 + 1))["manual_score"])
        time.sleep(0.5)
    printed = [p.communicate()[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], printed
    assert not any(re.search(r"IntegrityError|Rolling back|OperationalError|Traceback", out) for out in printed), printed
    assert len(entered) > 5  # the manual grades really went in while both runs graded

    expected = expected_table(concurrent)
    assert score_table(root, concurrent, db_url=postgres.url).reindex_like(expected).equals(expected)
    ada = expected_table([first]).loc["ada_reference"]
    assert score_table(root, [first], db_url=postgres.url).loc["ada_reference"].reindex_like(ada).equals(ada)
    with Gradebook(postgres.url) as gb:
        assert gb.find_grade_by_id(written).manual_score == entered[-1]
    not_once, count = _rows_once(postgres.url)
    cells = {ch.id: sum(1 for c in nbformat.read(str(ch.source), as_version=4).cells if nbgrader_meta(c).get("grade"))
             for ch in (first, *concurrent)}
    print(f"\n{count} grade rows, each exactly once; {len(entered)} manual grades entered during the two runs")
    assert not_once == []
    assert count == cells[first.id] + len(example_class.STUDENTS) * sum(cells[ch.id] for ch in concurrent)
    assert {p: p.stat().st_mode for p in modes} == modes
