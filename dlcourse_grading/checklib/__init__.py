"""The check library: what every chapter's hidden checks are built from.

A chapter's module in ``dlcourse_grading/checks/`` holds its references, its case tables and
short ``@checked`` functions that call these pieces:

- :mod:`.inputs`: seeded case generators, random tensors, extreme values and logits;
- :mod:`.references`: float64 NumPy references shared by the chapters (softmax, log-softmax,
  cross-entropy, central differences, relative error, gradient-descent paths, ...);
- :mod:`.calls`: calling student code (a crash is a message; every mutable input must come back
  bit for bit), ``@checked``, message helpers;
- :mod:`.types`: return types as contracts state them (Python int/bool/float/str, tuples);
- :mod:`.compare`: type → shape → dtype → values against a reference, with stated tolerances and
  a diagnosis (batch factor, sign, transpose) when values are wrong; tape gradients;
- :mod:`.policy`: one mechanism each for "this built-in op was not used" (graph ops) and "this call
  is blocked inside student code" (patched targets, named sets: AUTODIFF, OPTIMIZERS, FIT, ...);
- :mod:`.keras_contract`: Keras extension points (class, config round trip, save/load, training flag);
- :mod:`.training`: "train, then measure" helpers whose thresholds are measured.

A check raises AssertionError with a student-facing message on the first problem it finds and
returns None otherwise. Messages say what is wrong and on which kind of input, never the expected
numbers. Everything is deterministic (seeded) and silent (no warnings, no logs).
"""
from dlcourse_grading.checklib.calls import (
    assert_raises, call, checked, construct, describe, quiet, signature, summary,
)
from dlcourse_grading.checklib.compare import (
    FLOAT32_TOL, FLOAT64_TOL, GRAD32_TOL, GRAD64_TOL, assert_gradient, assert_in_range, assert_result,
    assert_scaled, assert_tensor, diagnose, first_bad_row, gradient, scaled_tolerance, with_hint,
)
from dlcourse_grading.checklib.inputs import (
    case_rng, is_large, large_logits, large_values, one_hot_or_soft, random_tensor,
)
from dlcourse_grading.checklib.policy import (
    APPLY_OPS, AUTODIFF, FIT, OPTIMIZERS, TAPE_GRADIENTS, assert_no_ops, assert_traceable, blocked, builtins,
    counting_calls, graph_ops, no_autodiff, no_new_variables, no_optimizers, uses_a_tape,
)
from dlcourse_grading.checklib.types import (
    assert_python_bool, assert_python_float, assert_python_int, assert_python_str, unpack,
)

__all__ = [name for name in dir() if not name.startswith("_")]
