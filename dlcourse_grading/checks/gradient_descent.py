"""Hidden checks for assignment 2, gradient descent (instructor-only).

Each ``check_*`` takes the student's functions, raises AssertionError with a student-facing
message on the first problem and returns None when everything holds. References are NumPy
float64 computations, except for the optimizers, whose reference is ``keras.optimizers``' update
rule (tests/test_checks.py shows the two agree); inputs come from seeded generators.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import keras
import tensorflow as tf

from dlcourse.testing import as_array, assert_close, assert_shape
from dlcourse_grading.checklib import (
    APPLY_OPS,
    FIT,
    TAPE_GRADIENTS,
    assert_no_ops,
    assert_python_float,
    assert_python_str,
    assert_result,
    assert_tensor,
    blocked,
    call,
    case_rng,
    checked,
    uses_a_tape,
    describe,
    first_bad_row,
    no_new_variables,
    no_optimizers,
    unpack,
)
from dlcourse_grading.checklib.references import central_differences, gradient_descent_path, to64
from dlcourse_grading.checklib.training import epochs_to_reach

__all__ = [
    "check_numerical_gradient", "check_gradient_descent", "check_classify_run",
    "check_sgd_momentum_step", "check_rmsprop_step", "check_adam_step",
    "check_standardize", "check_train_linear_regression", "check_standardization_speedup",
    "check_max_stable_learning_rate",
]


# --------------------------------------------------------------------------- exercise 1

class _ScalarFunction:
    """f for numerical_gradient: checks its input, records where it was evaluated."""

    def __init__(self, fn: Callable, shape: tuple[int, ...]):
        self.fn, self.shape = fn, tuple(shape)
        self.points: list[np.ndarray] = []

    def __call__(self, value):
        if isinstance(value, float) and not isinstance(value, np.floating):
            array = np.array(value)
        else:
            dtype = getattr(value, "dtype", None)
            name = getattr(dtype, "name", str(dtype))
            if name != "float64":
                kind = describe(value) if dtype is not None else f"a {type(value).__name__}"
                raise AssertionError(f"numerical_gradient called f with {kind}: call f on float64 values only "
                                     "(convert x to float64 first)")
            array = np.array(value, dtype=np.float64)
        if array.shape != self.shape:
            raise AssertionError(f"numerical_gradient called f on an input of shape {array.shape}; f takes an "
                                 f"input with the shape of x, {self.shape}")
        self.points.append(array.copy())
        return self.fn(value)


def _np_scalar(fn):
    """A NumPy function of an array, returning a Python float (no TensorFlow: no tape can follow it)."""
    return lambda v: float(fn(np.array(v, dtype=np.float64)))


_A5 = np.array([[2.0, -1.0, 0.5, 0.0, 1.5], [0.3, 1.0, -2.0, 0.7, 0.0], [1.1, 0.0, 3.0, -0.4, 0.2],
                [-0.6, 2.2, 0.0, 1.0, -1.3], [0.0, 0.9, -0.8, 0.4, 2.5]])

#: How each case's x reaches the student (every container the contract admits).
_NG_INPUTS = {
    "vector4": lambda rng: tf.constant(rng.normal(size=4) * 2),
    "vector3": lambda rng: tf.constant(rng.normal(size=3) * 1.5),
    "matrix23": lambda rng: rng.normal(size=(2, 3)),
    "vector5": lambda rng: tf.constant(rng.normal(size=5)),
    "tensor222": lambda rng: tf.constant(rng.normal(size=(2, 2, 2)) * 2),
    "scalar": lambda rng: 1.3,
    "list3": lambda rng: [float(v) for v in rng.normal(size=3)],
    "float32": lambda rng: tf.constant(rng.normal(size=6) * 2, tf.float32),
    "large": lambda rng: tf.constant(rng.uniform(200.0, 1000.0, size=4) * rng.choice([-1.0, 1.0], size=4)),
}

_NG_CASES = [  # description, function, x (as the student gets it), h (None: the default)
    ("a cubic polynomial of a vector, h=0.1",
     _np_scalar(lambda a: np.sum(a ** 3 - 2 * a ** 2 + 0.5 * a)), "vector4", 0.1),
    ("sum(sin(x) * exp(x / 3)) on a (2, 3) NumPy array, h=1e-3",
     _np_scalar(lambda a: np.sum(np.sin(a) * np.exp(a / 3))), "matrix23", 1e-3),
    ("a quadratic form x . (A x) with a non-symmetric A, default h",
     _np_scalar(lambda a: a @ _A5 @ a), "vector5", None),
    ("log-sum-exp of a (2, 2, 2) tensor, default h",
     _np_scalar(lambda a: np.log(np.sum(np.exp(a)))), "tensor222", None),
    ("x**4 - 3x for a scalar x given as a Python float, h=0.05",
     _np_scalar(lambda a: a ** 4 - 3 * a), "scalar", 0.05),
    ("a Rosenbrock sum for x given as a nested list, default h",
     _np_scalar(lambda a: np.sum(100 * (a[1:] - a[:-1] ** 2) ** 2 + (1 - a[:-1]) ** 2)), "list3", None),
    ("sum(x**2 * cos(x)) for a float32 tensor x, h=1e-4",
     _np_scalar(lambda a: np.sum(a ** 2 * np.cos(a))), "float32", 1e-4),
    ("a TensorFlow function sum(sin(x) * x**3), h=0.1",
     lambda v: tf.reduce_sum(tf.sin(tf.convert_to_tensor(v)) * tf.convert_to_tensor(v) ** 3), "vector3", 0.1),
    ("sum(log(1 + x**2)) with entries of magnitude up to 1e3, default h",
     _np_scalar(lambda a: np.sum(np.log1p(a ** 2))), "large", None),
]


def _evaluated_at(points: list[np.ndarray], target: np.ndarray) -> bool:
    return any(np.allclose(p, target, rtol=1e-12, atol=1e-12) for p in points)


def _difference_hint(f: _ScalarFunction, point, step, grad, expected) -> str:
    """Which evaluations were missing, or whether the error has float32's size."""
    units = [np.eye(point.size)[i].reshape(point.shape) for i in range(point.size)]
    plus = all(_evaluated_at(f.points, point + step * e) for e in units)
    minus = all(_evaluated_at(f.points, point - step * e) for e in units)
    if not (plus or minus):
        return " (f was not evaluated at x + h*e_i and x - h*e_i with the h it was given)"
    if not minus:
        return " (f was not evaluated at every x - h*e_i: use central differences, not forward ones)"
    got = as_array(grad, "gradient") if hasattr(grad, "shape") else None
    small = got is not None and got.shape == expected.shape and np.all(
        np.abs(got - expected) <= 1e-3 * (np.abs(expected) + 1e-3))
    return " (small errors: is some value rounded to float32 on the way?)" if small else ""


@checked
def check_numerical_gradient(numerical_gradient):
    rng = case_rng("numerical_gradient")
    for description, fn, kind, h in _NG_CASES:
        x = _NG_INPUTS[kind](rng)
        point, step = to64(x), 1e-5 if h is None else h
        expected = central_differences(fn, point, step, as_input=tf.constant)
        f = _ScalarFunction(fn, point.shape)
        what = f"numerical_gradient for {description}"
        with no_new_variables(what, "compute the differences with plain tensors or arrays"), \
                blocked(TAPE_GRADIENTS, f"{what} uses tf.GradientTape: take the differences of f's values "
                                        "instead (f may be NumPy code that no tape can follow)"):
            grad = call(numerical_gradient, f, x, what=what, **({} if h is None else {"h": h}))
        if not f.points:
            raise AssertionError(f"{what}: f was never called (use central differences of f's values)")
        try:  # the same differences in float64: only the order of operations may differ
            assert_result(grad, expected, what, dtype="float64", rtol=1e-7, atol=1e-9)
        except AssertionError as error:
            raise AssertionError(f"{error}{_difference_hint(f, point, step, grad, expected)}") from None


# --------------------------------------------------------------------------- exercise 2

def _float64_input(fn):
    def f(p):
        if tf.as_dtype(p.dtype) != tf.float64:
            raise AssertionError(f"gradient_descent called f with {describe(p)}: compute the points in float64")
        return fn(p)
    return f


def _bowl(p):
    return p[0] ** 2 + 10 * p[1] ** 2


_ROT_A = np.array([[3.0, 1.2], [1.2, 1.0]])
_ROT_B = np.array([1.0, -2.0])
_W3 = np.array([1.0, 3.0, 0.5])
_C3 = np.array([1.0, -1.0, 2.0])

_GD_FUNCTIONS = {  # name: (TensorFlow function, NumPy gradient)
    "the bowl x**2 + 10 y**2": (_bowl, lambda p: np.array([2 * p[0], 20 * p[1]])),
    "a rotated quadratic 0.5 p.Ap + b.p": (
        lambda p: 0.5 * tf.tensordot(p, tf.linalg.matvec(tf.constant(_ROT_A), p), 1)
        + tf.tensordot(tf.constant(_ROT_B), p, 1),
        lambda p: _ROT_A @ p + _ROT_B),
    "the Rosenbrock function": (
        lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2,
        lambda p: np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2), 200 * (p[1] - p[0] ** 2)])),
    "sin(x) cos(y) + 0.05 (x**2 + y**2)": (
        lambda p: tf.sin(p[0]) * tf.cos(p[1]) + 0.05 * (p[0] ** 2 + p[1] ** 2),
        lambda p: np.array([np.cos(p[0]) * np.cos(p[1]) + 0.1 * p[0], -np.sin(p[0]) * np.sin(p[1]) + 0.1 * p[1]])),
    "the saddle x**2 - y**2 + y**4 / 4": (
        lambda p: p[0] ** 2 - p[1] ** 2 + p[1] ** 4 / 4,
        lambda p: np.array([2 * p[0], -2 * p[1] + p[1] ** 3])),
    "a weighted 3-D bowl sum(w (p - c)**2)": (
        lambda p: tf.reduce_sum(tf.constant(_W3) * (p - tf.constant(_C3)) ** 2),
        lambda p: 2 * _W3 * (p - _C3)),
}

# Starts that are tensors are built when the check runs (a lambda here): running a TensorFlow op
# at import time would start TensorFlow's thread pools in the grader's kernel fork server.
_GD_CASES = [  # function, start (or a function making it), learning rate, steps
    ("the bowl x**2 + 10 y**2", [1.0, 1.0], 0.02, 30),
    ("the bowl x**2 + 10 y**2", (-2.0, 0.5), 0.09, 25),
    ("the bowl x**2 + 10 y**2", np.array([0.3, -0.2], np.float32), 0.104, 30),
    ("a rotated quadratic 0.5 p.Ap + b.p", lambda: tf.constant([2.0, -1.0]), 0.1, 30),
    ("the Rosenbrock function", np.array([-1.2, 1.0]), 1e-3, 60),
    ("sin(x) cos(y) + 0.05 (x**2 + y**2)", lambda: tf.constant([1.0, 2.5], tf.float64), 0.3, 30),
    ("the saddle x**2 - y**2 + y**4 / 4", [0.5, 1e-3], 0.1, 40),
    ("a weighted 3-D bowl sum(w (p - c)**2)", [0.0, 0.0, 0.0], 0.1, 30),
    ("the bowl x**2 + 10 y**2", [1.0, -1.0], 0.05, 0),
]


def _describe_start(start) -> str:
    if isinstance(start, (list, tuple)):
        return f"a {type(start).__name__}"
    if isinstance(start, np.ndarray):
        return f"a {start.dtype} NumPy array"
    return describe(start)


def _run_gradient_descent(gradient_descent, fn, start, learning_rate, steps, what):
    """The student's run with optimizers blocked; every gradient must come from a tape."""
    with no_optimizers(what), uses_a_tape(what, steps > 0, "get every gradient from the tape (not by hand, "
                                                            "not numerically)"):
        return call(gradient_descent, _float64_input(fn), start, learning_rate, steps, what=what)


@checked
def check_gradient_descent(gradient_descent):
    for name, start, learning_rate, steps in _GD_CASES:
        start = start() if callable(start) else start
        fn, grad = _GD_FUNCTIONS[name]
        expected = gradient_descent_path(grad, start, learning_rate, steps)
        what = (f"gradient_descent on {name} from {_describe_start(start)}, learning rate {learning_rate}, "
                f"{steps} steps")
        path = _run_gradient_descent(gradient_descent, fn, start, learning_rate, steps, what)
        assert_tensor(path, expected.shape, "float64", what)
        got = as_array(path, what)
        assert_close(got[0], expected[0], f"{what}: row 0 (the start; convert it straight to float64, "
                     "without a detour through float32)", rtol=1e-12, atol=0)
        # 1e-7 relative: a float32 detour anywhere shows up as ~1e-7 after one step, and grows.
        row = first_bad_row(got, expected, 1e-7 * np.abs(expected) + 1e-9)
        if row is not None:
            raise AssertionError(f"{what}: wrong values from row {row} on (the point after {row} updates)")
    _check_overflowing_run(gradient_descent)


def _check_overflowing_run(gradient_descent):
    """A degenerate run keeps the contract's shape: every row, even after the point overflows."""
    fn, grad = _GD_FUNCTIONS["the bowl x**2 + 10 y**2"]
    # Each update multiplies y by 1 - 20 * 1e6: float64 (max ~1.8e308) overflows at update 43 of 50,
    # then inf - inf makes NaN; rows 0-40 are ordinary finite numbers.
    learning_rate, steps, finite_rows = 1e6, 50, 41
    expected = gradient_descent_path(grad, [1.0, 1.0], learning_rate, steps)
    what = (f"gradient_descent on the bowl x**2 + 10 y**2 from [1.0, 1.0], learning rate {learning_rate:g}, "
            f"{steps} steps (a run that overflows to inf, then NaN)")
    with no_optimizers(what):
        path = call(gradient_descent, _float64_input(fn), [1.0, 1.0], learning_rate, steps, what=what)
    assert_shape(path, expected.shape, f"{what}; a diverging run still returns steps + 1 rows")
    got = as_array(path, what)
    assert_close(got[:finite_rows], expected[:finite_rows], f"{what}: rows before the overflow", rtol=1e-7, atol=0)
    if np.isfinite(got[-1]).any():
        raise AssertionError(f"{what}: the last row is finite, but the run overflowed long before")
# --------------------------------------------------------------------------- exercise 3

def _classify(path, losses) -> str:
    path = np.asarray(path, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if not np.all(np.isfinite(losses)) or losses[-1] > losses[0]:
        return "diverging"
    steps = np.diff(path, axis=0)
    pairs = len(steps) - 1
    zigzags = int(np.sum(np.sum(steps[:-1] * steps[1:], axis=1) < 0)) if pairs > 0 else 0
    return "oscillating" if 2 * zigzags > pairs else "converging"


def _gd_run(loss, grad, start, learning_rate, steps):
    path = gradient_descent_path(grad, start, learning_rate, steps)
    with np.errstate(all="ignore"):
        return path, np.array([loss(q) for q in path])


_RUN_FUNCTIONS = {  # name: (loss, gradient, start)
    "the bowl x**2 + 10 y**2": (lambda p: p[0] ** 2 + 10 * p[1] ** 2,
                                lambda p: np.array([2 * p[0], 20 * p[1]]), [1.0, 1.0]),
    "the parabola 3 x**2 (1-D)": (lambda p: 3 * p[0] ** 2, lambda p: 6 * p, [2.0]),
    "a rotated quadratic": (lambda p: 0.5 * p @ _ROT_A @ p + _ROT_B @ p + 2.2,
                            lambda p: _ROT_A @ p + _ROT_B, [2.0, -1.0]),
    "the Rosenbrock function": (lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2,
                                lambda p: np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2),
                                                    200 * (p[1] - p[0] ** 2)]), [-1.2, 1.0]),
    "the quartic x**4 + y**4": (lambda p: p[0] ** 4 + p[1] ** 4, lambda p: 4 * p ** 3, [1.5, -0.7]),
    "sin(x) cos(y) + 0.05 (x**2 + y**2)": (
        lambda p: np.sin(p[0]) * np.cos(p[1]) + 0.05 * (p[0] ** 2 + p[1] ** 2),
        lambda p: np.array([np.cos(p[0]) * np.cos(p[1]) + 0.1 * p[0], -np.sin(p[0]) * np.sin(p[1]) + 0.1 * p[1]]),
        [1.0, 2.5]),
}

_REAL_RUNS = [  # function, learning rates, steps
    ("the bowl x**2 + 10 y**2", (0.005, 0.03, 0.06, 0.08, 0.095, 0.1, 0.104, 0.12, 0.3), 40),
    ("the parabola 3 x**2 (1-D)", (0.05, 0.2, 1 / 3, 0.3, 0.34, 0.5), 30),
    ("a rotated quadratic", (0.05, 0.3, 0.5, 0.54, 0.6), 40),
    ("the Rosenbrock function", (1e-4, 1e-3, 2e-3, 5e-3), 60),
    ("the quartic x**4 + y**4", (0.01, 0.05, 0.2, 1.0), 40),
    ("sin(x) cos(y) + 0.05 (x**2 + y**2)", (0.1, 1.0, 5.0, 12.0, 25.0), 40),
]


def _edge_runs(rng):
    """(description, path, losses) built by hand around the rule's boundaries."""
    runs = []
    a, b = np.array([0.6, -0.4]), np.array([-0.6, 0.4])
    path = np.array([a if k % 2 == 0 else b for k in range(11)])
    runs.append(("a run bouncing between two points with a constant loss (last loss equal to the first)",
                 path, np.full(11, 0.52)))
    path = np.cumsum(np.vstack([[0.0, 0.0], [[1, 0], [1, 0.2], [1, 0], [-1, 0.1], [1, 0]]]), axis=0) * 0.1
    runs.append(("a path where exactly half of the step pairs zig-zag", path, np.linspace(3, 1, 6)))
    path = np.cumsum(np.vstack([[0.0, 0.0], [[1, 0], [-1, 0], [1, 0], [1, 0.5], [-1, 0], [-1, 0.5]]]), axis=0)
    runs.append(("a path where one more than half of the step pairs zig-zag", path, np.linspace(3, 1, 7)))
    losses = np.linspace(5.0, 1.0, 12)
    losses[-1] = np.nan
    runs.append(("a run whose last loss is NaN", np.cumsum(rng.normal(size=(12, 2)) * 0.1 + 0.3, axis=0), losses))
    losses = np.linspace(5.0, 1.0, 12)
    losses[6:] = np.inf
    runs.append(("a run whose loss becomes infinite", np.cumsum(np.ones((12, 2)), axis=0), losses))
    losses = np.linspace(5.0, 1.0, 10)
    losses[4] = np.nan
    runs.append(("a run with a NaN loss in the middle", np.cumsum(np.ones((10, 3)), axis=0), losses))
    k = np.arange(15)[:, None]
    path = np.hstack([(-1.2) ** k, 0.5 * (-1.1) ** k])
    runs.append(("a zig-zagging run whose loss grows", path, path[:, 0] ** 2 + 2 * path[:, 1] ** 2))
    path = np.cumsum(np.full((9, 2), 0.2), axis=0)
    losses = np.array([4.0, 3.0, 3.5, 2.0, 2.5, 1.5, 1.0, 1.2, 0.9])
    runs.append(("a run whose loss goes up now and then but ends lower, without zig-zags", path, losses))
    runs.append(("a run that starts at the minimum (steps of length zero)", np.zeros((8, 2)), np.zeros(8)))
    runs.append(("a run of a single step", np.array([[1.0, 1.0], [0.5, 0.2]]), np.array([2.0, 0.4])))
    runs.append(("a run of a single step that raises the loss", np.array([[1.0, 1.0], [2.0, -2.0]]),
                 np.array([2.0, 8.0])))
    runs.append(("a run of two steps that zig-zag once", np.array([[1.0], [-0.5], [0.2]]),
                 np.array([1.0, 0.25, 0.04])))
    path = np.cumsum(np.vstack([[0.0, 0.0], [[1, 0], [-1, 0]] * 5]), axis=0)
    runs.append(("a zig-zagging run whose last loss is slightly below the first", path,
                 np.r_[np.full(10, 0.5), 0.5 - 1e-12]))
    return runs


@checked
def check_classify_run(classify_run):
    rng = case_rng("classify_run")
    cases = []
    for name, rates, steps in _REAL_RUNS:
        loss, grad, start = _RUN_FUNCTIONS[name]
        for lr in rates:
            path, losses = _gd_run(loss, grad, start, lr, steps)
            cases.append((f"a gradient-descent run on {name} with learning rate {lr:g} ({steps} steps)",
                          path, losses))
    cases += _edge_runs(rng)
    containers = [("NumPy arrays", lambda v: v), ("float64 tensors", lambda v: tf.constant(v, tf.float64)),
                  ("lists", lambda v: v.tolist())]
    for index, (description, path, losses) in enumerate(cases):
        expected = _classify(path, losses)
        label, wrap = containers[index % len(containers)]
        what = f"classify_run on {description} (path and losses as {label})"
        got = call(classify_run, wrap(path), wrap(losses), what=what)
        assert_python_str(got, what, choices=("converging", "oscillating", "diverging"))
        if got != expected:
            raise AssertionError(f"{what}: returned {got!r}, which is not what the rule gives (check the rules "
                                 "and their order)")


# --------------------------------------------------------------------------- exercises 4-6

class _Optimizer:
    """One of the three step functions: its Keras twin and how its state maps to Keras' variables."""

    def __init__(self, name: str, keras_name: str, state_names: tuple[str, ...], keras_state: tuple[str, ...],
                 reference: Callable, with_step: bool = False):
        self.name, self.keras_name = name, keras_name
        self.state_names, self.keras_state = state_names, keras_state
        self.reference, self.with_step = reference, with_step

    def keras(self, kwargs: dict):
        return getattr(keras.optimizers, self.keras_name)(**kwargs)

    def label(self, kwargs: dict) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in kwargs.items())
        return f"keras.optimizers.{self.keras_name}({args})"


def _sgd_reference(p, g, velocity, learning_rate=0.01, momentum=0.0):
    velocity = momentum * velocity - learning_rate * g
    return p + velocity, velocity


def _rmsprop_reference(p, g, s, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    s = rho * s + (1 - rho) * g * g
    return p - learning_rate * g / np.sqrt(s + epsilon), s


def _adam_reference(p, g, m, v, step, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    alpha = learning_rate * math.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
    return p - alpha * m / (np.sqrt(v) + epsilon), m, v


_SGD = _Optimizer("sgd_momentum_step", "SGD", ("velocity",), ("momentum",), _sgd_reference)
_RMSPROP = _Optimizer("rmsprop_step", "RMSprop", ("mean_square",), ("velocity",), _rmsprop_reference)
_ADAM = _Optimizer("adam_step", "Adam", ("m", "v"), ("momentum", "velocity"), _adam_reference, with_step=True)

_TRAJECTORIES = {  # shape, dtype, gradient scale, steps, keyword arguments ({}: the defaults)
    "sgd_momentum_step": [
        ((5,), "float32", 1.0, 60, {}),
        ((4, 3), "float32", 1.0, 80, {"learning_rate": 0.05, "momentum": 0.9}),
        ((), "float64", 1.0, 60, {"learning_rate": 0.1, "momentum": 0.5}),
        ((2, 3, 2), "float32", 1e3, 60, {"learning_rate": 0.002, "momentum": 0.99}),
        ((6,), "float64", 0.1, 50, {"learning_rate": 0.3, "momentum": 0.0}),
    ],
    "rmsprop_step": [
        ((5,), "float32", 1.0, 60, {}),
        ((4, 3), "float32", 1.0, 60, {"learning_rate": 0.01, "rho": 0.5}),
        ((), "float64", 1.0, 60, {"learning_rate": 0.003, "rho": 0.99, "epsilon": 0.1}),
        ((2, 3, 2), "float32", 1e-4, 60, {}),
        ((6,), "float64", 1e3, 50, {"learning_rate": 0.05, "rho": 0.9, "epsilon": 1e-3}),
    ],
    "adam_step": [
        ((5,), "float32", 1.0, 60, {}),
        ((4, 3), "float32", 1.0, 80, {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9}),
        ((), "float64", 1e-3, 60, {"learning_rate": 0.003, "beta_1": 0.95, "beta_2": 0.99, "epsilon": 1e-3}),
        ((2, 3, 2), "float32", 1e-4, 60, {}),
        ((6,), "float64", 1e3, 100, {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.999, "epsilon": 1e-7}),
    ],
}

_SINGLE_STEPS = {  # shape, dtype, keyword arguments, step number (Adam)
    "sgd_momentum_step": [((3,), "float32", {"learning_rate": 0.1, "momentum": 0.9}, None),
                          ((2, 4), "float64", {"learning_rate": 0.03, "momentum": 0.7}, None),
                          ((), "float32", {"learning_rate": 0.5, "momentum": 0.0}, None),
                          ((2, 2, 3), "float64", {}, None)],
    "rmsprop_step": [((3,), "float32", {"learning_rate": 0.01, "rho": 0.8}, None),
                     ((2, 4), "float64", {"learning_rate": 0.1, "rho": 0.95, "epsilon": 0.01}, None),
                     ((), "float32", {}, None),
                     ((2, 2, 3), "float64", {"learning_rate": 0.001, "rho": 0.5, "epsilon": 1e-7}, None)],
    "adam_step": [((3,), "float32", {"learning_rate": 0.01}, 1),
                  ((2, 4), "float64", {"learning_rate": 0.1, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 0.01}, 2),
                  ((), "float32", {}, 7),
                  ((2, 2, 3), "float64", {"learning_rate": 0.002, "beta_1": 0.5, "beta_2": 0.99}, 1000)],
}


def _gradients(rng, shape, steps, scale):
    """A gradient sequence with a slowly turning trend, noise, sign changes and some exact zeros."""
    base = rng.normal(size=shape)
    grads = np.array([(base * np.cos(t / 9) + 0.5 * rng.normal(size=shape)) * scale for t in range(steps)])
    grads[rng.random(grads.shape) < 0.08] = 0.0
    return grads


def _call_step(opt: _Optimizer, step_fn, param, grad, state, t, kwargs, what):
    args = (param, grad, *state) + ((t,) if opt.with_step else ())
    names = ("new param",) + tuple(f"new {s}" for s in opt.state_names)
    out = unpack(call(step_fn, *args, what=what, **kwargs), names, what, lists_too=True)
    for value, name in zip(out, names):
        assert_tensor(value, tuple(param.shape), param.dtype.name, f"{what}: the {name}")
    return out[0], tuple(out[1:])


def _keras_run(opt: _Optimizer, p0, grads, dtype, kwargs):
    """Keras' own optimizer on the same gradients (the tests check _reference_run against it)."""
    variable = keras.Variable(p0, dtype=dtype, name="param")
    optimizer = opt.keras(kwargs)
    params, states = [], []
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g, dtype), variable)])
        by_name = {v.name: v for v in optimizer.variables}
        params.append(keras.ops.convert_to_numpy(variable).astype(np.float64))
        states.append([keras.ops.convert_to_numpy(by_name[f"param_{s}"]).astype(np.float64)
                       if f"param_{s}" in by_name else None for s in opt.keras_state])
    # SGD without momentum keeps no state in Keras.
    return np.array(params), [None if states[0][i] is None else np.array([s[i] for s in states])
                              for i in range(len(opt.keras_state))]


def _reference_run(opt: _Optimizer, p0, grads, kwargs):
    """Keras' update rule in exact float64 arithmetic: what a correct step function converges to.
    Running Keras itself costs about 2.5 s per notebook; tests/test_checks.py shows that the two
    agree well inside the grading tolerance on every trajectory below."""
    p, state = p0, [np.zeros_like(p0) for _ in opt.state_names]
    params, states = [], []
    for t, g in enumerate(grads, start=1):
        p, *state = opt.reference(p, g, *state, *((t,) if opt.with_step else ()), **kwargs)
        params.append(p)
        states.append(state)
    return np.array(params), [np.array([s[i] for s in states]) for i in range(len(opt.state_names))]


def _trajectory_inputs(rng, shape, dtype, scale, steps):
    p0 = (rng.normal(size=shape) * 2).astype(dtype).astype(np.float64)
    return p0, _gradients(rng, shape, steps, scale).astype(dtype).astype(np.float64)


def _parameter_tolerance(p0, want_params, dtype):
    """A small share of the typical step, plus the parameter's float rounding over t steps.

    2e-3 of the largest step and of the distance travelled: a wrong hyper-parameter or a missing
    bias correction moves the parameter by a sizeable share of a step per step (far above it), while
    float32 arithmetic in another order stays below a twentieth of it (tests/test_checks.py measures
    Keras' own float32 updates against the float64 rule at under 5% of this tolerance)."""
    eps = np.finfo(dtype).eps
    moves = np.abs(np.diff(np.concatenate([p0[None], want_params]), axis=0))
    typical = float(np.max(moves)) if moves.size else 0.0
    counts = np.arange(1, len(want_params) + 1).reshape((-1,) + (1,) * (want_params.ndim - 1))
    return 2e-3 * typical + 2e-3 * np.abs(want_params - p0) + 2 * counts * eps * np.abs(want_params) + 1e-30


def _state_tolerance(want):
    """1e-5 of the state's scale plus 1e-4 relative: float32 accumulates ~1e-7 per step over <= 100
    steps; tests/test_checks.py measures Keras' float32 state within a tenth of it."""
    scale_state = float(np.max(np.abs(want))) if want.size else 0.0
    return 1e-5 * scale_state + 1e-4 * np.abs(want) + 1e-30


def _check_trajectory(opt: _Optimizer, step_fn, rng, shape, dtype, scale, steps, kwargs):
    p0, grads = _trajectory_inputs(rng, shape, dtype, scale, steps)
    want_params, want_states = _reference_run(opt, p0, grads, kwargs)
    hyper = opt.label(kwargs) if kwargs else f"keras.optimizers.{opt.keras_name}() with the default hyper-parameters"
    what = (f"{opt.name} over {steps} steps next to {hyper} on the same gradients "
            f"({dtype}, shape {shape}, gradients of scale {scale:g})")
    param = tf.constant(p0, dtype)
    state = tuple(tf.zeros(shape, dtype) for _ in opt.state_names)
    got_params, got_states = [], [[] for _ in opt.state_names]
    with no_optimizers(opt.name), no_new_variables(what, "keep the state in the tensors you return"):
        for t, g in enumerate(grads, start=1):
            param, state = _call_step(opt, step_fn, param, tf.constant(g, dtype), state, t, kwargs,
                                      f"{what}, step {t}")
            got_params.append(as_array(param, f"{what}, step {t}: the new param"))
            for i, s in enumerate(state):
                got_states[i].append(as_array(s, f"{what}, step {t}: the new {opt.state_names[i]}"))
    bad = first_bad_row(np.array(got_params), want_params, _parameter_tolerance(p0, want_params, dtype))
    if bad is not None:
        raise AssertionError(f"{what}: the parameter differs from Keras' from step {bad + 1} on")
    for name, got, want in zip(opt.state_names, got_states, want_states):
        bad = first_bad_row(np.array(got), want, _state_tolerance(want))
        if bad is not None:
            raise AssertionError(f"{what}: the returned {name} differs from the {name} of Keras' update rule "
                                 f"from step {bad + 1} on (return the new {name} itself, as defined above)")


def _check_single_steps(opt: _Optimizer, step_fn, rng):
    """One step from a random (non-zero) state, against the float64 formula."""
    for shape, dtype, kwargs, t in _SINGLE_STEPS[opt.name]:
        p = rng.normal(size=shape) * 2
        g = rng.normal(size=shape) * 1.5
        state = [rng.normal(size=shape) * 0.5 for _ in opt.state_names]
        if opt.name != "sgd_momentum_step":
            state[-1] = np.abs(state[-1]) * 0.3  # a mean square is never negative
        p, g = p.astype(dtype).astype(np.float64), g.astype(dtype).astype(np.float64)
        state = [s.astype(dtype).astype(np.float64) for s in state]
        args = (p, g, *state) + ((t,) if opt.with_step else ())
        expected = opt.reference(*args, **kwargs)
        hyper = ", ".join(f"{k}={v:g}" for k, v in kwargs.items()) or "default hyper-parameters"
        at = f", step={t}" if opt.with_step else ""
        what = f"{opt.name} from a non-zero state ({hyper}{at}; {dtype}, shape {shape})"
        with no_optimizers(opt.name), no_new_variables(what, "keep the state in the tensors you return"):
            new_param, new_state = _call_step(opt, step_fn, tf.constant(p, dtype), tf.constant(g, dtype),
                                               tuple(tf.constant(s, dtype) for s in state), t, kwargs, what)
        for name, got, want in zip(opt.state_names, new_state, expected[1:]):
            assert_result(got, want, f"{what}: the new {name}", dtype=dtype)
        assert_result(new_param, expected[0], f"{what}: the new param", dtype=dtype)


def _check_traceable(opt: _Optimizer, step_fn):
    n_tensors = 2 + len(opt.state_names)
    specs = tuple(tf.TensorSpec((3, 4), tf.float32) for _ in range(n_tensors))

    def traced(*tensors):
        args = tensors + ((3,) if opt.with_step else ())
        return step_fn(*args)

    with no_optimizers(opt.name):
        assert_no_ops(traced, specs, opt.name, APPLY_OPS, advice="write the update yourself")


def _check_optimizer(opt: _Optimizer, step_fn):
    rng = case_rng(opt.name)
    _check_traceable(opt, step_fn)
    _check_single_steps(opt, step_fn, rng)
    for shape, dtype, scale, steps, kwargs in _TRAJECTORIES[opt.name]:
        _check_trajectory(opt, step_fn, rng, shape, dtype, scale, steps, kwargs)


@checked
def check_sgd_momentum_step(sgd_momentum_step):
    _check_optimizer(_SGD, sgd_momentum_step)


@checked
def check_rmsprop_step(rmsprop_step):
    _check_optimizer(_RMSPROP, rmsprop_step)


@checked
def check_adam_step(adam_step):
    _check_optimizer(_ADAM, adam_step)


# --------------------------------------------------------------------------- exercise 7

def _statistics(x: np.ndarray):
    """Column means and population stds; a constant column gets its value and std 1.

    Constant means all values equal, not a computed std of 0: rounding leaves most constant
    columns a tiny std (the float64 mean of 1000 copies of 0.1 is not exactly 0.1).
    """
    constant = (x == x[:1]).all(axis=0)
    mean = np.where(constant, x[0], x.mean(axis=0))
    std = np.sqrt(((x - mean) ** 2).mean(axis=0))
    return mean, np.where(constant, 1.0, std)


def _constant_column_cases():
    """Constant columns whose computed std is not exactly 0 (measured: float32 and float64 means of
    1000 copies of 0.1 and of 30000.7 are off by an ulp or more), beside a column that varies."""
    ramp = np.linspace(-1.0, 1.0, 1000)
    # 30000.7: a float32 column mean of it is off by up to 0.25 (measured, NumPy's axis-0 mean), so
    # that case asks for std 1 and no +-1 noise, not for an exact centering
    for value, dtype, tol in ((0.1, "float32", 1e-4), (0.1, "float64", 1e-9), (30000.7, "float32", 0.5)):
        x = np.column_stack([ramp, np.full(1000, value)]).astype(dtype)
        yield (f"a constant column ({value:g} in all 1000 examples, whose computed std is tiny but not 0)",
               x if dtype == "float64" else tf.constant(x), dtype, tol)


def _standardize_cases(rng):
    """(description, x as the student gets it, dtype, tolerance of the standardized values)."""
    cases = []
    x = rng.normal(size=(40, 3)) * [1.0, 50.0, 1e-3] + [5.0, -200.0, 0.01]
    cases.append(("features on very different scales", x, "float64", 1e-9))
    x = rng.normal(size=(25, 4)) * [2.0, 0.1, 30.0, 1.0] + [1.0, 0.0, 100.0, -7.0]
    cases.append(("a float32 tensor of features", tf.constant(x, tf.float32), "float32", 1e-4))
    x = rng.normal(size=(30, 3)) * 2.0
    x[:, 1] = 2.5
    cases.append(("a constant column", x, "float64", 1e-9))
    x = (rng.normal(size=(500, 2)) * [5.0, 1.0] + [3e4, -2e4]).astype(np.float32)
    cases.append(("columns with a large mean and a small spread (30000 +- 5) in float32", x, "float32", 3e-3))
    x = rng.normal(size=(300, 2)) * [1.0, 0.5] + [1e9, -3e8]
    cases.append(("columns with a large mean and a small spread (1e9 +- 1) in float64", tf.constant(x), "float64",
                  1e-5))
    x = rng.normal(size=(1, 3))
    cases.append(("a single example (every column is constant)", x, "float64", 1e-9))
    x = (rng.normal(size=(30, 1)) * 4 + 1).astype(np.float32)
    cases.append(("a single feature", x, "float32", 1e-4))
    return cases + list(_constant_column_cases())


def _check_standardized(result, x64, mean, std, dtype, tol, what, given):
    xs, got_mean, got_std = unpack(result, ("x_standardized", "mean", "std"), what, lists_too=True)
    n, d = x64.shape
    for value, name, shape in ((xs, "x_standardized", (n, d)), (got_mean, "mean", (d,)), (got_std, "std", (d,))):
        assert_tensor(value, shape, dtype, f"{what}: {name}")
    stat_tol = {"rtol": 1e-6 if dtype == "float64" else 1e-5, "atol": 1e-12}
    if given:
        assert_close(got_mean, mean, f"{what}: the returned mean (return the statistics you were given)", **stat_tol)
        assert_close(got_std, std, f"{what}: the returned std (return the statistics you were given)", **stat_tol)
    else:
        spread = np.sqrt(((x64 - x64.mean(axis=0)) ** 2).mean(axis=0))
        assert_close(got_mean, mean, f"{what}: the mean of each column", rtol=stat_tol["rtol"],
                     atol=max(1e-12, float(np.max(spread)) * tol))
        got_std64 = as_array(got_std, f"{what}: std")
        constant = std == 1.0
        if np.any(constant & (got_std64 != 1.0)):
            raise AssertionError(f"{what}: a constant column (all its values equal) must get std 1; rounding can "
                                 "leave its computed std tiny but not 0, so look at the values themselves")
        assert_close(got_std, std, f"{what}: the std of each column (population std: divide by n, and subtract "
                                   "the mean before squaring)", rtol=max(stat_tol["rtol"], tol), atol=1e-12)
    expected = (x64 - mean) / std
    assert_close(xs, expected, f"{what}: x_standardized", rtol=tol, atol=tol)


@checked
def check_standardize(standardize):
    rng = case_rng("standardize")
    for description, x, dtype, tol in _standardize_cases(rng):
        x64 = to64(x)
        mean, std = _statistics(x64)
        what = f"standardize(x) on {description} ({dtype}, {x64.shape[0]} x {x64.shape[1]})"
        result = call(standardize, x, what=what)
        _check_standardized(result, x64, mean, std, dtype, tol, what, given=False)
    # Test data standardized with the training statistics.
    for dtype, as_tensor in (("float64", False), ("float32", True)):
        train = rng.normal(size=(60, 3)) * [3.0, 0.2, 40.0] + [10.0, -1.0, 500.0]
        test = rng.normal(size=(15, 3)) * [5.0, 0.1, 10.0] + [14.0, -0.5, 420.0]
        train, test = train.astype(dtype).astype(np.float64), test.astype(dtype).astype(np.float64)
        mean, std = _statistics(train)
        mean, std = mean.astype(dtype).astype(np.float64), std.astype(dtype).astype(np.float64)
        kind = "tensors" if as_tensor else "NumPy arrays"
        what = (f"standardize(x_test, mean, std) with the training set's statistics given as {dtype} {kind} "
                "(the test set has other statistics)")
        wrap = (lambda v: tf.constant(v, dtype)) if as_tensor else (lambda v: v.astype(dtype))
        result = call(standardize, wrap(test), wrap(mean), wrap(std), what=what)
        _check_standardized(result, test, mean, std, dtype, 1e-4 if dtype == "float32" else 1e-9,
                            what, given=True)


# --------------------------------------------------------------------------- exercise 8

def _reference_regression(x: np.ndarray, y: np.ndarray, learning_rate: float, epochs: int):
    """Full-batch gradient descent on the MSE from w = 0, b = 0; losses[k] is the loss before update k."""
    n, d = x.shape
    w, b, losses = np.zeros(d), 0.0, []
    with np.errstate(all="ignore"):
        for _ in range(epochs):
            residual = x @ w + b - y
            losses.append(np.mean(residual ** 2))
            w = w - learning_rate * 2 * x.T @ residual / n
            b = b - learning_rate * 2 * residual.mean()
    return w, b, np.array(losses)


def _regression_cases(rng):
    """(description, x, y as the student gets them, learning rate, epochs)."""
    cases = []
    x = rng.normal(size=(50, 1))
    cases.append(("one standardized feature, NumPy float64", x, 1.5 * x[:, 0] - 0.7 + 0.2 * rng.normal(size=50),
                  0.1, 30))
    x = rng.normal(size=(120, 3))
    y = x @ [0.5, -2.0, 1.0] + 3.0 + 0.1 * rng.normal(size=120)
    cases.append(("3 features as float32 tensors", tf.constant(x, tf.float32), tf.constant(y, tf.float32), 0.05, 60))
    x = rng.normal(size=(80, 5)).astype(np.float32)
    y = (x @ rng.normal(size=5) + 0.3 * rng.normal(size=80)).astype(np.float32)
    cases.append(("5 features as float32 NumPy arrays", x, y, 0.2, 40))
    x = rng.normal(size=(60, 2)) * [3.0, 1.0] + [10.0, -4.0]
    y = x @ [4.0, 7.0] + 20.0 + rng.normal(size=60)
    cases.append(("2 raw features (mean 10, scale 3) with a small learning rate", x, y, 1e-3, 50))
    x = rng.normal(size=(40, 2))
    y = 1e4 + x @ [300.0, -50.0] + 10 * rng.normal(size=40)
    cases.append(("targets of magnitude 1e4", tf.constant(x), tf.constant(y), 0.1, 20))
    x = rng.normal(size=(30, 2))
    y = x @ [1.0, 1.0] + 0.5
    cases.append(("a learning rate too large (the loss grows)", x, y, 1.2, 15))
    x = rng.normal(size=(1, 2))
    cases.append(("a single example", x, np.array([2.0]), 0.1, 10))
    x = rng.normal(size=(20, 3))
    cases.append(("zero epochs", x, rng.normal(size=20), 0.1, 0))
    return cases


def _check_regression_result(result, x64, epochs, what):
    w, b, losses = unpack(result, ("w", "b", "losses"), what, lists_too=True)
    assert_tensor(w, (x64.shape[1],), "float64", f"{what}: w")
    assert_tensor(b, (), "float64", f"{what}: b")
    assert_tensor(losses, (epochs,), None, f"{what}: losses", kind="any")
    return w, b, losses


def _train(train_linear_regression, x, y, learning_rate, epochs, what):
    with no_optimizers(what), blocked(FIT, f"{what} calls model.fit: write the training loop yourself"), \
            uses_a_tape(what, epochs > 0, "get dL/dw and dL/db from the tape, not from a hand-written formula"):
        return call(train_linear_regression, x, y, learning_rate, epochs, what=what)


@checked
def check_train_linear_regression(train_linear_regression):
    rng = case_rng("train_linear_regression")
    for description, x, y, learning_rate, epochs in _regression_cases(rng):
        x64, y64 = to64(x), to64(y)
        what = (f"train_linear_regression on {description} ({x64.shape[0]} examples, learning rate "
                f"{learning_rate:g}, {epochs} epochs)")
        result = _train(train_linear_regression, x, y, learning_rate, epochs, what)
        w, b, losses = _check_regression_result(result, x64, epochs, what)
        want_w, want_b, want_losses = _reference_regression(x64, y64, learning_rate, epochs)
        got_losses = as_array(losses, f"{what}: losses")
        if epochs:
            assert_close(got_losses[:1], want_losses[:1], f"{what}: losses[0] (the loss at w = 0, b = 0)",
                         rtol=1e-9, atol=1e-12)
            k = first_bad_row(got_losses, want_losses, 1e-7 * np.abs(want_losses) + 1e-12)
            if k is not None:
                raise AssertionError(f"{what}: the loss history is wrong from losses[{k}] on (losses[k] is the "
                                     "MSE before update k; check the gradients and the update)")
        scale = 1e-7 * max(1.0, float(np.max(np.abs(want_w))), abs(float(want_b)))
        assert_close(w, want_w, f"{what}: w after the last update", rtol=1e-7, atol=scale)
        assert_close(b, want_b, f"{what}: b after the last update", rtol=1e-7, atol=scale)


#: "Reached" means within 1% of the least-squares MSE. The reference solution reaches it in 3 epochs
#: on standardized features and not within 100 on the raw ones (tests/test_checks.py measures both
#: against these limits); a standardize that does not center stalls on the raw mean like raw data.
SPEEDUP_REACHED = 1.01
SPEEDUP_MAX_FAST_EPOCHS = 60
SPEEDUP_MIN_RATIO = 5


def speedup_epochs(train_linear_regression, standardize) -> tuple[int | None, int | None]:
    """Epochs to reach the target on standardized and on raw features (None: not within the run)."""
    rng = case_rng("standardization_speedup")
    n, epochs = 150, 100
    x_raw = np.column_stack([rng.normal(80.0, 15.0, n), rng.normal(-3.0, 0.05, n), rng.normal(0.0, 2.0, n)])
    y = x_raw @ [0.2, 30.0, -1.5] + 4.0 + rng.normal(0.0, 0.3, n)
    design = np.column_stack([x_raw, np.ones(n)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    best = float(np.mean((design @ coef - y) ** 2))
    # Half the stability limit 2 / lambda_max of the MSE's Hessian 2 X^T X / n: stable, and as fast as it safely gets.
    raw_rate = 1.0 / float(np.linalg.eigvalsh(2 * design.T @ design / n).max())
    std_rate = 0.5  # the same rule on standardized features, whose Hessian's largest eigenvalue is ~2-4

    what = "standardize(x) on the raw features of the speed-up check"
    x_std = unpack(call(standardize, x_raw, what=what), ("x_standardized", "mean", "std"), what, lists_too=True)[0]
    reached = {}
    for label, x, rate in (("raw", x_raw, raw_rate), ("standardized", x_std, std_rate)):
        what = f"train_linear_regression on {label} features (learning rate {rate:.3g}, {epochs} epochs)"
        _, _, losses = _check_regression_result(_train(train_linear_regression, x, y, rate, epochs, what),
                                                x_raw, epochs, what)
        reached[label] = epochs_to_reach(as_array(losses, f"{what}: losses"), best * SPEEDUP_REACHED)
    return reached["standardized"], reached["raw"]


@checked
def check_standardization_speedup(train_linear_regression, standardize):
    fast, slow = speedup_epochs(train_linear_regression, standardize)
    if fast is None or fast > SPEEDUP_MAX_FAST_EPOCHS:
        raise AssertionError("on standardized features (from your standardize) full-batch gradient descent with "
                             "learning rate 0.5 should get within 1% of the best possible MSE in well under "
                             "100 epochs; it did not")
    if slow is not None and slow < SPEEDUP_MIN_RATIO * fast:
        raise AssertionError("on raw features (a large mean, different scales) gradient descent should need far more "
                             "epochs than on standardized ones; your functions do not show that")


# --------------------------------------------------------------------------- exercise 9

def _stable_limit(x: np.ndarray) -> float:
    """2 / the largest eigenvalue of the MSE's Hessian (2/n) A^T A, A = [x, 1] (the bias's column)."""
    design = np.column_stack([x, np.ones(len(x))])
    return float(2.0 / np.linalg.eigvalsh(2.0 / len(x) * design.T @ design)[-1])


def _stable_limit_cases(rng):
    """(x as the student gets it, what the case is for)."""
    yield rng.normal(2.0, 1.5, size=(60, 3)) * [1.0, 0.5, 3.0], "features with a non-zero mean (the bias couples in)"
    yield rng.normal(size=(200, 4)), "centered features of unit scale (the bias's own curvature, 2, can be the largest)"
    yield rng.normal(size=(50, 2)) * [0.1, 0.05] + [5.0, -3.0], "small spread around large means"
    yield rng.normal(size=(40, 2)) * [300.0, 1.0], "one feature 300 times larger than the other"
    yield rng.normal(size=(3, 6)), "more features than examples (a singular Hessian)"
    yield rng.normal(size=(1, 1)) + 2.0, "a single example with a single feature"
    yield tf.constant(rng.normal(1.0, 2.0, size=(30, 2)), tf.float32), "a float32 tensor"
    yield np.ones((10, 1)) * 0.5, "a constant feature (a copy of the bias's column, scaled)"


@checked
def check_max_stable_learning_rate(max_stable_learning_rate):
    rng = case_rng("max_stable_learning_rate")
    for x, kind in _stable_limit_cases(rng):
        x64 = to64(x)
        what = f"max_stable_learning_rate(x) for x of shape {tuple(x64.shape)}: {kind}"
        got = call(max_stable_learning_rate, x, what=what)
        assert_python_float(got, what)
        want = _stable_limit(x64)
        if not (math.isfinite(got) and abs(got - want) <= 1e-6 * want):
            ratio = got / want if math.isfinite(got) and want else float("nan")
            hint = (" (off by a factor of 2: check the MSE's factor 2, and that the limit is 2 / the largest "
                    "curvature)" if abs(ratio - 2) < 1e-3 or abs(ratio - 0.5) < 1e-3 else
                    " (too large: at that rate descent diverges; is the bias in the model, and the batch mean?)"
                    if ratio > 1 else " (too small: descent would still converge above it)")
            raise AssertionError(f"{what}: wrong value{hint}")
