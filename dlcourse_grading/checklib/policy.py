"""What an exercise may not use, each policy with one mechanism.

- Built-ins in the computation: :func:`assert_no_ops` traces the function with ``tf.function``
  and looks for op types and name scopes in its graph, so a forbidden built-in is found however it
  was imported or renamed, and NumPy code that cannot run on symbolic tensors fails on the way.
- Ready-made tools called from student code: :func:`blocked` patches the named methods or module
  functions while the student's code runs; calling one fails, and so does swallowing that failure.
  The target sets below name the tools that exercises forbid.
- :func:`counting_calls` (did the student get gradients from a tape?) and
  :func:`no_new_variables` (no Keras layers where the formula is asked for).
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterable, Mapping, Sequence

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import keras
import tensorflow as tf

from dlcourse_grading.checklib.calls import describe, summary

#: Built-in TensorFlow op types and how a student probably produced them (for the messages).
BUILTIN_OPS = {
    "Sigmoid": "keras.ops.sigmoid / tf.sigmoid / keras.activations.sigmoid",
    "Tanh": "keras.ops.tanh / tf.tanh",
    "Relu": "keras.ops.relu / tf.nn.relu",
    "Relu6": "keras.ops.relu6 / tf.nn.relu6",
    "LeakyRelu": "keras.ops.leaky_relu / tf.nn.leaky_relu",
    "Elu": "keras.ops.elu / tf.nn.elu",
    "Selu": "keras.ops.selu / tf.nn.selu",
    "Softplus": "keras.ops.softplus / tf.math.softplus",
    "Softmax": "keras.ops.softmax / tf.nn.softmax",
    "LogSoftmax": "keras.ops.log_softmax / tf.nn.log_softmax",
}


def builtins(*names: str) -> dict[str, str]:
    """{name: description} for :func:`assert_no_ops`, e.g. ``builtins("Sigmoid")``; a name that is
    a name scope rather than an op type (GELU is traced under "Gelu/") describes itself."""
    return {name: f"a built-in {name} (e.g. from {BUILTIN_OPS[name]})" if name in BUILTIN_OPS
            else f"a built-in {name} (e.g. keras.ops.{name} or tf.nn.{name})" for name in names}


def _concrete_graph(fn: Callable, specs: Sequence[tf.TensorSpec], what: str) -> tf.Graph:
    error: BaseException | None = None
    for autograph in (False, True):  # without AutoGraph first: faster, and its error is the clearer one
        try:
            return tf.function(fn, autograph=autograph).get_concrete_function(*specs).graph
        except Exception as exc:  # noqa: BLE001 - any failure to trace is the student's
            error = error or exc
    inputs = ", ".join(describe(s) for s in specs)
    raise AssertionError(
        f"{what} does not work on symbolic TensorFlow tensors ({inputs}): it raised {summary(error)}. "
        "Write it with keras.ops (not NumPy, not .numpy(), no Python conversions of tensor values) "
        "so that it also runs inside a compiled model")


def graph_ops(fn: Callable, specs: Sequence[tf.TensorSpec], what: str) -> list[tuple[str, str]]:
    """(op type, op name) of every op in the traced graph, nested function bodies included."""
    graph_def = _concrete_graph(fn, specs, what).as_graph_def()
    found = [(node.op, node.name) for node in graph_def.node]
    for function in graph_def.library.function:
        found += [(node.op, node.name) for node in function.node_def]
    return found


def assert_traceable(fn: Callable, specs: Sequence[tf.TensorSpec], what: str) -> None:
    """fn must run on symbolic tensors (no NumPy on its inputs)."""
    _concrete_graph(fn, specs, what)


def assert_no_ops(fn: Callable, specs: Sequence[tf.TensorSpec], what: str, forbidden: Mapping[str, str],
                  advice: str = "implement it yourself with basic keras.ops functions") -> None:
    """Trace fn and fail if an op's type, or a part of its name scope, is one of ``forbidden``.

    ``forbidden`` maps a name (compared without case) to what using it means, e.g.
    ``{"Softmax": "a built-in softmax (keras.ops.softmax)"}``. A scope part matches the name itself
    or the name followed by ``_`` and a suffix (TensorFlow's "gelu_1"): built-ins that have no op of
    their own are found by the scope they trace under.
    """
    keys = {k.lower(): v for k, v in forbidden.items()}
    for op_type, name in graph_ops(fn, specs, what):
        scopes = [p.lower() for p in name.split("/")[:-1]]
        hit = keys.get(op_type.lower()) or next(
            (keys[k] for k in keys for p in scopes if p == k or p.startswith(k + "_")), None)
        if hit:
            raise AssertionError(f"{what} uses {hit}, found as {op_type!r} in its graph: {advice}")


# --------------------------------------------------------------------------- blocked and counted calls

Target = tuple[Any, str]

#: Automatic differentiation, in every form TensorFlow offers (the backprop exercises replace it).
AUTODIFF: tuple[Target, ...] = (
    (tf.GradientTape, "__init__"), (tf.GradientTape, "gradient"), (tf.GradientTape, "jacobian"),
    (tf.GradientTape, "batch_jacobian"), (tf.autodiff.ForwardAccumulator, "__init__"),
    (tf, "gradients"), (tf.test, "compute_gradient"))
#: Asking a tape for gradients (numerical differentiation must not).
TAPE_GRADIENTS: tuple[Target, ...] = ((tf.GradientTape, "gradient"), (tf.GradientTape, "jacobian"),
                                      (tf.GradientTape, "batch_jacobian"))
#: Ready-made optimizers (a class's method blocks every subclass that inherits it).
OPTIMIZERS: tuple[Target, ...] = (
    (keras.optimizers.Optimizer, "__init__"), (keras.optimizers.Optimizer, "apply"),
    (keras.optimizers.Optimizer, "apply_gradients"), (tf.compat.v1.train.Optimizer, "apply_gradients"),
    (tf.compat.v1.train.Optimizer, "minimize"))
#: Keras' training loops.
FIT: tuple[Target, ...] = ((keras.Model, "fit"), (keras.Model, "train_on_batch"))
#: Op types of TensorFlow's fused optimizer updates (a graph-level twin of OPTIMIZERS).
APPLY_OPS = {op: "a built-in optimizer update" for op in (
    "ApplyGradientDescent", "ResourceApplyGradientDescent", "ApplyMomentum", "ResourceApplyMomentum",
    "ResourceApplyKerasMomentum", "ApplyRMSProp", "ResourceApplyRMSProp", "ApplyCenteredRMSProp",
    "ResourceApplyCenteredRMSProp", "ApplyAdam", "ResourceApplyAdam", "ApplyAdagrad", "ResourceApplyAdagrad",
    "ResourceApplyAdagradV2")}


def _patch_attribute(owner: Any, name: str, replacement: Any) -> Callable[[], None]:
    """Set ``owner.name`` (a class or a module); return a function that undoes it exactly
    (an attribute the owner only inherited is deleted again, not copied onto it)."""
    had = name in vars(owner)
    original = vars(owner).get(name)
    setattr(owner, name, replacement)

    def undo() -> None:
        if had:
            setattr(owner, name, original)
        else:
            delattr(owner, name)

    return undo


@contextlib.contextmanager
def blocked(targets: Iterable[Target], message: str):
    """While the block runs, calling any of ``targets`` raises AssertionError(message); if student
    code catches that error and carries on, the block fails when it ends all the same.

    ``targets`` are (owner, attribute) pairs: a class and a method name (subclasses are covered,
    e.g. ``(keras.optimizers.Optimizer, "__init__")`` blocks every built-in optimizer), or a module
    and a function name.
    """
    used: list[str] = []

    def refused(*args: Any, **kwargs: Any) -> None:
        used.append(message)
        raise AssertionError(message)

    undo: list[Callable[[], None]] = []
    try:
        for owner, name in targets:
            undo.append(_patch_attribute(owner, name, refused))
        yield
    finally:
        for step in reversed(undo):
            step()
    if used:
        raise AssertionError(message)


def no_autodiff(what: str):
    """:func:`blocked` for :data:`AUTODIFF`: gradients must be computed by hand."""
    return blocked(AUTODIFF, f"{what} uses automatic differentiation (tf.GradientTape, tf.gradients, "
                             "tf.autodiff): compute the gradients by hand from the cached forward values "
                             "(automatic differentiation is what this exercise replaces)")


def no_optimizers(what: str):
    """:func:`blocked` for :data:`OPTIMIZERS`: the update must be written by hand."""
    return blocked(OPTIMIZERS, f"{what} uses a ready-made optimizer (keras.optimizers or "
                               "tf.compat.v1.train): write the update yourself")


class CallCount:
    """How many times a callable patched by :func:`counting_calls` ran."""

    def __init__(self) -> None:
        self.count = 0


@contextlib.contextmanager
def counting_calls(*targets: Target):
    """Count the calls of each ``owner.name`` in the block, together: yields a :class:`CallCount`.

    E.g. ``counting_calls(*TAPE_GRADIENTS)`` tells whether student code got gradients from a tape.
    """
    counter = CallCount()
    undo: list[Callable[[], None]] = []

    def counted(original: Callable) -> Callable:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return original(*args, **kwargs)
        return wrapper

    try:
        for owner, name in targets:
            undo.append(_patch_attribute(owner, name, counted(getattr(owner, name))))
        yield counter
    finally:
        for step in reversed(undo):
            step()


@contextlib.contextmanager
def uses_a_tape(what: str, needed: bool, advice: str):
    """Fail (when ``needed``: a run with any step at all) if code in the block never asks a
    tf.GradientTape for a gradient, i.e. it computed the gradients some other way."""
    with counting_calls(*TAPE_GRADIENTS) as tapes:
        yield
    if needed and not tapes.count:
        raise AssertionError(f"{what}: never asked a tf.GradientTape for a gradient; {advice}")


@contextlib.contextmanager
def no_new_variables(what: str, advice: str):
    """Fail if code in the block creates any variable (a Keras layer, model or tf.Variable)."""
    created: list[str] = []

    def creator(next_creator, **kwargs):
        created.append(str(kwargs.get("name")))
        return next_creator(**kwargs)

    with tf.variable_creator_scope(creator):
        yield
    if created:
        raise AssertionError(f"{what} creates variables (a Keras layer or model?): {advice}")
