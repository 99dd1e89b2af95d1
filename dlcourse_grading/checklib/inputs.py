"""Inputs for the hidden checks: seeded generators, random tensors and extreme values.

Every case family draws from its own generator (:func:`case_rng`), so adding a case to one table
never changes the numbers another table sees.
"""
from __future__ import annotations

import zlib
from typing import Any, Sequence

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import tensorflow as tf

from dlcourse.chapters import SEED

#: A (2, 8) table of large magnitudes, both signs, no zeros: where naive exp() overflows.
_LARGE_VALUES = np.array([[-1e4, -2e3, -150.0, -95.0, -50.0, -20.0, -3.0, -0.25],
                          [0.5, 4.0, 17.0, 60.0, 91.0, 200.0, 3.3e3, 1e4]])
#: Rows of logits for softmax and cross-entropy: two near-ties at +1e4, an ordinary row, a row whose
#: every entry is near -1e4 (naive exp() underflows to 0/0) and a row spread over +-3e3.
_LARGE_LOGITS = np.array([[1e4, 9999.0, 9990.0, -1e4, 5000.0, 0.0],
                          [0.5, -3.0, 2.0, 1.0, 0.0, -0.5],
                          [-1e4, -9998.0, -9999.5, -1e4, -9990.0, -9999.0],
                          [3e3, -3e3, 2999.0, 0.0, 1.0, 2998.5]])


def case_rng(*tags: Any) -> np.random.Generator:
    """A NumPy generator seeded from the course seed and the tags: same tags, same numbers."""
    key = "/".join(str(t) for t in tags).encode()
    return np.random.default_rng([SEED, zlib.crc32(key)])


def random_tensor(rng: np.random.Generator, shape: Sequence[int], dtype: str = "float32",
                  scale: float = 3.0, avoid_zero: float = 0.0) -> tf.Tensor:
    """Normal values times ``scale``; entries closer to 0 than ``avoid_zero`` are pushed away
    (for functions with a kink at 0, whose gradient there is a convention)."""
    values = rng.normal(size=tuple(shape)) * scale
    if avoid_zero:
        small = np.abs(values) < avoid_zero
        values[small] = np.where(values[small] < 0, -avoid_zero, avoid_zero) * (1 + rng.random(int(small.sum())))
    return tf.constant(values, dtype=dtype)


def large_values(dtype: str = "float32") -> tf.Tensor:
    """A (2, 8) tensor of activations of large magnitude (up to 1e4), both signs, no zeros."""
    return tf.constant(_LARGE_VALUES, dtype=dtype)


def large_logits(dtype: str = "float32", classes: int = 6) -> tf.Tensor:
    """A (4, classes) tensor of logits up to 1e4 in magnitude (``classes`` <= 6)."""
    return tf.constant(_LARGE_LOGITS[:, :classes], dtype=dtype)


def is_large(value: Any, limit: float = 100.0) -> bool:
    """Whether any entry's magnitude exceeds ``limit`` (float32 results near 1e4 inherit ~1e-3 error)."""
    return bool(np.abs(np.asarray(value, dtype=np.float64)).max() > limit)


def one_hot_or_soft(rng: np.random.Generator, n: int, classes: int, soft: bool, dtype: str) -> tf.Tensor:
    """Targets for a classification loss: one-hot rows, or soft rows drawn from a Dirichlet."""
    y = rng.dirichlet(np.ones(classes), size=n) if soft else np.eye(classes)[rng.integers(0, classes, size=n)]
    return tf.constant(y, dtype)
