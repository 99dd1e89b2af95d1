"""Each of the course's nbgrader preprocessors on its own small fixture notebooks (as nbgrader
tests its own): RepairStructure, RobustExecute, DropTestResults, HideHiddenTests."""
from __future__ import annotations

import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from dlcourse_grading.engine.preprocessors import (REPAIRS_KEY, DropTestResults, HideHiddenTests,
                                                   RepairStructure, RobustExecute)
from dlcourse_grading.notebook import nbgrader_meta

ASSIGNMENT, NOTEBOOK = "ps1", "ps1"


def _cell(kind, grade_id, source, **meta):
    cell = (new_code_cell if kind == "code" else new_markdown_cell)(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, **meta}
    return cell


def _source():
    """Intro (locked), an answer cell, its test cell (1 point), a written answer."""
    return new_notebook(cells=[
        _cell("markdown", "intro", "# Problem set", locked=True),
        _cell("code", "answer", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
              solution=True, grade=False),
        _cell("code", "test_answer", "assert f() == 1", grade=True, points=1, locked=True),
        _cell("markdown", "written", "Explain.", solution=True, grade=True, points=2),
    ])


@pytest.fixture
def repair(tmp_path):
    """RepairStructure inside a real Autograde converter whose course has the source above."""
    folder = tmp_path / "source" / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(_source(), str(folder / f"{NOTEBOOK}.ipynb"))
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    converter = Autograde(coursedir=CourseDirectory(config=config), config=config)
    converter.exporter = converter.exporter_class(parent=converter, config=config)  # as start() does
    pp = RepairStructure(parent=converter.exporter)

    def run(cells):
        nb, _ = pp.preprocess(new_notebook(cells=cells), {"nbgrader": {"assignment": ASSIGNMENT, "notebook": NOTEBOOK}})
        return nb

    return run


def _ids(nb):
    return [nbgrader_meta(c).get("grade_id") for c in nb.cells]


def _submitted():
    nb = _source()
    nb.cells[1].source = "def f():\n    return 1  # mine"
    return nb.cells


def test_repair_restores_a_deleted_test_cell_from_the_source(repair):
    cells = [c for c in _submitted() if nbgrader_meta(c)["grade_id"] != "test_answer"]
    nb = repair(cells)
    assert _ids(nb) == ["intro", "answer", "test_answer", "written"]
    assert nb.cells[2].source == "assert f() == 1"
    assert nb.metadata[REPAIRS_KEY] == ["cell test_answer was missing; restored"]


def test_repair_never_restores_the_reference_solution_into_a_deleted_answer_cell(repair):
    nb = repair([c for c in _submitted() if nbgrader_meta(c)["grade_id"] != "answer"])
    assert "return 1" not in nb.cells[1].source and "NotImplementedError" in nb.cells[1].source


def test_repair_keeps_one_copy_of_a_duplicated_cell_and_the_students_extra_cells(repair):
    cells = _submitted()
    extra = new_code_cell("print('my scratch work')")
    cells = cells[:2] + [extra, cells[2], nbformat.from_dict(cells[2])] + cells[3:]
    nb = repair(cells)
    assert _ids(nb) == ["intro", "answer", None, "test_answer", "written"]
    assert nb.cells[2].source == extra.source
    assert nb.metadata[REPAIRS_KEY] == ["duplicate of cell test_answer removed"]


def test_repair_puts_reordered_cells_back_and_restores_a_changed_cell_type(repair):
    cells = _submitted()
    retyped = new_markdown_cell(cells[2].source, metadata=cells[2].metadata)
    nb = repair([cells[3], retyped, cells[0], cells[1]])
    assert _ids(nb) == ["intro", "answer", "test_answer", "written"]
    assert nb.cells[2].cell_type == "code" and nb.cells[1].source.endswith("# mine")
    assert set(nb.metadata[REPAIRS_KEY]) == {"cell test_answer changed type; set back to code",
                                             "cells put back in the assignment's order"}


def test_repair_leaves_a_well_formed_submission_as_it_is(repair):
    nb = repair(_submitted())
    assert _ids(nb) == ["intro", "answer", "test_answer", "written"] and REPAIRS_KEY not in nb.metadata


def test_drop_test_results_removes_a_test_cells_value_but_not_an_answers():
    test = _cell("code", "t", "1.0", grade=True, points=1)
    answer = _cell("code", "a", "1.0", grade=True, solution=True, points=1)
    for cell in (test, answer):
        cell.outputs = [new_output("execute_result", data={"text/plain": "1.0"}, execution_count=1),
                        new_output("stream", name="stdout", text="hi\n")]
    for index, cell in enumerate((test, answer)):
        DropTestResults().preprocess_cell(cell, {}, index)
    assert [o.output_type for o in test.outputs] == ["stream"]
    assert [o.output_type for o in answer.outputs] == ["execute_result", "stream"]


def test_hide_hidden_tests_keeps_the_visible_part_and_the_message_only():
    cell = _cell("code", "t", "assert f() == 1\n### BEGIN HIDDEN TESTS\nsecret_check()\n### END HIDDEN TESTS\n",
                 grade=True, points=1)
    cell.outputs = [new_output("error", ename="AssertionError", evalue="f: wrong", traceback=["secret_check()"])]
    HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert cell.source.startswith("assert f() == 1\n") and "secret_check" not in cell.source
    assert cell.outputs[0].traceback == ["AssertionError: f: wrong"]


def _execute(cells, **traits):
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    pp = RobustExecute(kernel_name="python3", **traits)
    nb, _ = pp.preprocess(nb, {"metadata": {"path": "."}})
    return nb


def _errors(cell):
    return [o.ename for o in cell.outputs if o.output_type == "error"]


def test_robust_execute_keeps_what_ran_before_the_kernel_died_and_marks_the_rest():
    nb = _execute([_cell("code", "t1", "print('ok')", grade=True, points=1),
                   new_code_cell("import os\nos._exit(3)"),
                   _cell("code", "t2", "print('never')", grade=True, points=1)], timeout=30)
    assert nb.cells[0].outputs[0].text == "ok\n"
    assert _errors(nb.cells[1]) == ["DeadKernelError"]
    assert _errors(nb.cells[2]) == ["NotRun"]


def test_robust_execute_stops_at_the_notebook_time_limit():
    # a loaded machine can take a few seconds to start the kernel: the first cell has 4 s of slack
    nb = _execute([new_code_cell("import time\ntime.sleep(1.0)"), new_code_cell("time.sleep(10)"),
                   _cell("code", "t", "print('late')", grade=True, points=1)], timeout=30, notebook_timeout=5)
    assert _errors(nb.cells[0]) == []
    # The deadline counts from the kernel's start: the second sleep is cut, or never starts.
    cut = _errors(nb.cells[1])  # interrupted, timed out, or both (the interrupt's output, then the timeout)
    assert cut and set(cut) <= {"KeyboardInterrupt", "CellTimeoutError", "NotebookTimeout"}, cut
    assert _errors(nb.cells[2]) in (["NotebookTimeout"], ["NotRun"])
    assert not any(o.get("text") == "late\n" for o in nb.cells[2].outputs)


class _CountingProbes(RobustExecute):
    """RobustExecute that counts the audits it asks in a request of their own."""

    def preprocess(self, nb, resources=None, km=None):
        self.probes = 0
        return super().preprocess(nb, resources, km)

    async def _asked_audit(self, *args, **kwargs):
        self.probes += 1
        return await super()._asked_audit(*args, **kwargs)


QUICK_START = "dlcourse_grading.engine.client.QuickStartClient"


@pytest.mark.parametrize("client, after_errors, probes",
                         [(QUICK_START, True, {True: 0, False: 0}),
                          (QUICK_START, False, {True: 0, False: 1}),
                          ("jupyter_client.asynchronous.AsyncKernelClient", True, {True: 2, False: 2})],
                         ids=["grade-class", "grade-class, protocol's kernel", "nbgrader"])
@pytest.mark.parametrize("passes", [True, False], ids=["passing", "failing"])
def test_robust_execute_audits_after_every_test_cell(client, after_errors, probes, passes):
    """grade-class's client carries the tamper audit on a test cell's own request, and a grading
    kernel answers it even after a failed cell; plain nbgrader's client asks in a request of its
    own, as grade-class does after a failed cell from a kernel that keeps the protocol's rule
    (user expressions only after success): every way, the first test cell after the tampering
    and every later one get TamperingError, and none before it."""
    guard = "guard.answer_audits_after_errors()\n" if after_errors else ""
    cells = [new_code_cell(f"from dlcourse_grading import guard\n{guard}guard.snapshot()"),
             _cell("code", "t1", "assert True", grade=True, points=1),
             new_code_cell("import builtins\nbuiltins.sorted = lambda *args, **kwargs: []"),
             _cell("code", "t2", "assert True" if passes else "assert False, 'failing'", grade=True, points=1),
             _cell("code", "t3", "assert True", grade=True, points=1)]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    pp = _CountingProbes(kernel_name="python3", timeout=30,
                         config=Config({"AsyncKernelManager": {"client_class": client}}))
    nb, _ = pp.preprocess(nb, {"metadata": {"path": "."}})
    assert _errors(nb.cells[1]) == []
    assert _errors(nb.cells[3]) == ([] if passes else ["AssertionError"]) + ["TamperingError"]
    assert _errors(nb.cells[4]) == ["TamperingError"]
    assert "builtins.sorted" in nb.cells[4].outputs[-1].evalue
    assert pp.probes == probes[passes]


def test_a_kernel_that_dies_answering_an_audit_is_noticed_at_once():
    """The kernel dies while it answers the audit asked after a failed test cell (the student's
    code replaced the audit with an exit): grading notices within about a second, as nbclient
    does for a cell, instead of waiting out the audit's 30 s, and the cells after it are not run."""
    cells = [new_code_cell("import os\nfrom dlcourse_grading import guard\nguard.audit = lambda: os._exit(1)"),
             _cell("code", "t1", "assert False, 'failing'", grade=True, points=1),
             _cell("code", "t2", "assert True", grade=True, points=1)]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    pp = RobustExecute(kernel_name="python3", timeout=60)
    started = time.monotonic()
    nb, _ = pp.preprocess(nb, {"metadata": {"path": "."}})
    # A second to notice the death, one more for the next cell to find the kernel gone; the
    # audit's own limit is 30 s.
    assert time.monotonic() - started < 20
    assert _errors(nb.cells[1]) == ["AssertionError"]
    assert _errors(nb.cells[2]) and _errors(nb.cells[2])[0] in ("DeadKernelError", "NotRun")
