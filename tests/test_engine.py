"""Pieces of the grading engine that the class-level tests rely on."""
from __future__ import annotations

import subprocess
import sys

import nbformat

from dlcourse.chapters import chapter
from dlcourse_grading.engine.guard import TamperingError
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
    code = ("from dlcourse_grading.engine import guard; guard.start(); import numpy as np; "
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
