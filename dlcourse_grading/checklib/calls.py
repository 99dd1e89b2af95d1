"""Calling student code: crashes become messages, inputs are checked unchanged, checks are quiet.

- :func:`call` runs a student function. A crash becomes an AssertionError that names the call,
  and every mutable argument (NumPy arrays, lists, dicts, variables) must come back bit for bit
  as it went in: no exercise may change its caller's data, so no check has to remember to ask.
- :func:`checked` wraps a public check (tamper check before and after, quiet, returns None).
- :func:`signature` writes a call for a message, e.g. ``relative_error(a, b, eps=1e-12)``.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import re
import warnings
from typing import Any, Callable

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import keras
import tensorflow as tf

from dlcourse_grading import guard


def describe(value: Any) -> str:
    """'a float32 tensor of shape (3, 4)' (for messages)."""
    dtype = getattr(getattr(value, "dtype", None), "name", None) or str(getattr(value, "dtype", ""))
    shape = tuple(int(d) for d in getattr(value, "shape", ()))
    if not shape:
        return f"a scalar {dtype} tensor"
    return f"a {dtype} tensor of shape {shape}"


def signature(name: str, /, *args: str, **kwargs: Any) -> str:
    """``name(a, b, h=0.1)``: positional arguments by label, keyword arguments with their values."""
    parts = list(args) + [f"{k}={v}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def summary(exc: BaseException) -> str:
    """'TypeError: first line of the message' (TensorFlow's op-location prefixes removed)."""
    text = getattr(exc, "message", None)
    text = text if isinstance(text, str) else str(exc)
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# --------------------------------------------------------------------------- inputs left unchanged

def _frozen(value: Any) -> Any:
    """A bit-exact, comparable picture of a mutable value, or None for what cannot change."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (tf.Variable, keras.Variable)):
        array = np.array(value)
        return ("variable", array.dtype.str, array.shape, array.tobytes())
    if isinstance(value, keras.layers.Layer):  # a layer handed to an exercise keeps its weights
        return ("layer", tuple(_frozen(np.array(w)) for w in value.weights))
    if isinstance(value, list):
        return ("list", tuple(_frozen_item(v) for v in value))
    if isinstance(value, tuple):  # immutable itself: only what it holds can change
        items = tuple(_frozen(v) for v in value)
        return ("tuple", items) if any(i is not None for i in items) else None
    if isinstance(value, dict):
        return ("dict", tuple((repr(k), _frozen_item(v)) for k, v in value.items()))
    return None


def _frozen_item(value: Any) -> Any:
    """Inside a container, numbers count too (a list of floats can be changed in place)."""
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, (int, str, bool, type(None))):
        return ("atom", repr(value))
    return _frozen(value) or ("object", id(value))


def _close_but_changed(before: Any, value: Any) -> bool:
    try:
        a = np.array(value, dtype=np.float64)
        return a.shape == np.asarray(before).shape and np.allclose(a, before, rtol=1e-12, atol=0.0, equal_nan=True)
    except (TypeError, ValueError):
        return False


def _assert_unchanged(pictures: list[tuple[str, Any, Any, Any]], what: str) -> None:
    for label, value, picture, copy in pictures:
        if _frozen(value) != picture:
            hint = (" (by rounding: put back the saved value, not x[i] + h - 2h + h)"
                    if copy is not None and _close_but_changed(copy, value) else "")
            raise AssertionError(f"{what}: changed {label} it was given{hint}; work on a copy, or put every "
                                 "entry back exactly as it was")


def call(fn: Callable, *args: Any, what: str, **kwargs: Any) -> Any:
    """fn(*args, **kwargs); a crash becomes an AssertionError that names the call, and a mutable
    argument that comes back changed (even by one bit) is a failure."""
    pictures = []
    for index, value in enumerate(list(args) + list(kwargs.values())):
        picture = _frozen(value)
        if picture is not None:
            label = ("the NumPy array" if isinstance(value, np.ndarray) else
                     f"the weights of the {type(value).__name__} layer" if isinstance(value, keras.layers.Layer)
                     else f"the {type(value).__name__}")
            copy = np.array(value, dtype=np.float64) if isinstance(value, np.ndarray) else None
            pictures.append((label, value, picture, copy))
    try:
        result = fn(*args, **kwargs)
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001 - any crash in student code is a failed check
        raise AssertionError(f"{what} raised {summary(exc)}") from None
    _assert_unchanged(pictures, what)
    return result


def construct(cls: Callable, label: str, /, *args: Any, **kwargs: Any) -> Any:
    """``cls(*args, **kwargs)`` through :func:`call`, the message naming it ``label(...)``: a student
    class whose constructor crashes fails with the arguments it was given."""
    return call(cls, *args, what=signature(label, *[repr(a) for a in args], **kwargs), **kwargs)


def assert_raises(exc_type: type[BaseException], fn: Callable, *args: Any, what: str, **kwargs: Any) -> None:
    """fn(*args, **kwargs) must raise exc_type (a subclass is fine)."""
    try:
        fn(*args, **kwargs)
    except exc_type:
        return
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"{what}: should raise {exc_type.__name__}, raised {summary(exc)} instead") from None
    raise AssertionError(f"{what}: should raise {exc_type.__name__}, but returned normally")


# --------------------------------------------------------------------------- quiet, tamper-proof checks

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
