"""Pieces of the grading engine that the class-level tests rely on."""
from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from dlcourse.chapters import chapter
from dlcourse_grading.guard import TamperingError
from dlcourse_grading.engine.preprocessors import HideHiddenTests
from dlcourse_grading.notebook import HIDDEN_BLOCK


def test_fork_server_preload_runs_no_tensorflow_op():
    """Forking is only safe while TensorFlow's thread pools do not exist: every module the fork
    server preloads (the hidden checks of every chapter included) must be free of import-time ops."""
    code = ("from dlcourse_grading.engine import zygote; zygote.preload(); "
            "print(zygote.tensorflow_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_guard_detects_a_replaced_numpy_function():
    code = ("from dlcourse_grading import guard; guard.start(); import numpy as np; "
            "guard.verify(); np.allclose = lambda *a, **k: True\n"
            "try:\n    guard.verify()\nexcept guard.TamperingError as e:\n    print('caught', e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "caught" in out.stdout and "numpy.allclose" in out.stdout
    assert issubclass(TamperingError, AssertionError)


def test_feedback_hides_hidden_tests_and_their_tracebacks():
    nb = nbformat.read(str(chapter(1).source), as_version=4)
    cell = next(c for c in nb.cells if HIDDEN_BLOCK.search(c.source))
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="sigmoid: wrong values",
                                           traceback=["File checks/activations.py", "secret_case = 42"])]
    HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert "BEGIN HIDDEN TESTS" not in cell.source and "hidden" in cell.source
    assert cell.outputs[0]["traceback"] == ["AssertionError: sigmoid: wrong values"]


def test_quick_start_client_is_ready_with_iopub_connected_and_drained():
    """grade-class's kernel client returns from wait_for_ready without jupyter_client's fixed
    waits; then the first IOPub message is already an answer to the next request (nothing stale
    left over) and that request's output arrives (IOPub is subscribed)."""
    import asyncio

    from jupyter_client.manager import AsyncKernelManager

    async def first_messages():
        km = AsyncKernelManager(kernel_name="python3",
                                client_class="dlcourse_grading.engine.client.QuickStartClient")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            request = kc.execute("print('hello')")
            messages = []
            while not (messages and messages[-1]["msg_type"] == "status"
                       and messages[-1]["content"]["execution_state"] == "idle"):
                messages.append(await kc.get_iopub_msg(timeout=30))
            return type(kc).__name__, request, messages
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    client, request, messages = asyncio.run(first_messages())
    assert client == "QuickStartClient"
    assert all(m["parent_header"].get("msg_id") == request for m in messages), [m["msg_type"] for m in messages]
    assert any(m["msg_type"] == "stream" and m["content"]["text"] == "hello\n" for m in messages)


def _imports_of(path) -> set[str]:
    """The dlcourse_grading modules a file imports, at any depth of its code."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.startswith("dlcourse_grading")}


def test_no_import_circle_in_the_grading_package():
    """The checks use the guard and the engine preloads the checks; nothing imports back."""
    from pathlib import Path

    import dlcourse_grading

    package = Path(dlcourse_grading.__file__).parent
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {name: {m for m in _imports_of(path) if m in modules and m != name} for name, path in modules.items()}

    def cycle_from(start, node, seen):
        for nxt in graph[node]:
            if nxt == start:
                return seen + [nxt]
            if nxt not in seen:
                found = cycle_from(start, nxt, seen + [nxt])
                if found:
                    return found
        return None

    cycles = [c for c in (cycle_from(m, m, [m]) for m in sorted(graph)) if c]
    assert cycles == []
    assert "dlcourse_grading.guard" in graph["dlcourse_grading.checklib.calls"]


def test_guard_watches_every_keras_namespace_the_chapters_extend():
    replaced = ["keras.regularizers.Regularizer", "keras.initializers.Initializer", "keras.callbacks.Callback",
                "keras.optimizers.schedules.LearningRateSchedule", "keras.losses.Loss", "keras.layers.Layer"]
    code = ("from dlcourse_grading import guard; guard.start(); import importlib\n"
            f"for path in {replaced!r}:\n"
            "    module, name = path.rsplit('.', 1)\n"
            "    setattr(importlib.import_module(module), name, object())\n"
            "print(sorted(guard.changes()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == str(sorted(replaced))


def test_private_gradebook_is_shared_within_one_submission_only(tmp_path):
    """The worker's lighter private gradebook: inside one submission every nbgrader Gradebook
    shares one engine and sees what the previous one committed; the next submission's copy
    holds nothing of it, and once a submission is done its file is an ordinary gradebook."""
    import shutil

    from nbgrader.api import Gradebook

    from dlcourse_grading.engine import fastpaths
    from dlcourse_grading.paths import venv_on_path

    venv_on_path()  # nbgrader asks alembic for the schema version of a new gradebook
    fastpaths.install()
    template = tmp_path / "template.db"
    Gradebook(f"sqlite:///{template}", "course").close()
    for number, student in enumerate(("ann", "bob")):
        path = tmp_path / f"submission-{number}.db"
        shutil.copyfile(template, path)
        url = f"sqlite:///{path}"
        with fastpaths.private_gradebook(url) as engine:
            with Gradebook(url, "course") as gb:
                assert gb.engine is engine
                gb.add_student(student)
            with Gradebook(url, "course") as gb:
                assert [s.id for s in gb.students] == [student]
        assert url not in fastpaths._PRIVATE
        with Gradebook(url, "course") as gb:
            assert gb.engine is not engine and [s.id for s in gb.students] == [student]


# nbgrader's add_submission builds its rows under autoflush (the worker ignores this warning too)
@pytest.mark.filterwarnings("ignore:.*not in session")
def test_private_gradebook_looks_up_cells_once_with_nbgraders_own_answers(tmp_path):
    """In a private gradebook, the per-cell lookups of nbgrader's preprocessors load each kind of
    row once; every answer is the row nbgrader's own method finds, and a name that is not there
    raises nbgrader's own MissingEntry."""
    import shutil

    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy import event

    from dlcourse.chapters import COURSE_ID
    from dlcourse_grading.engine import fastpaths
    from dlcourse_grading.grading import prepare_course

    ch = chapter(1)
    prepare_course(tmp_path, [ch])
    fastpaths.install()
    path = tmp_path / "private.db"
    shutil.copyfile(tmp_path / "gradebook.db", path)
    url = f"sqlite:///{path}"
    with fastpaths.private_gradebook(url) as engine:
        with Gradebook(url, COURSE_ID) as gb:
            gb.add_student("ann")
            gb.add_submission(ch.id, "ann")
            gb.db.commit()
        with Gradebook(url, COURSE_ID) as gb:
            nb = gb.find_notebook(ch.id, ch.id)
            lookups = [("find_source_cell", c.name, (ch.id, ch.id)) for c in nb.source_cells]
            lookups += [("find_graded_cell", c.name, (ch.id, ch.id)) for c in nb.grade_cells]
            lookups += [("find_grade", c.name, (ch.id, ch.id, "ann")) for c in nb.grade_cells]
            lookups += [("find_comment", c.name, (ch.id, ch.id, "ann")) for c in nb.solution_cells]
            assert len(lookups) > 40
        queries = []
        event.listen(engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
        with Gradebook(url, COURSE_ID) as gb:
            queries.clear()  # opening it asked for the course
            found = [getattr(gb, kind)(name, *where) for kind, name, where in lookups]
        assert len(queries) == 4, queries  # one a kind of row
        with Gradebook(url, COURSE_ID) as gb:
            for (kind, name, where), row in zip(lookups, found):
                own = getattr(type(gb), kind).__wrapped__(gb, name, *where)
                assert (type(own), own.id) == (type(row), row.id), (kind, name)
            for kind, _name, where in {(k, None, w) for k, _n, w in lookups}:
                with pytest.raises(MissingEntry):
                    getattr(gb, kind)("no_such_cell", *where)


def test_cached_highlighting_is_nbconverts_own():
    """Feedback highlighting, cached per worker, gives nbconvert's own HTML; metadata other than
    magics_language (execution timestamps differ in every run) does not change it."""
    from markupsafe import escape
    from nbconvert.filters.highlight import Highlight2HTML, _pygments_highlight
    from pygments.formatters import HtmlFormatter

    from dlcourse_grading.engine import fastpaths

    fastpaths.install()
    source = "def f(x):\n    return x + 1  # a comment\n"
    plain = _pygments_highlight(source, HtmlFormatter(cssclass=escape(" highlight hl-ipython3")), "ipython3")
    highlight = Highlight2HTML(pygments_lexer="ipython3")
    assert highlight(source, metadata={"execution": {"a": 1}}) == plain
    assert highlight(source, metadata={"execution": {"b": 2}}) == plain
    bash = _pygments_highlight(source, HtmlFormatter(cssclass=escape(" highlight hl-ipython3")), "bash")
    assert highlight(source, metadata={"magics_language": "bash"}) == bash != plain


def test_cached_markdown_is_nbconverts_own():
    """Markdown cells, rendered once per worker, give nbconvert's own HTML for the cell's own
    attachments and the exporter's own options."""
    from nbconvert import HTMLExporter

    from dlcourse_grading.engine import fastpaths

    fastpaths.install()
    original = fastpaths._MARKDOWN.markdown2html
    source = "## Softmax\n\nWe compute $e^{z_i}$ & *normalize*.\n\n![plot](attachment:p.png)"
    pages = []
    for exporter, png in ((HTMLExporter(), "AAAA"), (HTMLExporter(), "BBBB"),
                          (HTMLExporter(anchor_link_text="#"), "AAAA"), (HTMLExporter(), "AAAA")):
        context = {"cell": {"attachments": {"p.png": {"image/png": png}}}, "resources": {}}
        pages.append(exporter.markdown2html(context, source))
        assert pages[-1] == original(exporter, context, source)
    assert len(set(pages[:3])) == 3 and pages[3] == pages[0]


def test_cell_metadata_validation_gives_nbgraders_answers():
    """nbgrader's metadata check, with each valid instance validated once per worker, accepts what
    it accepts and raises jsonschema's own error for the same instance, also for an instance
    that was valid before and changed since (a student's edited metadata), every time."""
    import copy

    import jsonschema
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError, common

    from dlcourse_grading.engine import fastpaths

    fastpaths.install()
    validator = MetadataValidator()
    meta = nbformat.from_dict({"grade": True, "grade_id": "test_relu", "locked": True, "points": 2,
                               "schema_version": 3, "solution": False, "task": False})
    cell = nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": meta})
    for _ in range(2):
        validator.validate_cell(cell)  # valid: no error, also from the cache
    checked = len(common.jsonschema._validators)
    MetadataValidator().validate_cell(cell)  # another copy of the same schema: not checked again
    assert len(common.jsonschema._validators) == checked
    for change in ({"points": "two"}, {"grade": 1}, {"points": -1.0}, {"extra": None}):
        edited = copy.deepcopy(cell)
        edited.metadata.nbgrader.update(change)
        with pytest.raises(jsonschema.ValidationError) as plain:
            jsonschema.validate(edited.metadata.nbgrader, validator.schema)
        for _ in range(2):
            with pytest.raises(ValidationError) as fast:
                validator.validate_cell(edited)
            assert fast.value.message == plain.value.message
    validator.validate_cell(cell)  # the valid one still is


def test_feedback_pages_are_the_documents_nbconvert_writes(monkeypatch):
    """The worker skips nbconvert's accessibility pass on a feedback page it cannot change (the
    classic template nbgrader's feedback extends, no image): the page is then the template's own,
    and BeautifulSoup reads from it exactly the document nbconvert writes. A page with an image
    without alt text, or a lab page, still gets nbconvert's own pass, byte for byte."""
    import base64

    import bs4
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.exporters import html as html_exporter

    from dlcourse_grading.engine import fastpaths

    fastpaths.install()
    text = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title\n\nSome *text* & a [link](https://keras.io) <b>bold</b>"),
        nbformat.v4.new_code_cell("print('<div>')\n1 < 2", execution_count=1, outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="<div>\n"),
            nbformat.v4.new_output("execute_result", data={"text/plain": "True", "text/html": "<p class='x'>ok"},
                                   execution_count=1)]),
        nbformat.v4.new_code_cell("raise ValueError('a & b')", execution_count=2, outputs=[
            nbformat.v4.new_output("error", ename="ValueError", evalue="a & b", traceback=["ValueError: a & b"])]),
    ])
    image = nbformat.from_dict(text)
    png = base64.b64encode(bytes.fromhex("89504e470d0a1a0a")).decode()
    image.cells[1].outputs.append(nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "fig"}))

    def pages(template, nb):
        fast = HTMLExporter(template_name=template).from_notebook_node(nb)[0]
        monkeypatch.setattr(html_exporter, "BeautifulSoup", bs4.BeautifulSoup)
        plain = HTMLExporter(template_name=template).from_notebook_node(nb)[0]
        monkeypatch.setattr(html_exporter, "BeautifulSoup", fastpaths._LazySoup)
        return fast, plain

    fast, plain = pages("classic", text)
    assert fast != plain, "the pass was not skipped"
    assert "<div class" in fast and "&lt;div&gt;" in fast
    assert str(bs4.BeautifulSoup(fast, features="html.parser")) == plain
    for template, nb in (("classic", image), ("lab", text)):
        fast, plain = pages(template, nb)
        assert fast == plain
    assert 'alt="No description has been provided for this image"' in pages("classic", image)[0]
    assert 'tabindex="0"' in pages("lab", text)[0]


def test_nbformat_loads_without_building_iri_grammars():
    """Every nbgrader command and grading worker imports nbformat, and with it jsonschema, which
    would build three Earley parsers from rfc3987-syntax's grammar (2.2 s of CPU a process): the
    Makefile removes that package, and the notebook schema still validates."""
    code = ("import sys, nbformat\n"
            "nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')]))\n"
            "print(sorted(m for m in sys.modules if m.startswith(('rfc3987', 'lark'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


#: In a grading kernel: whether ipykernel's and IPython's lists of the loaded modules (taken down
#: once by the fork server, zygote.initialize_kernel) hold what they would have, and `sys` is
#: itself again in the modules that made them.
MODULES_LISTED = """
def modules_listed():
    import sys, ipykernel.ipkernel, IPython.core.shellapp
    shell = get_ipython()
    return ("tensorflow" in shell._sys_modules_keys and ipykernel.ipkernel.__file__ in shell.kernel._kernel_modules
            and ipykernel.ipkernel.sys is sys and IPython.core.shellapp.sys is sys)
"""


def test_the_next_kernel_starts_ahead_clean_and_is_adopted_only_by_a_launch_alike(tmp_path, monkeypatch):
    """After a submission, the worker's next kernel is already forked and initialized. While it
    waits it is the grader's (its uid, an empty working directory of the grader's): nothing of the
    next student's reaches it before the kernel before it is gone. The next submission adopts it
    (the same pid runs its cells) with its own files and uid, Python's temporary directory its own
    folder (not the fork server's /tmp), ipykernel's and IPython's lists of the loaded modules
    complete (taken down once by the fork server), and the same scores as a fresh kernel;
    a launch that differs (here one environment variable) discards it and forks a fresh one. No
    kernel holds the fork server's listening socket (it could answer the grader's requests)."""
    import json
    import os

    import psutil

    from dlcourse.chapters import COURSE_ID
    from dlcourse_grading import example_class
    from dlcourse_grading.engine import sandbox
    from dlcourse_grading.engine.provisioner import spare_pids
    from dlcourse_grading.engine.recorder import Recorder
    from dlcourse_grading.engine.worker import Worker
    from dlcourse_grading.engine.zygote import ENV_SOCKET
    from dlcourse_grading.grading import prepare_course
    from dlcourse_grading.settings import GradingSettings

    ch = chapter(1)
    prepare_course(tmp_path, [ch])
    folder = tmp_path / "submitted" / "ada" / ch.id
    folder.mkdir(parents=True)
    nb = example_class.submissions(ch)["ada_reference"]
    nb.cells.append(nbformat.v4.new_code_cell(MODULES_LISTED + "import json, os\nprint(json.dumps({'pid': os.getpid(), 'uid': os.getuid(), 'files': sorted(os.listdir('.')), "
        "'tmp': os.environ['TMPDIR'] == os.getcwd() == __import__('tempfile').gettempdir(), "
        "'mark': os.environ.get('COURSE_TEST_MARK'), 'modules': modules_listed()}))"))
    nbformat.write(nb, str(folder / f"{ch.id}.ipynb"))
    (folder / "data.csv").write_text("x\n1\n")
    settings = GradingSettings.load(tmp_path, workers=1)
    with Recorder(settings, COURSE_ID) as recorder:
        sub = recorder.submission(ch.id, "ada")
    student_uid = sandbox.STUDENT_UID_BASE + 1 if sandbox.is_root() and settings.limits.drop_privileges else os.getuid()

    def report(outcome) -> dict:
        graded = nbformat.reads(outcome.autograded[f"{ch.id}.ipynb"].decode(), as_version=4)
        return json.loads(graded.cells[-1].outputs[0]["text"])

    worker = Worker(settings, 1, str(tmp_path / "worker"))
    try:
        fresh = worker.grade(sub)
        (spare,) = spare_pids()
        waiting = psutil.Process(spare)
        assert waiting.uids().real == os.geteuid() and os.listdir(waiting.cwd()) == []
        assert os.stat(waiting.cwd()).st_uid == os.geteuid()
        # it holds the connection it was forked through, never the fork server's listening socket
        assert worker._socket not in _listening_unix_sockets(spare)
        assert worker._socket in _listening_unix_sockets(worker.zygote.pid)
        adopted = worker.grade(sub)
        assert report(adopted) == {"pid": spare, "uid": student_uid, "files": ["data.csv"], "tmp": True, "mark": None,
                                   "modules": True}
        assert report(fresh)["pid"] != spare
        assert not fresh.error and adopted.notebooks == fresh.notebooks
        assert sum(g or 0 for g in fresh.notebooks[ch.id].grades.values()) > 0

        (unlike,) = spare_pids()
        monkeypatch.setenv("COURSE_TEST_MARK", "1")
        changed = report(worker.grade(sub))
        assert changed["mark"] == "1" and changed["pid"] != unlike and not psutil.pid_exists(unlike)
        (last,) = spare_pids()
    finally:
        worker.close()
    assert not psutil.pid_exists(last)
    assert ENV_SOCKET not in os.environ  # later kernels of this process start as if no worker had been


def _listening_unix_sockets(pid: int) -> set[str]:
    """Paths of the listening Unix sockets a process holds (/proc/net/unix: flag __SO_ACCEPTCON)."""
    import os

    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    paths = set()
    with open("/proc/net/unix") as fh:
        for line in list(fh)[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[6] in inodes and int(fields[3], 16) & 0x10000:
                paths.add(fields[7])
    return paths


def test_a_kernels_memory_watch_counts_processes_started_and_ended_between_its_looks(monkeypatch):
    """The watch's tree is scanned again only when a process has started or ended (reading every
    process ten times a second cost ~1.3 ms a look): a grandchild started after the first look,
    and holding 300 MiB, is counted at the next one; once it has ended it no longer is; with
    nothing started or ended, no scan."""
    import time

    import psutil

    from dlcourse_grading.engine.provisioner import ProcessTree

    scans = []
    children = psutil.Process.children
    monkeypatch.setattr(psutil.Process, "children", lambda self, **kw: scans.append(1) or children(self, **kw))
    grandchild = ("import sys, time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]);"
                  "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()")
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys\nsys.stdin.readline()\n"
         f"p = subprocess.Popen([sys.executable, '-c', {grandchild!r}], stdin=subprocess.PIPE, stdout=sys.stdout)\n"
         "sys.stdin.readline()\np.stdin.close(); p.wait()\nsys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        tree = ProcessTree(parent.pid, rescan_s=3600)
        alone, first = tree.rss(), tree._listing
        tree.rss()
        assert len(scans) == (1 if tree._listing == first else 2)  # scanned again only if the listing changed
        parent.stdin.write("start\n")
        parent.stdin.flush()
        assert parent.stdout.readline() == "ready\n"
        assert tree.rss() > alone + 250 * 2**20
        parent.stdin.write("end\n")
        parent.stdin.flush()
        deadline = time.monotonic() + 10
        while len(psutil.Process(parent.pid).children()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree.rss() < alone + 50 * 2**20
    finally:
        parent.kill()
        parent.wait()


SWEEP_SCRIPT = r'''
import ctypes, json, os, subprocess, sys, tempfile, time
import psutil
from dlcourse_grading.engine import provisioner
from dlcourse_grading.engine.worker import kill_strays
from dlcourse_grading.engine.zygote import ProcessEnd

ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # a child subreaper, as a grading worker is
pids = os.path.join(tempfile.mkdtemp(), "pids")
# The kernel, a child of the fork server's, starts a process in a session of its own and ends a
# second after it was shut down (a kernel's memory being torn down)
kernel = (f"import os, subprocess, time\nleft = subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
          f"open({pids!r}, 'w').write(f'{{os.getpid()}} {{left.pid}}')\ntime.sleep(1.5)")
server = subprocess.Popen([sys.executable, "-c", "import signal, subprocess, sys, time\n"
                           "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
                           f"subprocess.Popen([sys.executable, '-c', {kernel!r}])\ntime.sleep(60)"])
while not (os.path.exists(pids) and open(pids).read()):
    time.sleep(0.05)
time.sleep(0.5)
kernel_pid, left_pid = map(int, open(pids).read().split())
provisioner._ENDING.append(ProcessEnd(kernel_pid))  # what ForkProvisioner.cleanup does
started = time.monotonic()
kill_strays(server)
waited = time.monotonic() - started
deadline = time.monotonic() + 5
while psutil.pid_exists(left_pid) and psutil.Process(left_pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
    time.sleep(0.05)
left = psutil.pid_exists(left_pid) and psutil.Process(left_pid).status() != psutil.STATUS_ZOMBIE
print(json.dumps({"waited": waited, "left": left, "server": server.poll() is None}))
server.kill()
if left:
    os.kill(left_pid, 9)
'''


def test_the_sweep_for_strays_kills_what_a_shut_down_kernel_left_once_it_has_ended():
    """A kernel is the fork server's child: what it started in a session of its own becomes the
    worker's (a child subreaper) only when the kernel has ended, which after a kill takes a while
    (its memory torn down). The sweep waits for the kernels shut down to end, then kills what they
    left; the fork server stays. Run in a process of its own: the sweep kills every child of the
    process it runs in."""
    import json

    out = subprocess.run([sys.executable, "-c", SWEEP_SCRIPT], capture_output=True, text=True, timeout=60)
    report = json.loads(out.stdout)
    assert report["waited"] >= 0.5 and not report["left"] and report["server"], report
