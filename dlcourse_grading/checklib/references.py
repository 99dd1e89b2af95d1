"""Reference implementations in float64 NumPy, shared by every chapter's checks.

References are written for clarity and exactness, never with the student's API: a check compares
the student's float32 or float64 result with these.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np


def to64(value: Any) -> np.ndarray:
    """A float64 NumPy copy of a tensor, variable, array, list or number."""
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    return np.array(value, dtype=np.float64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """exp() of -|x| only, so neither branch overflows."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


erf = np.vectorize(math.erf, otypes=[np.float64])


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def cross_entropy(logits: np.ndarray, targets: np.ndarray, axis: int = -1) -> np.ndarray:
    """Per-example categorical cross-entropy from logits, through log-softmax."""
    return -(targets * log_softmax(logits, axis)).sum(axis=axis)


def central_differences(f: Callable, x: Any, h: float, as_input: Callable = lambda v: v) -> np.ndarray:
    """(f(x + h e_i) - f(x - h e_i)) / 2h for every entry i, in float64.

    ``as_input`` turns the perturbed float64 array into what f takes (e.g. ``tf.constant``).
    """
    x = to64(x)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        keep = x[index]
        x[index] = keep + h
        plus = float(f(as_input(x)))
        x[index] = keep - h
        minus = float(f(as_input(x)))
        x[index] = keep
        grad[index] = (plus - minus) / (2 * h)
    return grad


def relative_error(a: Any, b: Any, eps: float = 1e-8) -> float:
    """max |a - b| / max(|a| + |b|, eps): eps is a floor of the denominator, not added to it."""
    a, b = to64(a), to64(b)
    return float((np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), eps)).max())


def gradient_descent_path(grad: Callable, start: Any, learning_rate: float, steps: int) -> np.ndarray:
    """The points p_0 = start, p_{k+1} = p_k - learning_rate * grad(p_k): shape (steps + 1, ...).

    Overflow is allowed (a diverging run keeps every row, inf and NaN included)."""
    p = to64(start)
    rows = [p.copy()]
    with np.errstate(all="ignore"):
        for _ in range(steps):
            p = p - learning_rate * grad(p)
            rows.append(p.copy())
    return np.array(rows)
