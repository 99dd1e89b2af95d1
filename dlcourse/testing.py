"""Assertions for the visible tests in assignments (and the hidden checks build on them).

They follow the order type → shape → value, and their messages say *what* is wrong
(which input, how large the error) without printing the expected answer.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np


def as_array(value: Any, what: str) -> np.ndarray:
    """A float64 NumPy copy of a tensor, array or number (a plain ndarray, never a subclass)."""
    if value is None:
        raise AssertionError(f"{what}: got None; did you forget to `return` the result?")
    try:
        if hasattr(value, "numpy") and callable(value.numpy):
            value = value.numpy()
        array = np.array(value, dtype=np.float64, copy=True)
    except Exception as exc:  # the message matters more than the exception type here
        raise AssertionError(f"{what}: expected a tensor, array or number, got {type(value).__name__} ({exc})") from None
    return array.view(np.ndarray)


def assert_tensor_like(value: Any, what: str) -> None:
    """A TensorFlow tensor, a Keras variable or a NumPy array: not a list or a float."""
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise AssertionError(f"{what}: expected a tensor (use keras.ops), got {type(value).__name__}")


def assert_shape(value: Any, shape: Iterable[int], what: str) -> None:
    assert_tensor_like(value, what)
    got, want = tuple(int(d) for d in value.shape), tuple(shape)
    if got != want:
        raise AssertionError(f"{what}: wrong shape {got}, expected {want}")


def assert_dtype(value: Any, dtype: str, what: str) -> None:
    assert_tensor_like(value, what)
    got = getattr(value.dtype, "name", str(value.dtype))
    if got != dtype:
        raise AssertionError(f"{what}: wrong dtype {got}, expected {dtype} (keep the input's dtype)")


def assert_close(actual: Any, expected: Any, what: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Values agree within tolerance; NaN or inf where a finite value belongs is its own message."""
    got = as_array(actual, what)
    want = np.array(expected, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{what}: wrong shape {got.shape}, expected {want.shape}")
    bad = ~np.isfinite(got) & np.isfinite(want)
    if bad.any():
        raise AssertionError(f"{what}: {int(bad.sum())} value(s) are NaN or infinite (numerical overflow?)")
    err = np.abs(got - want)
    tol = atol + rtol * np.abs(want)
    if not (err <= tol).all():
        worst = np.unravel_index(int(np.argmax(err - tol)), err.shape) if err.ndim else ()
        raise AssertionError(
            f"{what}: wrong values in {int((err > tol).sum())} of {err.size} entries "
            f"(largest error {float(err.max()):.3g} at index {tuple(int(i) for i in worst)})")


def assert_equal_number(actual: Any, expected: int | float, what: str) -> None:
    if isinstance(actual, bool) or not isinstance(actual, (int, float, np.integer, np.floating)):
        raise AssertionError(f"{what}: expected a Python number, got {type(actual).__name__}")
    if float(actual) != float(expected):
        raise AssertionError(f"{what}: wrong value {actual!r}")


def tape_gradient(fn: Any, x: Any, dtype: str = "float32") -> np.ndarray:
    """The tf.GradientTape gradient of sum(fn(x)) with respect to x, as float64 NumPy.

    For element-wise functions that is the derivative at every entry of x. Fails with a message
    when no gradient flows back (NumPy inside fn, a constant) or when it is NaN or infinite.
    """
    import tensorflow as tf  # here, not at the top: importing dlcourse must not load TensorFlow

    x = tf.constant(x, dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        if not tf.is_tensor(y):
            raise AssertionError(f"the result is a {type(y).__name__}, not a tensor: no gradient flows (use keras.ops)")
        total = tf.reduce_sum(y)
    grad = tape.gradient(total, x)
    if grad is None:
        raise AssertionError("no gradient flows back to the input (does the result depend on it through keras.ops?)")
    got = as_array(grad, "the gradient")
    if not np.isfinite(got).all():
        raise AssertionError(f"the tape gradient has {int((~np.isfinite(got)).sum())} NaN or infinite value(s) "
                             "(an exp() overflows, even in a branch that where() discards?)")
    return got
