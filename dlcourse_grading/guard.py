"""Tamper detection for hidden tests that run in the student's own process.

A snapshot of the objects the hidden checks (and the kernel's error reporting) rely on is taken
before any student code runs: in the kernel fork server, or by the kernel's start-up line that
grading_config.py adds. Every hidden check verifies the snapshot before and after it runs; if
student code replaced one of those objects (np.allclose, numpy.testing, a builtin, a keras.ops
reference, IPython's traceback display, a check helper, ...), the check fails with
TamperingError and the test cell scores zero with status "tampered".

This raises the bar; it cannot make code that runs inside the student's process tamper-proof.
"""
from __future__ import annotations

import builtins
import sys
from types import ModuleType

#: Modules whose public attributes must stay the objects they were at start-up.
#: Every Keras namespace an exercise of chapters 1-6 extends (Layer, Loss, Regularizer,
#: Initializer, Callback, LearningRateSchedule) or calls is here.
WATCHED_MODULES = (
    "builtins", "numpy", "numpy.testing", "numpy.linalg", "math", "tensorflow", "tensorflow.math",
    "tensorflow.nn", "tensorflow.linalg", "keras", "keras.ops", "keras.layers", "keras.activations",
    "keras.losses", "keras.optimizers", "keras.optimizers.schedules", "keras.regularizers",
    "keras.initializers", "keras.callbacks", "keras.constraints", "keras.metrics", "keras.models",
    "keras.random", "keras.backend", "keras.saving", "keras.utils", "dlcourse.testing",
)
#: Module prefixes watched in full (every module of the package, whenever loaded).
WATCHED_PREFIXES = ("dlcourse_grading.checks", "dlcourse_grading.checklib", "dlcourse_grading.guard")
#: Methods the kernel uses to report an error: replacing them can hide a failure.
WATCHED_METHODS = (
    ("IPython.core.interactiveshell", "InteractiveShell",
     ("showtraceback", "_showtraceback", "run_cell", "run_cell_async", "run_ast_nodes", "run_code",
      "showsyntaxerror")),
    ("ipykernel.ipkernel", "IPythonKernel", ("do_execute",)),
    ("ipykernel.zmqshell", "ZMQInteractiveShell", ("_showtraceback",)),
)
#: Builtins IPython itself replaces or adds while a notebook runs.
IPYTHON_BUILTINS = {"exit", "quit", "display", "get_ipython", "help", "copyright", "credits", "license",
                    "input", "breakpoint"}  # ipykernel swaps input() per request

#: The user expression under which the grader asks a kernel for the audit, after each test cell.
AUDIT_KEY = "course_audit"

_snapshot: dict[str, dict[str, object]] = {}
_MISSING = object()
_taken = False


class TamperingError(AssertionError):
    """Student code replaced something the grader relies on."""


def _public(module: ModuleType) -> dict[str, object]:
    names = {name: value for name, value in vars(module).items() if not name.startswith("_")}
    if module is builtins:
        names = {n: v for n, v in names.items() if n not in IPYTHON_BUILTINS}
    return names


#: Names in sys.modules already sorted into watched (by prefix) or not: a grading kernel holds
#: ~4,200 modules, and testing each name's prefix on every audit cost ~8 ms (twice per audit).
_seen_names: set[str] = set()
_prefixed_names: list[str] = []


def _watched_modules():
    for name in WATCHED_MODULES:
        if name in sys.modules:
            yield name, sys.modules[name]
    new = sys.modules.keys() - _seen_names
    if new:
        _seen_names.update(new)
        _prefixed_names.extend(sorted(n for n in new if n.startswith(WATCHED_PREFIXES)))
    for name in _prefixed_names:
        module = sys.modules.get(name)  # looked up each time: a replaced entry shows as a change
        if module is not None:
            yield name, module


def _methods():
    for module_name, class_name, attrs in WATCHED_METHODS:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module else None
        if cls is not None:
            yield f"{module_name}.{class_name}", {a: cls.__dict__.get(a, getattr(cls, a, None)) for a in attrs}


def start() -> None:
    """Import what grading kernels use, then snapshot it (a grading kernel's first line, after
    ``dlcourse_grading.checks.load_all()``: the guard itself imports no check, so the checks can
    import the guard without a circle)."""
    import importlib

    import dlcourse  # noqa: F401  (TensorFlow's quiet switches first)
    import keras  # noqa: F401
    import numpy.testing  # noqa: F401
    import tensorflow  # noqa: F401
    import dlcourse.testing  # noqa: F401

    for name in WATCHED_MODULES:  # every watched namespace exists before the snapshot
        importlib.import_module(name)
    answer_audits_after_errors()
    snapshot()
    _record_shell()


def answer_audits_after_errors() -> None:
    """A Jupyter kernel evaluates a request's user expressions only when its code ran without
    error. A grading kernel also evaluates the audit's expression (:data:`AUDIT_KEY`) after a
    cell that failed, in the same reply, so the grader needs no request of its own after a
    failed test cell (one round trip, ~9 ms). Every other expression keeps the protocol's rule.
    Before the snapshot, which watches this method; only in a process that runs an IPython
    kernel (or preloads one: the fork server)."""
    ipkernel = sys.modules.get("ipykernel.ipkernel")
    if ipkernel is None or getattr(ipkernel.IPythonKernel.do_execute, "_course_audit", False):
        return
    import functools

    original = ipkernel.IPythonKernel.do_execute

    @functools.wraps(original)  # ipykernel reads the signature: cell_id, cell_meta
    async def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False,
                         **kwargs):
        reply = await original(self, code, silent, store_history, user_expressions, allow_stdin, **kwargs)
        expression = (user_expressions or {}).get(AUDIT_KEY)
        if expression is not None and reply.get("status") == "error":
            reply["user_expressions"] = self.shell.user_expressions({AUDIT_KEY: expression})
        return reply

    do_execute._course_audit = True
    ipkernel.IPythonKernel.do_execute = do_execute


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _shell_methods(shell) -> dict[str, object]:
    names = {a for _, _, attrs in WATCHED_METHODS for a in attrs}
    return {name: vars(shell).get(name, _MISSING) for name in sorted(names)}


def _record_shell() -> None:
    """The running shell's own attributes (ipykernel sets some per instance), once it exists."""
    shell = _shell()
    if shell is not None and "shell" not in _snapshot:
        _snapshot["shell"] = _shell_methods(shell)


def snapshot() -> None:
    """Record the watched objects (idempotent: the first snapshot is the one that counts)."""
    global _taken
    if _taken:
        return
    for name, module in _watched_modules():
        _snapshot[name] = _public(module)
    for name, attrs in _methods():
        _snapshot[name] = dict(attrs)
    _taken = True


def changes() -> list[str]:
    """What differs from the snapshot, as 'module.name' strings."""
    if not _taken:
        return []
    current = dict(_watched_modules())
    for name, module in current.items():  # imported after the snapshot (a check module its hidden block loads)
        if name not in _snapshot:
            _snapshot[name] = _public(module)
    changed = []
    current.update(_methods())
    shell = _shell()
    if shell is not None:
        current["shell"] = _shell_methods(shell)
    for name, recorded in _snapshot.items():
        if name in current:
            module = current[name]
            now = module if isinstance(module, dict) else _public(module)
        else:
            continue
        for attr, value in recorded.items():
            if now.get(attr, _MISSING) is not value:
                changed.append(f"{name}.{attr}")
    return changed



def audit() -> None:
    """The grader's last request to a kernel: a check function replaced by student code is never
    called, so it cannot catch itself; this looks once more after every cell has run."""
    verify()


def verify() -> None:
    """Raise TamperingError if anything watched was replaced since the snapshot."""
    changed = changes()
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise TamperingError(
            f"grading objects were replaced by code in this notebook ({shown}); "
            "the hidden tests cannot be trusted, so this test scores zero")
