"""Train, then measure": short, seeded runs whose outcome a check compares with a threshold.

A threshold here is never a guess: each one states the measurement that set it, and
tests/test_checks.py measures the reference's margin against it.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def epochs_to_reach(losses: Any, target: float) -> int | None:
    """The first epoch whose loss is at or below ``target`` (None if none is)."""
    close = np.flatnonzero(np.asarray(losses, dtype=np.float64) <= target)
    return int(close[0]) if close.size else None
