"""nbgrader preprocessors that make class grading survive any submission.

grading_config.py puts them into nbgrader's pipelines, so `nbgrader autograde` and
`nbgrader generate_feedback` use them whether run by hand or by `course grade-class`:

- RepairStructure (first sanitising step): one copy of every nbgrader cell, in the source's
  order and cell type; deleted locked and test cells put back from source/; the student's own
  extra cells kept where they were.
- RobustExecute (replaces nbgrader's Execute): a whole-notebook time limit on top of the per-cell
  one; a kernel that dies or cannot be interrupted no longer loses the submission: the cells
  that ran keep their outputs, every cell that could not run gets an error output (so it scores
  zero, never full marks for lack of output), and grading goes on.
- DropTestResults: a test cell's last expression is never read as partial credit.
- HideHiddenTests (feedback): hidden test blocks and their tracebacks are not shown.
"""
from __future__ import annotations

import os
from queue import Empty
from time import monotonic, thread_time

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from jupyter_core.utils import ensure_async, run_sync
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Integer

from dlcourse_grading.guard import AUDIT_KEY
from dlcourse_grading.notebook import HIDDEN_BLOCK, nbgrader_meta

REPAIRS_KEY = "course_repairs"
AUDIT_CODE = "__import__('dlcourse_grading.guard', fromlist=['audit']).audit()"


def error_output(ename: str, evalue: str) -> NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _note(nb: NotebookNode, text: str) -> None:
    nb.metadata.setdefault(REPAIRS_KEY, []).append(text)


class RepairStructure(NbGraderPreprocessor):
    """Rebuild the submission's cell list around the source notebook's nbgrader cells."""

    def preprocess(self, nb, resources):
        source_path = os.path.join(
            self._source_dir(resources['nbgrader']['assignment']), f"{resources['nbgrader']['notebook']}.ipynb")
        source = nbformat.read(source_path, as_version=4)
        wanted = [c for c in source.cells if nbgrader_meta(c).get("grade_id")]
        by_id = {nbgrader_meta(c)["grade_id"]: c for c in wanted}

        anchors: dict[str, NotebookNode] = {}
        extras: dict[str | None, list[NotebookNode]] = {}
        last: str | None = None
        for cell in nb.cells:
            gid = nbgrader_meta(cell).get("grade_id")
            if gid in by_id:
                if gid in anchors:
                    _note(nb, f"duplicate of cell {gid} removed")
                    continue
                if cell.cell_type != by_id[gid].cell_type:
                    _note(nb, f"cell {gid} changed type; set back to {by_id[gid].cell_type}")
                    cell = self._retyped(cell, by_id[gid])
                anchors[gid] = cell
                last = gid
            else:
                if gid is not None:  # nbgrader metadata that does not belong to this assignment
                    cell.metadata.pop("nbgrader", None)
                extras.setdefault(last, []).append(cell)

        cells = list(extras.get(None, []))
        for src in wanted:
            gid = nbgrader_meta(src)["grade_id"]
            if gid in anchors:
                cells.append(anchors[gid])
            else:
                _note(nb, f"cell {gid} was missing; restored")
                cells.append(self._restored(src))
            cells.extend(extras.get(gid, []))
        if self._reordered(nb, anchors, [nbgrader_meta(c)["grade_id"] for c in wanted]):
            _note(nb, "cells put back in the assignment's order")
        nb.cells = cells
        return nb, resources

    def _source_dir(self, assignment: str) -> str:
        converter = self.parent.parent  # preprocessor -> exporter -> nbgrader converter
        coursedir = converter.coursedir
        return coursedir.format_path(coursedir.source_directory, ".", assignment)

    @staticmethod
    def _reordered(nb, anchors, source_order) -> bool:
        """Whether the submission's nbgrader cells (first copies) come in another order than the source's."""
        order = [nbgrader_meta(c).get("grade_id") for c in nb.cells if nbgrader_meta(c).get("grade_id") in anchors]
        seen = [g for i, g in enumerate(order) if g not in order[:i]]
        return seen != [g for g in source_order if g in anchors]

    @staticmethod
    def _retyped(cell, src) -> NotebookNode:
        text = cell.source
        if src.cell_type == "code":
            new = nbformat.v4.new_code_cell(text, metadata=cell.metadata)
        else:
            new = nbformat.v4.new_markdown_cell(text, metadata=cell.metadata)
        if "id" in cell:
            new["id"] = cell["id"]
        return new

    @staticmethod
    def _restored(src) -> NotebookNode:
        cell = nbformat.from_dict(src)
        if utils.is_solution(cell) and cell.cell_type == "code":
            # The solution is not the student's: a missing answer cell stays unanswered.
            cell.source = "raise NotImplementedError('this answer cell was missing from the submission')"
        elif utils.is_solution(cell):
            cell.source = "(missing from the submission)"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        return cell


class RobustExecute(Execute):
    """nbgrader's Execute with a notebook time limit and no lost submissions."""

    notebook_timeout = Integer(600, help="Seconds for the whole notebook").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._cell_timeout = self.timeout
        self._deadline = monotonic() + self.notebook_timeout
        self.cell_seconds = 0.0  # the kernel's own work: what the cells took, start-up excluded
        self.cell_cpu = 0.0  # the grading thread's CPU meanwhile (reading the kernel's messages)
        #: Where the rest of the execute step's time went (seconds), for the benchmarks.
        self.spans = {"kernel start": 0.0, "kernel ready": 0.0, "tamper audits": 0.0, "kernel shutdown": 0.0}
        self._stopped: str | None = None
        self._tampered: str | None = None
        try:
            return super().preprocess(nb, resources, km)
        except (DeadKernelError, CellTimeoutError, RuntimeError) as exc:
            # The kernel could not even start or answer: every code cell gets the reason.
            self._stopped = self._stopped or f"the kernel failed ({type(exc).__name__})"
            for cell in nb.cells:
                if cell.cell_type == "code" and not cell.get("outputs"):
                    cell.outputs = [error_output("NotRun", f"not run: {self._stopped}")]
            return nb, resources or {}
        finally:
            self.timeout = self._cell_timeout

    def _timed(self, span: str, call, *args, **kwargs):
        started = monotonic()
        try:
            return call(*args, **kwargs)
        finally:
            self.spans[span] += monotonic() - started

    def start_new_kernel(self, **kwargs):
        return self._timed("kernel start", super().start_new_kernel, **kwargs)

    def start_new_kernel_client(self):
        return self._timed("kernel ready", super().start_new_kernel_client)

    def _cleanup_kernel(self):
        return self._timed("kernel shutdown", super()._cleanup_kernel)

    def preprocess_cell(self, cell, resources, index):
        test = utils.is_grade(cell) and not utils.is_solution(cell) and cell.cell_type == "code"
        self._audit_answer = None
        if test and not self._tampered and hasattr(self.kc, "next_user_expressions"):
            self.kc.next_user_expressions = {AUDIT_KEY: AUDIT_CODE}  # answered in the cell's own reply
        try:
            cell, resources = self._preprocess_cell(cell, resources, index)
        finally:
            if hasattr(self.kc, "next_user_expressions"):
                self.kc.next_user_expressions = None
        if test:
            self._timed("tamper audits", self._audit, cell, index)
        return cell, resources

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        self._audit_answer = kwargs["execute_reply"]["content"].get("user_expressions", {}).get(AUDIT_KEY)

    def _audit(self, cell, index) -> None:
        """After each test cell, ask the kernel whether anything the checks rely on was replaced.
        A check replaced by student code is never called, so it cannot catch itself; this can.
        The first test cell after which tampering shows, and every later one, scores zero.

        The question rides on the test cell's own execute request as a user expression, which
        the kernel evaluates once the cell has run (a separate request cost ~9 ms a test cell);
        a grading kernel answers it after a failed cell too (guard.answer_audits_after_errors).
        From a kernel that did not (not yet guarded, or the guard's answer replaced) or from a
        client that cannot add one, it is asked in a request of its own (:meth:`_asked_audit`)."""
        answer = self._audit_answer
        if answer is None and not self._tampered and not self._stopped:
            try:
                answer = run_sync(self._asked_audit)()
            except Exception:  # noqa: BLE001 - a kernel that cannot answer loses no points here
                answer = None
        if answer is not None and not self._tampered and not self._stopped:
            if answer.get("status") == "error" and answer.get("ename") == "TamperingError":
                self._tampered = answer.get("evalue", "")
        if self._tampered and not any(o.get("ename") == "TamperingError" for o in cell.get("outputs", [])):
            cell.outputs = list(cell.get("outputs", [])) + [error_output("TamperingError", self._tampered)]

    async def _asked_audit(self, timeout: float = 30.0) -> dict | None:
        """The audit's answer to a silent request of its own: no code, the audit as its user
        expression, only the reply awaited (its two status messages on IOPub answer nobody that
        nbclient waits for, and it skips them). None when the kernel does not answer in time, has
        died (looked at every second, as nbclient does for a cell) or aborted the request
        (ipykernel aborts what is queued after a failed cell)."""
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={AUDIT_KEY: AUDIT_CODE})
        deadline = monotonic() + timeout
        while (remaining := deadline - monotonic()) > 0:
            try:
                msg = await self.kc.get_shell_msg(timeout=min(remaining, 1.0))
            except Empty:
                if not await ensure_async(self.km.is_alive()):
                    return None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"].get("user_expressions", {}).get(AUDIT_KEY)
        return None

    def _preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stopped:
            cell.outputs = [error_output("NotRun", f"not run: {self._stopped}")]
            return cell, resources
        remaining = self._deadline - monotonic()
        if remaining <= 1:
            self._stopped = f"the notebook's time limit ({self.notebook_timeout} s) was reached"
            cell.outputs = [error_output("NotebookTimeout", self._stopped)]
            return cell, resources
        self.timeout = int(min(self._cell_timeout, remaining))
        started, cpu = monotonic(), thread_time()
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            reason = getattr(getattr(self.km, "provisioner", None), "killed_reason", None)
            self._stopped = "the kernel died in an earlier cell"
            cell.outputs = list(cell.get("outputs", [])) + [error_output(
                "DeadKernelError", f"the kernel died while running this cell: {reason or 'exit or crash'}")]
        except CellTimeoutError:
            # The interrupt did not stop the cell: kill the kernel, keep what has been graded.
            self._stopped = "an earlier cell ran past its time limit and could not be interrupted"
            run_sync(self.km.shutdown_kernel)(now=True)
            cell.outputs = list(cell.get("outputs", [])) + [error_output(
                "CellTimeoutError", f"this cell ran longer than {self.timeout} s and was stopped")]
        finally:
            self.cell_seconds += monotonic() - started
            self.cell_cpu += thread_time() - cpu
        return cell, resources


class DropTestResults(NbGraderPreprocessor):
    """nbgrader gives partial credit when a test cell's result is a number; this course never
    does, so a test cell's execute_result is dropped before grades are saved."""

    def preprocess_cell(self, cell, resources, index):
        if utils.is_grade(cell) and not utils.is_solution(cell) and cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "execute_result"]
        return cell, resources


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback shows results and messages, not the hidden tests' code (nbgrader#917, #1363)."""

    def preprocess_cell(self, cell, resources, index):
        if utils.is_grade(cell) and cell.cell_type == "code" and HIDDEN_BLOCK.search(cell.source):
            cell.source = HIDDEN_BLOCK.sub("# (hidden tests ran here; their code is not shown)\n", cell.source)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
