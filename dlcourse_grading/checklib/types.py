"""Return types as the contracts state them.

A docstring that says "returns a Python int" means ``isinstance(value, int)`` and not a bool; a
NumPy integer is not one (it wraps around where a Python int does not). "A Python float" admits
``np.float64`` (a subclass of float), not float32 or a 0-d tensor. "A Python bool" is not
``numpy.bool_`` (``x is True`` is False for it).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def assert_python_int(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        hint = " (use int(...))" if isinstance(value, np.integer) else ""
        raise AssertionError(f"{what}: expected a Python int, got {type(value).__name__}{hint}")


def assert_python_bool(value: Any, what: str) -> None:
    if not isinstance(value, bool):
        hint = " (use bool(...))" if isinstance(value, np.bool_) else ""
        raise AssertionError(f"{what}: expected a Python bool, got {type(value).__name__}{hint}")


def assert_python_float(value: Any, what: str) -> None:
    if not isinstance(value, float):
        raise AssertionError(f"{what}: expected a Python float, got {type(value).__name__} (use float(...))")


def assert_python_str(value: Any, what: str, choices: Sequence[str] = ()) -> None:
    if not isinstance(value, str):
        raise AssertionError(f"{what}: return a Python str, got {type(value).__name__}")
    if choices and value not in choices:
        options = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
        raise AssertionError(f"{what}: returned {value!r}; return {options}")


def unpack(result: Any, names: Sequence[str], what: str, lists_too: bool = False) -> tuple:
    """A function documented to return ``(a, b, ...)`` returned a tuple of that length."""
    kinds = (tuple, list) if lists_too else (tuple,)
    if not (isinstance(result, kinds) and len(result) == len(names)):
        got = type(result).__name__
        if isinstance(result, (tuple, list)):
            got += f" of length {len(result)}"
        raise AssertionError(f"{what}: return a tuple ({', '.join(names)}), got {got}")
    return tuple(result)
