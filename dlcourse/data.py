"""Small toy data sets, generated in code (no downloads), for lectures and assignments.

Every maker takes a ``seed`` (the course seed by default) and returns ``float32``
NumPy arrays, so a notebook gets the same numbers on every run and machine.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from dlcourse.chapters import SEED

__all__ = ["wavy", "toy_function_1d", "linear_1d", "positive_and_centered", "toy_regression",
           "two_blobs", "mixed_scale_regression", "digits", "digits_order", "DIGITS_VISIBLE", "DIGITS_TRAIN"]


def wavy(x: np.ndarray) -> np.ndarray:
    """The default 1-D target: a wiggle on a gentle bowl, hard for a straight line."""
    return np.sin(2.0 * x) + 0.3 * x**2 - 1.0


def toy_function_1d(n: int = 256, fn: Callable[[np.ndarray], np.ndarray] | None = None,
                    low: float = -3.0, high: float = 3.0, noise: float = 0.05,
                    seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Noisy samples ``y = fn(x) + noise`` of a 1-D function on ``[low, high]``.

    Returns ``x`` and ``y`` of shape ``(n, 1)``, ``x`` sorted ascending. The default
    ``fn`` is ``sin(2x) + 0.3 x**2 - 1``.
    """
    rng = np.random.default_rng(seed)
    fn = fn or wavy
    x = np.sort(rng.uniform(low, high, size=(n, 1)), axis=0)
    y = fn(x) + noise * rng.standard_normal((n, 1))
    return x.astype("float32"), y.astype("float32")


def linear_1d(n: int = 200, x_mean: float = 0.0, x_std: float = 1.0, slope: float = 2.0,
              intercept: float = 1.0, noise: float = 0.1,
              seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """A straight-line task ``y = slope * x + intercept + noise`` with ``x ~ N(x_mean, x_std²)``.

    Returns ``x`` and ``y`` of shape ``(n,)``. A non-zero ``x_mean`` couples slope and
    intercept in the squared-error loss (the narrow valley); ``x_mean=0`` decouples them.
    """
    rng = np.random.default_rng(seed)
    x = x_mean + x_std * rng.standard_normal(n)
    y = slope * x + intercept + noise * rng.standard_normal(n)
    return x.astype("float32"), y.astype("float32")


def positive_and_centered(n: int = 512, d: int = 8,
                         seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The same ``(n, d)`` inputs twice: positive-only and zero-centered.

    The positive version lies in ``(0, 1)``, like sigmoid outputs or pixel intensities;
    the centered version subtracts each feature's mean, so every column averages 0.
    """
    rng = np.random.default_rng(seed)
    x_pos = rng.beta(2.0, 2.0, size=(n, d))
    x_centered = x_pos - x_pos.mean(axis=0, keepdims=True)
    return x_pos.astype("float32"), x_centered.astype("float32")


def toy_regression(n: int = 512, d: int = 10, scale: float = 1.0, offset: float = 0.0,
                   noise: float = 0.1, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """A smooth non-linear regression task with standard-normal inputs.

    ``y = offset + scale * (sum_j sin(x @ u_j) + noise)`` for a few fixed random
    directions ``u_j``. Returns ``x`` of shape ``(n, d)`` and ``y`` of shape ``(n, 1)``.
    A larger ``scale`` or ``offset`` means larger errors and gradients at the start of
    training.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    u = rng.standard_normal((d, 4)) / np.sqrt(d)
    y = np.sin(x @ u).sum(axis=1, keepdims=True) + noise * rng.standard_normal((n, 1))
    return x.astype("float32"), (offset + scale * y).astype("float32")


def two_blobs(n: int = 200, distance: float = 3.0, spread: float = 1.0,
              seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """A two-class task in the plane: two round Gaussian clouds ``distance`` apart.

    Returns ``x`` of shape ``(n, 2)`` and labels ``y`` of shape ``(n,)`` with values 0.0 and
    1.0 (half of each, shuffled). Class 0 is centered on ``(-distance/2, 0)``, class 1 on
    ``(+distance/2, 0)``; a smaller ``distance`` or larger ``spread`` makes them overlap more.
    """
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2).astype("float64")
    centres = np.stack([(y - 0.5) * distance, np.zeros(n)], axis=1)
    x = centres + spread * rng.standard_normal((n, 2))
    return x.astype("float32"), y.astype("float32")


def mixed_scale_regression(n: int = 256, noise: float = 0.5,
                           seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """A linear task whose three raw features live on very different scales.

    Think of a flat's floor area in m² (around 80, spread 25), its number of rooms (around 3,
    spread 1) and the building's age in years (around 40, spread 15). The target is linear in
    the features plus noise: ``y = 0.05 area + 0.6 rooms - 0.03 age + 1 + noise``. Returns ``x``
    of shape ``(n, 3)`` and ``y`` of shape ``(n, 1)``. Raw, the squared-error loss is a very
    narrow valley; standardized features make it almost round.
    """
    rng = np.random.default_rng(seed)
    mean, std = np.array([80.0, 3.0, 40.0]), np.array([25.0, 1.0, 15.0])
    x = mean + std * rng.standard_normal((n, 3))
    y = x @ np.array([0.05, 0.6, -0.03]) + 1.0 + noise * rng.standard_normal(n)
    return x.astype("float32"), y[:, None].astype("float32")


#: How many of scikit-learn's 1,797 digits the notebooks see (train + validation); the rest are
#: instructor-only (chapter 6's held-out set is made from them).
DIGITS_VISIBLE = 1500
DIGITS_TRAIN = 1200


def digits_order(seed: int = SEED) -> np.ndarray:
    """The fixed shuffle of scikit-learn's digits that every split below is cut from."""
    return np.random.default_rng(seed).permutation(1797)


def digits() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's 8x8 digits (shipped with the package, no download), as ``(x_train, y_train),
    (x_val, y_val)``: 1,200 and 300 images of 64 raw pixel values in 0..16 (float32) with integer
    labels 0..9 (int64). The remaining 297 are not handed out."""
    from sklearn.datasets import load_digits

    data = load_digits()
    order = digits_order()
    x, y = data.data.astype("float32")[order], data.target.astype("int64")[order]
    return ((x[:DIGITS_TRAIN], y[:DIGITS_TRAIN]),
            (x[DIGITS_TRAIN:DIGITS_VISIBLE], y[DIGITS_TRAIN:DIGITS_VISIBLE]))
