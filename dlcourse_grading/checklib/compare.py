"""Comparing a student's result with a float64 reference: type → shape → dtype → values.

Tolerances and where they come from:
- float32 results: rtol 1e-4 is ~800 float32 ulps (2**-23 ≈ 1.2e-7), room for a different but
  correct order of operations and for a GPU's fused kernels; atol 1e-6 covers results near 0.
- float64 results: rtol 1e-6 still lets a float32 detour (error ~1e-7 relative, then compounded)
  through only where a case does not pin it down with its own, tighter tolerance.
- gradients in float32: rtol 1e-3 admits TensorFloat-32 matmuls on a GPU (10-bit mantissa, about
  5e-4 relative); the float64 cases pin the maths down.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import keras
import tensorflow as tf

from dlcourse.testing import as_array, assert_close, assert_dtype, assert_shape, assert_tensor_like
from dlcourse_grading.checklib.calls import call

FLOAT32_TOL = {"rtol": 1e-4, "atol": 1e-6}
FLOAT64_TOL = {"rtol": 1e-6, "atol": 1e-8}
GRAD32_TOL = {"rtol": 1e-3, "atol": 1e-5}
GRAD64_TOL = {"rtol": 1e-6, "atol": 1e-8}


#: What a contract's "tensor", "NumPy array" and "tensor or NumPy array" admit.
KINDS = ("tensor", "array", "any")


def assert_kind(value: Any, kind: str, what: str) -> None:
    """A contract that says "tensor" wants a TensorFlow tensor or a Keras/TF variable, not a NumPy
    array (it cannot be traced, differentiated or placed on a GPU); one that says "NumPy array"
    wants exactly that; "any" admits both."""
    assert_tensor_like(value, what)
    is_tensor = tf.is_tensor(value) or isinstance(value, (tf.Variable, keras.Variable))
    if kind == "tensor" and not is_tensor:
        raise AssertionError(f"{what}: expected a TensorFlow tensor, got {type(value).__name__} (use keras.ops, "
                             "and do not convert the result to NumPy)")
    if kind == "array" and not isinstance(value, np.ndarray):
        raise AssertionError(f"{what}: expected a NumPy array, got {type(value).__name__} (convert with "
                             "np.asarray(...))")


def assert_tensor(value: Any, shape: tuple[int, ...], dtype: str | None, what: str, kind: str = "tensor") -> None:
    """Type (see :func:`assert_kind`) → shape → dtype of one returned value."""
    assert_kind(value, kind, what)
    assert_shape(value, shape, what)
    if dtype is not None:
        assert_dtype(value, dtype, what)


def assert_result(result: Any, expected: Any, what: str, *, dtype: str | None = None,
                  rtol: float | None = None, atol: float | None = None, kind: str = "tensor") -> None:
    """Type → shape → dtype → values. ``expected`` is a float64 reference.

    The result must be of ``kind`` (a tensor unless the contract says otherwise); with ``dtype``
    given it must have it; tolerances default to the dtype's.
    """
    expected = np.asarray(expected, dtype=np.float64)
    assert_tensor(result, expected.shape, dtype, what, kind)
    tol = FLOAT64_TOL if dtype == "float64" else FLOAT32_TOL
    assert_close(result, expected, what, rtol=tol["rtol"] if rtol is None else rtol,
                 atol=tol["atol"] if atol is None else atol)


def assert_in_range(result: Any, low: float, high: float, what: str) -> None:
    values = as_array(result, what)
    if np.isnan(values).any():
        raise AssertionError(f"{what}: contains NaN")
    if (values < low).any() or (values > high).any():
        raise AssertionError(f"{what}: values outside [{low:g}, {high:g}]")


def scaled_tolerance(expected: np.ndarray, dtype: str) -> dict:
    """Tolerances for a sum of many products (a matmul, a gradient): relative, plus an absolute part
    scaled to the largest entry, since entries that cancel to nearly zero carry the rounding error
    of the terms that made them, not their own. float32: 5e-3 admits TensorFloat-32 matmuls on a
    GPU (about 1e-3 relative per product, compounded over two layers)."""
    size = float(np.abs(expected).max()) if expected.size else 1.0
    if dtype == "float64":
        return {"rtol": 1e-7, "atol": 1e-9 * max(size, 1e-3)}
    return {"rtol": 5e-3, "atol": 5e-3 * max(size, 1e-3)}


def diagnose(got: Any, expected: np.ndarray, batch: int | None = None) -> str:
    """A short diagnosis of a wrong array (a batch-size factor, a sign, a transpose, a factor 2), or ''.

    It names the kind of mistake, never the right values."""
    try:
        g = as_array(got, "")
    except AssertionError:
        return ""
    if g.shape != expected.shape or not np.isfinite(g).all() or not np.abs(expected).max() > 0:
        return ""

    def same(a, b):
        return np.allclose(a, b, rtol=1e-3, atol=1e-6 * np.abs(b).max())

    if batch and batch > 1 and (same(g * batch, expected) or same(g, expected * batch)):
        return " (off by a factor of the batch size: is there a 1/N, or one too many?)"
    if same(g, -expected):
        return " (the sign is flipped)"
    if g.ndim == 2 and g.shape[0] == g.shape[1] and same(g.T, expected):
        return " (it is the transpose of the right matrix)"
    for factor in (2.0, 0.5):
        if same(g, factor * expected):
            return " (off by a constant factor)"
    return ""


def with_hint(check: Callable[[], None], hint: Callable[[], str]) -> None:
    """Run ``check``; if it fails, append ``hint()`` (a diagnosis computed only on failure)."""
    try:
        check()
    except AssertionError as exc:
        raise AssertionError(f"{exc}{hint()}") from None


def assert_scaled(got: Any, expected: np.ndarray, what: str, dtype: str, batch: int | None = None) -> None:
    """:func:`assert_result` with :func:`scaled_tolerance` and a :func:`diagnose` hint on failure."""
    with_hint(lambda: assert_result(got, expected, what, dtype=dtype, **scaled_tolerance(expected, dtype)),
              lambda: diagnose(got, expected, batch))


def first_bad_row(got: np.ndarray, want: np.ndarray, tol: Any) -> int | None:
    """The first index along axis 0 where any entry is off by more than ``tol`` (NaN counts), or None."""
    bad = ~(np.abs(np.asarray(got, dtype=np.float64) - want) <= tol)
    if not bad.any():
        return None
    return int(np.argmax(bad.reshape(len(bad), -1).any(axis=1)))


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
