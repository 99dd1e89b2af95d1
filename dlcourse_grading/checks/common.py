"""Building blocks for the hidden checks of every chapter (instructor-only).

A check raises AssertionError with a student-facing message on the first problem it finds and
returns None otherwise. Messages say what is wrong and on which kind of input, never the expected
numbers. Everything here is deterministic (seeded generators) and silent (no warnings, no logs).

Main pieces:
- :func:`case_rng` and :func:`random_tensor`: seeded random inputs, one generator per case family.
- :func:`call`: call the student's function and turn a crash into a clear AssertionError.
- :func:`assert_result`: type → shape → dtype → values against a float64 reference.
- :func:`graph_ops` / :func:`assert_no_builtin`: trace a function with ``tf.function`` and look at the
  op types (and name scopes) in its graph, to catch a forbidden built-in however it was imported
  and NumPy code that cannot run on symbolic tensors.
- :func:`gradient` / :func:`assert_gradient`: gradients through ``tf.GradientTape``.
- :func:`assert_raises`, :func:`assert_python_int`, :func:`assert_python_bool`, :func:`assert_python_float`,
  :func:`no_new_variables`, :func:`quiet`.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import re
import warnings
import zlib
from typing import Any, Callable, Iterable, Sequence

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import tensorflow as tf

from dlcourse.chapters import SEED
from dlcourse_grading import guard
from dlcourse.testing import as_array, assert_close, assert_dtype, assert_shape, assert_tensor_like

#: Tolerances for comparing a float32 result with a float64 reference (CPU or GPU).
FLOAT32_TOL = {"rtol": 1e-4, "atol": 1e-6}
#: Tolerances for a float64 result (float32 results are rejected by the dtype check before this).
FLOAT64_TOL = {"rtol": 1e-6, "atol": 1e-8}
#: Tolerances for gradients computed in float32.
GRAD32_TOL = {"rtol": 1e-3, "atol": 1e-5}
GRAD64_TOL = {"rtol": 1e-6, "atol": 1e-8}

#: Built-in TensorFlow op types and how a student probably produced them (for the messages).
BUILTIN_OPS = {
    "Sigmoid": "keras.ops.sigmoid / tf.sigmoid / keras.activations.sigmoid",
    "Tanh": "keras.ops.tanh / tf.tanh",
    "Relu": "keras.ops.relu / tf.nn.relu",
    "Relu6": "keras.ops.relu6 / tf.nn.relu6",
    "LeakyRelu": "keras.ops.leaky_relu / tf.nn.leaky_relu",
    "Elu": "keras.ops.elu / tf.nn.elu",
    "Selu": "keras.ops.selu / tf.nn.selu",
    "Softplus": "keras.ops.softplus / tf.math.softplus",
    "Softmax": "keras.ops.softmax / tf.nn.softmax",
    "LogSoftmax": "keras.ops.log_softmax / tf.nn.log_softmax",
}


def case_rng(*tags: Any) -> np.random.Generator:
    """A NumPy generator seeded from the course seed and the tags: same tags, same numbers."""
    key = "/".join(str(t) for t in tags).encode()
    return np.random.default_rng([SEED, zlib.crc32(key)])


def random_tensor(rng: np.random.Generator, shape: Sequence[int], dtype: str = "float32",
                  scale: float = 3.0, avoid_zero: float = 0.0) -> tf.Tensor:
    """Normal values times ``scale``; entries closer to 0 than ``avoid_zero`` are pushed away."""
    values = rng.normal(size=tuple(shape)) * scale
    if avoid_zero:
        small = np.abs(values) < avoid_zero
        values[small] = np.where(values[small] < 0, -avoid_zero, avoid_zero) * (1 + rng.random(int(small.sum())))
    return tf.constant(values, dtype=dtype)


def large_values(dtype: str = "float32") -> tf.Tensor:
    """A (2, 8) tensor of logits/activations of large magnitude (up to 1e4), both signs, no zeros."""
    values = np.array([[-1e4, -2e3, -150.0, -95.0, -50.0, -20.0, -3.0, -0.25],
                       [0.5, 4.0, 17.0, 60.0, 91.0, 200.0, 3.3e3, 1e4]])
    return tf.constant(values, dtype=dtype)


def describe(value: Any) -> str:
    """'a float32 tensor of shape (3, 4)' (for messages)."""
    dtype = getattr(getattr(value, "dtype", None), "name", None) or str(getattr(value, "dtype", ""))
    shape = tuple(int(d) for d in getattr(value, "shape", ()))
    if not shape:
        return f"a scalar {dtype} tensor"
    return f"a {dtype} tensor of shape {shape}"


def _summary(exc: BaseException) -> str:
    """'TypeError: first line of the message' (TensorFlow's op-location prefixes removed)."""
    text = getattr(exc, "message", None)
    text = text if isinstance(text, str) else str(exc)
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def call(fn: Callable, *args: Any, what: str, **kwargs: Any) -> Any:
    """fn(*args, **kwargs); a crash becomes an AssertionError that names the call and the input."""
    try:
        return fn(*args, **kwargs)
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001 - any crash in student code is a failed check
        raise AssertionError(f"{what} raised {_summary(exc)}") from None


@contextlib.contextmanager
def quiet():
    """No Python warnings and no TensorFlow/absl log lines while a check runs."""
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl", "keras")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def checked(function: Callable) -> Callable:
    """Decorator for a public check: runs it inside :func:`quiet`, refuses to run (or to pass)
    if student code tampered with what the check relies on, and returns None so that a test
    cell never ends in a value nbgrader could read as partial credit."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs) -> None:
        guard.verify()
        with quiet():
            function(*args, **kwargs)
        guard.verify()

    return wrapper


# --------------------------------------------------------------------------- results

def assert_result(result: Any, expected: Any, what: str, *, dtype: str | None = None,
                  rtol: float | None = None, atol: float | None = None) -> None:
    """Type → shape → dtype → values. ``expected`` is a float64 NumPy reference.

    With ``dtype`` given the result must have it; tolerances default to the dtype's.
    """
    expected = np.asarray(expected, dtype=np.float64)
    assert_tensor_like(result, what)
    assert_shape(result, expected.shape, what)
    if dtype is not None:
        assert_dtype(result, dtype, what)
    tol = FLOAT64_TOL if dtype == "float64" else FLOAT32_TOL
    assert_close(result, expected, what, rtol=tol["rtol"] if rtol is None else rtol,
                 atol=tol["atol"] if atol is None else atol)


def assert_in_range(result: Any, low: float, high: float, what: str) -> None:
    values = as_array(result, what)
    if np.isnan(values).any():
        raise AssertionError(f"{what}: contains NaN")
    if (values < low).any() or (values > high).any():
        raise AssertionError(f"{what}: values outside [{low:g}, {high:g}]")


def assert_python_int(value: Any, what: str) -> None:
    """A Python int, as the contracts say: not a NumPy integer (not a subclass of int, and it
    wraps around where a Python int does not), a float, a bool or a tensor."""
    if isinstance(value, bool) or not isinstance(value, int):
        hint = " (use int(...))" if isinstance(value, np.integer) else ""
        raise AssertionError(f"{what}: expected a Python int, got {type(value).__name__}{hint}")


def assert_python_bool(value: Any, what: str) -> None:
    """A Python bool, as the contracts say: numpy.bool_ is not one (`x is True` is False for it)."""
    if not isinstance(value, bool):
        hint = " (use bool(...))" if isinstance(value, np.bool_) else ""
        raise AssertionError(f"{what}: expected a Python bool, got {type(value).__name__}{hint}")


def assert_python_float(value: Any, what: str) -> None:
    """A Python float (NumPy's float64 is a subclass and passes; a tensor or float32 does not)."""
    if not isinstance(value, float):
        raise AssertionError(f"{what}: expected a Python float, got {type(value).__name__} (use float(...))")


def assert_raises(exc_type: type[BaseException], fn: Callable, *args: Any, what: str, **kwargs: Any) -> None:
    """fn(*args, **kwargs) must raise exc_type (a subclass is fine)."""
    try:
        fn(*args, **kwargs)
    except exc_type:
        return
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"{what}: should raise {exc_type.__name__}, raised {_summary(exc)} instead") from None
    raise AssertionError(f"{what}: should raise {exc_type.__name__}, but returned normally")


# --------------------------------------------------------------------------- graphs

def _concrete_graph(fn: Callable, specs: Sequence[tf.TensorSpec], what: str) -> tf.Graph:
    error: BaseException | None = None
    for autograph in (False, True):  # without AutoGraph first: faster, and its error is the clearer one
        try:
            return tf.function(fn, autograph=autograph).get_concrete_function(*specs).graph
        except Exception as exc:  # noqa: BLE001 - any failure to trace is the student's
            error = error or exc
    inputs = ", ".join(describe(s) for s in specs)
    raise AssertionError(
        f"{what} does not work on symbolic TensorFlow tensors ({inputs}): it raised {_summary(error)}. "
        "Write it with keras.ops (not NumPy, not .numpy(), no Python conversions of tensor values) "
        "so that it also runs inside a compiled model")


def graph_ops(fn: Callable, specs: Sequence[tf.TensorSpec], what: str) -> list[tuple[str, str]]:
    """(op type, op name) of every op in the traced graph, nested function bodies included.

    ``fn`` is called with one symbolic tensor per spec. Raises AssertionError when it cannot be
    traced (typically NumPy code on a symbolic tensor).
    """
    graph = _concrete_graph(fn, specs, what)
    graph_def = graph.as_graph_def()
    found = [(node.op, node.name) for node in graph_def.node]
    for function in graph_def.library.function:
        found += [(node.op, node.name) for node in function.node_def]
    return found


def assert_no_builtin(fn: Callable, specs: Sequence[tf.TensorSpec], what: str,
                      forbidden_ops: Iterable[str] = (), forbidden_scopes: Iterable[str] = ()) -> None:
    """Trace fn and fail if its graph contains a forbidden op type or a forbidden name scope.

    Name scopes catch built-ins that have no op of their own (e.g. GELU is traced under "Gelu/").
    """
    forbidden_ops = set(forbidden_ops)
    scopes = {s.lower() for s in forbidden_scopes}
    for op_type, name in graph_ops(fn, specs, what):
        if op_type in forbidden_ops:
            how = BUILTIN_OPS.get(op_type, op_type)
            raise AssertionError(
                f"{what} uses a built-in {op_type} (its graph contains {_article(op_type)} {op_type} op, "
                f"e.g. from {how}); "
                "implement it yourself with basic keras.ops functions")
        parts = [p.lower() for p in name.split("/")[:-1]]
        hit = next((s for s in scopes if any(p == s or p.startswith(s + "_") for p in parts)), None)
        if hit:
            raise AssertionError(
                f"{what} uses a built-in {hit} (e.g. keras.ops.{hit} or tf.nn.{hit}); "
                "implement it yourself with basic keras.ops functions")


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def assert_traceable(fn: Callable, specs: Sequence[tf.TensorSpec], what: str) -> None:
    """fn must run on symbolic tensors (no NumPy on its inputs)."""
    _concrete_graph(fn, specs, what)


# --------------------------------------------------------------------------- gradients

def gradient(fn: Callable, x: tf.Tensor, upstream: Any | None, what: str) -> np.ndarray:
    """d sum(upstream * fn(x)) / dx as float64 NumPy, via tf.GradientTape.

    ``upstream`` None means all ones. Fails when no gradient flows (NumPy code, a constant, ...).
    """
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = call(fn, x, what=what)
        if not tf.is_tensor(y):
            raise AssertionError(f"{what}: returned {type(y).__name__}, not a TensorFlow tensor, so no "
                                 "gradient can flow through it (use keras.ops, not NumPy)")
        y = tf.cast(y, x.dtype) if y.dtype != x.dtype else y
        loss = tf.reduce_sum(y if upstream is None else y * tf.cast(upstream, y.dtype))
    grad = tape.gradient(loss, x)
    if grad is None:
        raise AssertionError(f"{what}: no gradient flows back to the input (does the result depend on it "
                             "through TensorFlow ops?)")
    return as_array(grad, f"gradient of {what}")


def assert_gradient(fn: Callable, x: tf.Tensor, expected: Any, what: str, upstream: Any | None = None,
                    rtol: float | None = None, atol: float | None = None) -> None:
    """The tape gradient of sum(upstream * fn(x)) is finite and matches ``expected`` (float64)."""
    got = gradient(fn, x, upstream, what)
    tol = GRAD64_TOL if tf.convert_to_tensor(x).dtype == tf.float64 else GRAD32_TOL
    bad = ~np.isfinite(got)
    if bad.any():
        raise AssertionError(f"gradient of {what}: {int(bad.sum())} value(s) are NaN or infinite "
                             "(an exp() overflows somewhere, even in a branch that where() discards?)")
    assert_close(got, expected, f"gradient of {what}", rtol=tol["rtol"] if rtol is None else rtol,
                 atol=tol["atol"] if atol is None else atol)


# --------------------------------------------------------------------------- variables

@contextlib.contextmanager
def no_new_variables(what: str, advice: str):
    """Fail if code in the block creates any variable (a Keras layer, model or tf.Variable)."""
    created: list[str] = []

    def creator(next_creator, **kwargs):
        created.append(str(kwargs.get("name")))
        return next_creator(**kwargs)

    with tf.variable_creator_scope(creator):
        yield
    if created:
        raise AssertionError(f"{what} creates variables (a Keras layer or model?): {advice}")


def weights_snapshot(layer: Any) -> list[np.ndarray]:
    return [np.array(w) for w in layer.get_weights()]


def assert_unchanged(layer: Any, before: list[np.ndarray], what: str) -> None:
    after = layer.get_weights()
    if len(after) != len(before) or any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(after, before)):
        raise AssertionError(f"{what}: modified the weights of a layer it was given; leave the inputs unchanged")


# --------------------------------------------------------------------------- forbidden and counted calls

def _patch_attribute(owner: Any, name: str, replacement: Any) -> Callable[[], None]:
    """Set ``owner.name`` (a class or a module); return a function that undoes it exactly
    (an attribute the owner only inherited is deleted again, not copied onto it)."""
    had = name in vars(owner)
    original = vars(owner).get(name)
    setattr(owner, name, replacement)

    def undo() -> None:
        if had:
            setattr(owner, name, original)
        else:
            delattr(owner, name)

    return undo


@contextlib.contextmanager
def forbidden_calls(targets: Iterable[tuple[Any, str]], message: str):
    """While the block runs, calling any of ``targets`` raises AssertionError(message).

    ``targets`` are (owner, attribute) pairs: a class and a method name (subclasses are covered,
    e.g. ``(keras.optimizers.Optimizer, "__init__")`` blocks every built-in optimizer), or a module
    and a function name. Used around student code that must not call a ready-made tool.
    """
    def blocked(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(message)

    undo: list[Callable[[], None]] = []
    try:
        for owner, name in targets:
            undo.append(_patch_attribute(owner, name, blocked))
        yield
    finally:
        for step in reversed(undo):
            step()


class CallCount:
    """How many times a callable patched by :func:`counting_calls` ran."""

    def __init__(self) -> None:
        self.count = 0


@contextlib.contextmanager
def counting_calls(owner: Any, name: str):
    """Count the calls of ``owner.name`` (a method of a class, or a module's function) in the block.

    Yields a :class:`CallCount`. E.g. ``counting_calls(tf.GradientTape, "gradient")`` tells whether
    student code got its gradients from a tape.
    """
    import functools

    counter = CallCount()
    original = getattr(owner, name)

    @functools.wraps(original)
    def counted(*args: Any, **kwargs: Any) -> Any:
        counter.count += 1
        return original(*args, **kwargs)

    undo = _patch_attribute(owner, name, counted)
    try:
        yield counter
    finally:
        undo()
