"""The adversarial class: chapter 1's reference submission, attacked one way per student.

Each case names the submission change and what grading must report: the test cells that lose
their points with the status they get. Every other test cell keeps full marks.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from dlcourse.chapters import chapter
from dlcourse_grading.example_class import submissions
from dlcourse_grading.notebook import nbgrader_meta, read_assignment

CH = chapter(1)
TESTS = [t.grade_id for t in read_assignment(CH.source).test_cells]
ALL = "*"  # every test cell of the notebook


def cell(nb, grade_id):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)


def replace(grade_id: str, source: str) -> Callable:
    def edit(nb):
        cell(nb, grade_id).source = source
    return edit


def append(grade_id: str, source: str) -> Callable:
    def edit(nb):
        cell(nb, grade_id).source += "\n" + source
    return edit


def from_test(grade_id: str) -> list[str]:
    return TESTS[TESTS.index(grade_id):]


@dataclass
class Case:
    student: str
    edit: Callable | None = None          # changes the reference notebook in place
    raw: str | None = None                # or: the file's bytes are this text
    lost: dict[str, set[str]] = field(default_factory=dict)  # grade_id -> allowed statuses
    check_processes: bool = False

    def lost_cells(self) -> dict[str, set[str]]:
        if ALL in self.lost:
            return {g: self.lost[ALL] for g in TESTS}
        return self.lost


def _retype(nb):
    for gid, kind in (("test_tanh", "markdown"), ("sigmoid", "markdown")):
        old = cell(nb, gid)
        new = nbformat.v4.new_markdown_cell(old.source, metadata=old.metadata)
        nb.cells[nb.cells.index(old)] = new


def _duplicate(nb):
    for gid in ("sigmoid", "test_sigmoid"):
        c = cell(nb, gid)
        nb.cells.insert(nb.cells.index(c) + 1, copy.deepcopy(c))


def _reorder(nb):
    test = cell(nb, "test_softmax")
    nb.cells.remove(test)
    nb.cells.insert(nb.cells.index(cell(nb, "softmax")), test)


def _wrong_kernel(nb):
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}


WRONG_LOG_SOFTMAX = "def log_softmax(logits, axis=-1):\n    return ops.log(ops.softmax(logits, axis=axis))\n"

CASES = [
    Case("loop_in_solution_cell", replace("collapse_dense_layers", "while True:\n    pass"),
         lost={"test_collapse_dense_layers": {"error"}}),
    Case("loop_in_tested_function", replace("count_parameters", "def count_parameters(sizes):\n    while True:\n        pass"),
         lost={"test_count_parameters": {"timeout"}}),
    Case("sys_exit", replace("mlp_forward", "import sys\nsys.exit(3)"), lost={"test_mlp_forward": {"error"}}),
    Case("os_exit", replace("gradient_sign_agreement", "import os\nos._exit(1)"),
         lost={g: {"crashed"} for g in from_test("test_gradient_sign_agreement")}),
    Case("segfault", replace("count_dead_units", "import ctypes\ndef count_dead_units(layer, x):\n    return ctypes.string_at(0)"),
         lost={g: {"crashed"} for g in from_test("test_count_dead_units")}),
    Case("memory_bomb", replace("softmax", "def softmax(logits, temperature=1.0, axis=-1):\n    hog = bytearray(64 * 2**30)\n    return hog"),
         lost={"test_softmax": {"failed", "error", "crashed"}}),
    Case("memory_bomb_growing", replace("softmax", "import numpy as np\n_hog = []\n"
         "def softmax(logits, temperature=1.0, axis=-1):\n    while True:\n        _hog.append(np.ones(2**24))"),
         lost={g: {"crashed"} for g in from_test("test_softmax")}),
    Case("background_process", append("collapse_dense_layers",
         "import subprocess\n_p = subprocess.Popen(['sleep', '987'], start_new_session=True)"), check_processes=True),
    Case("ten_mb_of_output", append("sigmoid", "print('x' * (10 * 2**20))")),
    Case("stderr_spam", append("tanh", "import sys\nfor _ in range(2000):\n    sys.stderr.write('noise ' * 100 + '\\n')")),
    Case("duplicated_cells", _duplicate),
    Case("reordered_cells", _reorder),
    Case("retyped_cells", _retype),
    Case("invalid_json", raw='{"cells": [ this is not json', lost={ALL: {"missing"}}),
    Case("empty_file", raw="", lost={ALL: {"missing"}}),
    Case("wrong_kernelspec", _wrong_kernel),
    Case("patched_allclose", append("sigmoid", "import numpy as np\nnp.allclose = lambda *a, **k: True"),
         lost={g: {"tampered"} for g in from_test("test_sigmoid")}),
    Case("patched_numpy_testing", append("tanh", "import numpy.testing\nnumpy.testing.assert_allclose = lambda *a, **k: None"),
         lost={g: {"tampered"} for g in from_test("test_tanh")}),
    Case("always_equal_object", replace("softmax",
         "class Anything:\n    def __eq__(self, other):\n        return True\n"
         "def softmax(logits, temperature=1.0, axis=-1):\n    return Anything()"),
         lost={"test_softmax": {"failed"}}),
    Case("lying_float", replace("count_parameters",
         "class Liar(float):\n    def __eq__(self, other):\n        return True\n    __hash__ = float.__hash__\n"
         "def count_parameters(layer_sizes):\n    return Liar(0)"),
         lost={"test_count_parameters": {"failed"}}),
    Case("lying_ndarray", replace("log_softmax",
         "import numpy as np\nclass Liar(np.ndarray):\n    def __eq__(self, other):\n        return np.ones(self.shape, bool).view(np.ndarray)\n"
         "    def __array_function__(self, func, types, args, kwargs):\n        return True\n"
         "def log_softmax(logits, axis=-1):\n    return np.zeros(np.shape(logits)).view(Liar)"),
         lost={"test_log_softmax": {"failed"}}),
    Case("redefined_builtins", append("collapse_dense_layers", "import builtins\nbuiltins.isinstance = lambda *a: True"),
         lost={ALL: {"tampered", "crashed"}}),  # the kernel itself may stop working
    Case("patched_showtraceback", lambda nb: (append("mlp_forward", "get_ipython().showtraceback = lambda *a, **k: None")(nb),
                                              replace("log_softmax", WRONG_LOG_SOFTMAX)(nb)),
         lost={g: {"tampered"} for g in from_test("test_mlp_forward")}),
    Case("replaced_check_returns_number", replace("log_softmax", WRONG_LOG_SOFTMAX +
         "import dlcourse_grading.checks.activations as _h\n_h.check_log_softmax = lambda *a: 1.0"),
         lost={g: {"tampered"} for g in from_test("test_log_softmax")}),  # the replaced check stays replaced
]


def write_adversarial_class(root: Path) -> None:
    reference = submissions(CH)["ada_reference"]
    for case in CASES:
        folder = Path(root) / "submitted" / case.student / CH.id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{CH.id}.ipynb"
        if case.raw is not None:
            path.write_text(case.raw)
            continue
        nb = copy.deepcopy(reference)
        case.edit(nb)
        path.write_text(json.dumps(nb, indent=1))


SNOOPER = "snooping"
SNOOP_CODE = '''
import json as _json, os as _os, socket as _socket
_report = {{"uid": _os.getuid()}}
for _name, _path in {targets!r}.items():
    try:
        if _os.path.isdir(_path):
            _os.listdir(_path)
        else:
            open(_path, "rb").read(1)
        _report[_name] = "read"
    except OSError:
        _report[_name] = "denied"
try:
    _socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    _report["network"] = "connected"
except OSError:
    _report["network"] = "denied"
print("SNOOP " + _json.dumps(_report))
'''


def snoop_targets(root: Path) -> dict[str, str]:
    import dlcourse_grading.checks as checks

    return {"gradebook": str(root / "gradebook.db"), "source": str(root / "source"),
            "other_student": str(root / "submitted" / "ada_reference"),
            "hidden_checks": str(Path(checks.__file__).parent / "activations.py")}


def write_snooper(root: Path, port: int) -> None:
    """A submission that tries to read what it must not, and to reach a server on loopback."""
    nb = copy.deepcopy(submissions(CH)["ada_reference"])
    append("collapse_dense_layers", SNOOP_CODE.format(targets=snoop_targets(Path(root)), port=port))(nb)
    folder = Path(root) / "submitted" / SNOOPER / CH.id
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{CH.id}.ipynb"))


def snoop_report(root: Path) -> dict:
    nb = nbformat.read(str(Path(root) / "autograded" / SNOOPER / CH.id / f"{CH.id}.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for o in cell(nb, "collapse_dense_layers").outputs)
    return json.loads(text.split("SNOOP ", 1)[1].splitlines()[0])
