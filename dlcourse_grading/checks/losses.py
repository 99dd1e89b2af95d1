"""Hidden checks for assignment 4, losses (instructor-only).

Each loss is a ``keras.losses.Loss`` subclass. Its reference is Keras' own built-in where one
exists (computed in float64 on the same inputs), or a float64 NumPy formula (the multi-class
hinge). One table per loss (:class:`LossSpec`) says which constructor arguments, inputs and
thresholds to try; :func:`_check_loss` walks it: the class, no built-in inside, per-example values
under every reduction and sample weights with zeros, float32 and float64, finite gradients on
extreme inputs, the config round trip, and a short ``model.fit`` next to the reference's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import keras
import tensorflow as tf
from keras.src.losses.losses import LossFunctionWrapper  # the shared base of Keras' built-in losses

from dlcourse.chapters import SEED
from dlcourse_grading.checklib import (
    assert_gradient,
    assert_no_ops,
    assert_python_str,
    assert_raises,
    assert_result,
    blocked,
    call,
    case_rng,
    checked,
    describe,
    is_large,
    large_logits,
    one_hot_or_soft,
    signature,
    unpack,
)
from dlcourse_grading.checklib.keras_contract import assert_config_round_trip, assert_extends
from dlcourse_grading.checklib.references import to64

__all__ = [
    "check_huber_loss", "check_binary_cross_entropy", "check_categorical_cross_entropy",
    "check_sparse_categorical_cross_entropy", "check_hinge_losses", "check_output_activation_and_loss",
]

#: Keras' built-in losses, which the exercises replace (a student class may not build on them).
BUILTIN_LOSSES = tuple(
    getattr(keras.losses, name) for name in dir(keras.losses)
    if isinstance(getattr(keras.losses, name), type) and issubclass(getattr(keras.losses, name), keras.losses.Loss)
    and getattr(keras.losses, name) is not keras.losses.Loss)
_BUILTIN_FUNCTIONS = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                      "huber", "hinge", "categorical_hinge", "binary_focal_crossentropy")
#: Ready-made losses blocked while student code runs: the built-in classes' shared call, the loss
#: functions of keras.losses and keras.ops, and TensorFlow's fused cross-entropies.
READY_MADE = tuple([(LossFunctionWrapper, "call")]
                   + [(keras.losses, n) for n in _BUILTIN_FUNCTIONS if hasattr(keras.losses, n)]
                   + [(keras.ops, n) for n in _BUILTIN_FUNCTIONS if hasattr(keras.ops, n)]
                   + [(tf.nn, n) for n in ("sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
                                           "sparse_softmax_cross_entropy_with_logits")])
FUSED_OPS = {"SoftmaxCrossEntropyWithLogits": "a fused cross-entropy (tf.nn / keras.ops)",
             "SparseSoftmaxCrossEntropyWithLogits": "a fused cross-entropy (tf.nn / keras.ops)",
             "logistic_loss": "tf.nn.sigmoid_cross_entropy_with_logits"}
REDUCTIONS = (None, "sum", "sum_over_batch_size")


def _ready_made(what: str):
    return blocked(READY_MADE, f"{what} uses a ready-made loss (a built-in Keras loss, keras.ops.*_crossentropy or "
                               "tf.nn.*_cross_entropy_with_logits): write the formula with keras.ops")


@dataclass
class LossSpec:
    """What one loss exercise is checked on."""
    name: str
    reference: Callable                  # kwargs -> a loss object computing the right values
    options: list[dict]                  # constructor arguments to try ({} is the defaults)
    inputs: Callable                     # (rng, options) -> [(y_true, y_pred, what the case is for)]
    config: dict = field(default_factory=dict)  # non-default arguments for the config round trip
    trace_shapes: tuple = ((3, 4), (3, 4))      # y_true, y_pred for tracing call() symbolically
    float64_atol: float = 1e-12
    gradient_case: int = -1                     # the input case whose gradient is checked (no kinks)


# --------------------------------------------------------------------------- the shared walk

def _tolerance(y_pred, dtype: str, float64_atol: float = 1e-12) -> dict:
    if dtype == "float64":
        return {"rtol": 1e-9, "atol": float64_atol}
    # float32 inputs near 1e4 are only known to ~1e-3 (their spacing, 2**-10): losses inherit that
    return {"rtol": 1e-4, "atol": 2e-3 if is_large(y_pred) else 1e-6}


def _make(cls, kwargs: dict, what: str):
    return call(cls, what=signature(what, **kwargs), **kwargs)


def _check_values(cls, spec: LossSpec, y_true, y_pred, kind: str, options: dict, dtype: str, rng,
                  reductions=REDUCTIONS) -> None:
    """Per-example values, and for the given reductions sample weights with zeros, against the reference."""
    shape = tuple(int(d) for d in y_pred.shape[:-1])  # one weight per loss value
    weights = rng.uniform(0.0, 2.0, size=shape).astype(dtype)
    weights[rng.random(shape) < 0.3] = 0.0  # some examples weigh nothing
    for reduction in reductions:
        kwargs = {**options, "reduction": reduction, "dtype": dtype}
        # the built-in in the case's dtype: in float32, 1 - eps itself rounds (to 1 - 1.19e-7), and the
        # loss near the clipping band inherits it; the float64 cases pin the formula down
        student, reference = _make(cls, kwargs, spec.name), spec.reference(kwargs)
        for sample_weight in ((None, weights) if reduction else (None,)):
            what = (f"{signature(spec.name, **kwargs)}(y_true, y_pred"
                    f"{', sample_weight=w' if sample_weight is not None else ''}) on {kind} ({describe(y_pred)})")
            with _ready_made(what):
                got = call(student, y_true, y_pred, what=what, sample_weight=sample_weight)
            want = to64(reference(y_true, y_pred, sample_weight=sample_weight))
            if reduction is None and tuple(getattr(got, "shape", ())) != want.shape:
                raise AssertionError(f"{what}: wrong shape {tuple(getattr(got, 'shape', ()))}, expected {want.shape}"
                                     " (call() returns one loss per example: reduce over the last axis only)")
            assert_result(got, want, what, dtype=dtype, **_tolerance(y_pred, dtype, spec.float64_atol))


def _check_gradients(cls, spec: LossSpec, y_true, y_pred, kind: str, options: dict) -> None:
    """Finite gradients with respect to y_pred that match the reference's, in float64."""
    kwargs = {**options, "reduction": "sum", "dtype": "float64"}
    student, reference = _make(cls, kwargs, spec.name), spec.reference(kwargs)
    y_true64, y_pred64 = tf.cast(y_true, "float64"), tf.cast(y_pred, "float64")
    with tf.GradientTape() as tape:
        tape.watch(y_pred64)
        objective = reference(y_true64, y_pred64)
    expected = to64(tape.gradient(objective, y_pred64))
    what = f"{signature(spec.name, **kwargs)} on {kind}"
    with _ready_made(what):
        assert_gradient(lambda p: student(y_true64, p), y_pred64, expected, what)


def _check_config(cls, spec: LossSpec, rng) -> None:
    """get_config holds every argument; from_config rebuilds a loss that computes the same values."""
    kwargs = {**spec.config, "name": "mine", "reduction": "sum"}
    clone = assert_config_round_trip(_make(cls, kwargs, spec.name), cls, kwargs, spec.name)
    y_true, y_pred, kind = spec.inputs(rng, spec.config)[0]
    what = f"{spec.name}.from_config({signature(spec.name, **kwargs)}.get_config()) on {kind}"
    with _ready_made(what):
        got = call(clone, y_true, tf.cast(y_pred, "float32"), what=what)
    want = spec.reference({**kwargs, "dtype": "float32"})(y_true, tf.cast(y_pred, "float32"))
    assert_result(got, to64(want), what, dtype="float32", **_tolerance(y_pred, "float32"))


FIT_EPOCHS = 3


def _fit_losses(loss, x, y, outputs: int, activation=None, through_fit: bool = True) -> np.ndarray:
    """The loss per epoch of full-batch SGD on a seeded Dense layer: by model.fit, or (the
    reference, the same train step for a fifth of the cost) by train_on_batch."""
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(outputs, activation=activation)])
    # run_eagerly: three steps need no compiled train function (tracing one costs ~0.3 s per loss,
    # paid by every submission); the loss's graph mode is checked by tracing it on its own
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, run_eagerly=True)
    if through_fit:
        history = model.fit(x, y, batch_size=len(x), epochs=FIT_EPOCHS, shuffle=False, verbose=0)
        return np.array(history.history["loss"])
    return np.array([float(model.train_on_batch(x, y)) for _ in range(FIT_EPOCHS)])


def _check_fit(cls, spec: LossSpec, options: dict, y, outputs: int, activation=None) -> None:
    """In compile/fit (a traced, compiled train step), the loss trains exactly like the reference."""
    rng = case_rng(spec.name, "fit")
    x = rng.normal(size=(32, 4)).astype("float32")
    what = f"model.fit with loss={signature(spec.name, **options)}"
    student = _make(cls, options, spec.name)
    with _ready_made(what):
        got = call(_fit_losses, student, x, y, outputs, activation, what=what)
    want = _fit_losses(spec.reference(options), x, y, outputs, activation, through_fit=False)
    # three float32 SGD steps from the same weights: the same numbers up to rounding
    assert_result(tf.constant(got), want, f"{what}: the training loss per epoch", rtol=1e-4, atol=1e-6)


def _check_loss(cls, spec: LossSpec, fit_targets, outputs: int, activation=None) -> None:
    assert_extends(cls, keras.losses.Loss, spec.name, not_built_on=BUILTIN_LOSSES)
    rng = case_rng(spec.name)
    for options in spec.options:
        for dtype in ("float32", "float64"):
            # every case per example; the reductions and sample weights (Keras' part, once the
            # per-example losses are right) on the first case of each table
            for index, (y_true, y_pred, kind) in enumerate(spec.inputs(rng, options)):
                _check_values(cls, spec, tf.cast(y_true, dtype) if y_true.dtype.is_floating else y_true,
                              tf.cast(y_pred, dtype), kind, options, dtype, rng,
                              REDUCTIONS if index == 0 else (None,))
        y_true, y_pred, kind = spec.inputs(rng, options)[spec.gradient_case]
        _check_gradients(cls, spec, y_true, y_pred, kind, options)
    specs = [tf.TensorSpec(shape, tf.float32) for shape in spec.trace_shapes]
    assert_no_ops(lambda t, p: _make(cls, spec.options[-1], spec.name)(t, p), specs, f"{spec.name}.call",
                  FUSED_OPS, advice="write the formula with keras.ops")
    _check_config(cls, spec, rng)
    _check_fit(cls, spec, spec.options[-1], fit_targets, outputs, activation)


# --------------------------------------------------------------------------- exercise 1: Huber

def _huber_inputs(rng, options):
    delta = options.get("delta", 1.0)
    y = rng.normal(size=(6, 5)) * 2
    p = y + rng.normal(size=(6, 5)) * 2 * delta
    edge = np.zeros((3, 4))  # errors at, just below and just above delta (both sides of the threshold)
    p_edge = np.array([[1.0, -1.0, 0.999, 1.001], [-1.0, 1.0, -0.999, -1.001], [1.0, 0.5, 2.0, 0.0]]) * delta
    rank3 = rng.normal(size=(2, 3, 4)) * 3
    return [(tf.constant(y), tf.constant(p), "random targets and predictions"),
            (tf.constant(edge), tf.constant(p_edge), "errors at and next to delta"),
            (tf.constant(np.zeros((2, 3, 4))), tf.constant(rank3), "(2, 3, 4) predictions (a loss per (2, 3) entry)"),
            (tf.constant(y[:1] * 0), tf.constant(y[:1] * 500), "a batch of one with errors of ~1e3")]


HUBER = LossSpec("HuberLoss", lambda kw: keras.losses.Huber(**kw), [{}, {"delta": 2.5}, {"delta": 0.1}],
                 _huber_inputs, config={"delta": 0.3})


@checked
def check_huber_loss(HuberLoss):
    _check_loss(HuberLoss, HUBER, case_rng("huber", "y").normal(size=(32, 2)).astype("float32"), 2)


# --------------------------------------------------------------------------- exercises 2-4: cross-entropies

def _probabilities(rng, shape):
    p = rng.uniform(0.0, 1.0, size=shape)
    p.flat[:4] = (0.0, 1.0, 1e-9, 1 - 1e-9)  # exactly 0 and 1, and inside the clipping band
    return p


def _bce_inputs(rng, options):
    y = (rng.random((8, 3)) < 0.5).astype(float)
    soft = rng.uniform(0, 1, size=(8, 3))
    if options.get("from_logits"):
        z = rng.normal(size=(8, 3)) * 3
        return [(tf.constant(y), tf.constant(z), "0/1 labels and logits"),
                (tf.constant(soft), tf.constant(z), "soft labels and logits"),
                (tf.constant(y[:4, :2]), tf.constant([[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4], [-3e3, 20.0]]),
                 "logits of magnitude up to 1e4 (right and confidently wrong)")]
    return [(tf.constant(y), tf.constant(_probabilities(rng, (8, 3))), "0/1 labels and probabilities"),
            (tf.constant(soft), tf.constant(_probabilities(rng, (8, 3))), "soft labels and probabilities"),
            (tf.constant(y[:1]), tf.constant(rng.uniform(0.01, 0.99, size=(1, 3))), "a batch of one"),
            (tf.constant(y[:4, :2]), tf.constant([[1.0, 0.0], [0.0, 1.0], [1e-8, 1 - 1e-8], [0.5, 1.0]]),
             "probabilities of exactly 0 and 1")]


BCE = LossSpec("BinaryCrossEntropy", lambda kw: keras.losses.BinaryCrossentropy(**kw),
               [{}, {"label_smoothing": 0.2}, {"from_logits": True}, {"from_logits": True, "label_smoothing": 0.1}],
               _bce_inputs, config={"from_logits": True, "label_smoothing": 0.15})


@checked
def check_binary_cross_entropy(BinaryCrossEntropy):
    y = (case_rng("bce", "y").random((32, 3)) < 0.5).astype("float32")
    _check_loss(BinaryCrossEntropy, BCE, y, 3)


def _cce_inputs(rng, options):
    y, soft = one_hot_or_soft(rng, 8, 5, False, "float64"), one_hot_or_soft(rng, 8, 5, True, "float64")
    if options.get("from_logits"):
        z = rng.normal(size=(8, 5)) * 3
        return [(y, tf.constant(z), "one-hot targets and logits"), (soft, tf.constant(z), "soft targets and logits"),
                (one_hot_or_soft(rng, 4, 5, False, "float64"), large_logits("float64", 5),
                 "logits of magnitude up to 1e4")]
    p = rng.dirichlet(np.ones(5), size=8)
    p[0, :2] = 0.0  # exact zeros, and rows that do not sum to 1 (Keras rescales them)
    p[1:3] *= 3.0
    return [(y, tf.constant(p), "one-hot targets and probabilities (some rows not summing to 1, some zeros)"),
            (soft, tf.constant(p), "soft targets and probabilities"),
            (y[:1], tf.constant(rng.dirichlet(np.ones(5), size=1)), "a batch of one"),
            (y[:2], tf.constant(np.eye(5)[[1, 2]]), "one-hot predictions: exactly 0 and 1")]


CCE = LossSpec("CategoricalCrossEntropy", lambda kw: keras.losses.CategoricalCrossentropy(**kw),
               [{}, {"label_smoothing": 0.2}, {"from_logits": True}, {"from_logits": True, "label_smoothing": 0.1}],
               _cce_inputs, config={"from_logits": True, "label_smoothing": 0.05})


@checked
def check_categorical_cross_entropy(CategoricalCrossEntropy):
    y = np.eye(4)[case_rng("cce", "y").integers(0, 4, size=32)].astype("float32")
    _check_loss(CategoricalCrossEntropy, CCE, y, 4)


def _sparse_inputs(rng, options):
    labels = rng.integers(0, 5, size=8)
    if options.get("from_logits"):
        return [(tf.constant(labels), tf.constant(rng.normal(size=(8, 5)) * 3), "integer labels and logits"),
                (tf.constant([0, 4, 2, 1]), large_logits("float64", 5), "logits of magnitude up to 1e4")]
    p = rng.dirichlet(np.ones(5), size=8)
    p[0, labels[0]] = 0.0  # the right class has probability 0 (the row rescaled to sum to 1 again)
    p[0] /= p[0].sum()
    return [(tf.constant(labels), tf.constant(p), "integer labels and probabilities (one right class at 0)"),
            (tf.constant(labels[:1]), tf.constant(p[1:2]), "a batch of one")]


SPARSE = LossSpec("SparseCategoricalCrossEntropy", lambda kw: keras.losses.SparseCategoricalCrossentropy(**kw),
                  [{}, {"from_logits": True}], _sparse_inputs, config={"from_logits": True},
                  # Keras clips before it rescales a row, the categorical loss after: with a clipped
                  # probability the two orders differ by up to K * eps = 5e-7
                  trace_shapes=((3,), (3, 4)), float64_atol=1e-6)


@checked
def check_sparse_categorical_cross_entropy(SparseCategoricalCrossEntropy):
    y = case_rng("sparse", "y").integers(0, 4, size=32)
    _check_loss(SparseCategoricalCrossEntropy, SPARSE, y, 4)


# --------------------------------------------------------------------------- exercise 5: hinge losses

def _hinge_inputs(rng, options):
    signs = np.where(rng.random((6, 4)) < 0.5, -1.0, 1.0)
    scores = rng.normal(size=(6, 4)) * 2
    margin = signs[:2] * np.array([[1.0, 0.999, 1.001, 0.0]])  # y * f at, just below and just above 1
    return [(tf.constant(signs), tf.constant(scores), "labels in {-1, +1}"),
            (tf.constant((signs + 1) / 2), tf.constant(scores), "labels in {0, 1}"),
            (tf.constant(signs[:2]), tf.constant(margin), "scores at and next to the margin")]


# The gradient at a kink (y f = 1) is a convention (relu and maximum differ): random scores only.
HINGE = LossSpec("Hinge", lambda kw: keras.losses.Hinge(**kw), [{}], _hinge_inputs, gradient_case=0)


class _MulticlassHingeReference(keras.losses.Loss):
    """The Crammer-Singer hinge written out (the checks' reference; Keras' CategoricalHinge differs:
    its "largest wrong score" also counts a 0 for the right class)."""

    def __init__(self, margin=1.0, **kwargs):
        super().__init__(**kwargs)
        self.margin = margin

    def call(self, y_true, y_pred):
        correct = tf.reduce_sum(y_true * y_pred, axis=-1)
        wrong = tf.reduce_max(tf.where(y_true > 0.5, tf.constant(-np.inf, y_pred.dtype), y_pred), axis=-1)
        return tf.maximum(self.margin + wrong - correct, 0.0)


def _multiclass_inputs(rng, options):
    margin = options.get("margin", 1.0)
    y = one_hot_or_soft(rng, 8, 4, False, "float64")
    z = rng.normal(size=(8, 4)) * 2 - 3.0  # mostly negative scores: a wrong class at 0 would not win
    z_edge = np.array([[0.0, -margin, -0.5, -2.0], [0.0, -0.999 * margin, -3.0, -3.0],
                       [-1.001 * margin, 0.0, -5.0, -4.0]])
    return [(y, tf.constant(z), "one-hot targets, mostly negative scores"),
            (tf.constant(np.eye(4)[[0, 0, 1]]), tf.constant(z_edge), "the right class ahead by about the margin")]


MULTICLASS = LossSpec("MulticlassHinge", lambda kw: _MulticlassHingeReference(**kw),
                      [{}, {"margin": 0.5}, {"margin": 3.0}], _multiclass_inputs, config={"margin": 2.0},
                      gradient_case=0)


@checked
def check_hinge_losses(Hinge, MulticlassHinge):
    signs = np.where(case_rng("hinge", "y").random((32, 2)) < 0.5, -1.0, 1.0).astype("float32")
    _check_loss(Hinge, HINGE, signs, 2)
    y = np.eye(3)[case_rng("multiclass", "y").integers(0, 3, size=32)].astype("float32")
    _check_loss(MulticlassHinge, MULTICLASS, y, 3)


# --------------------------------------------------------------------------- exercise 6: output and loss

OUTPUTS = {  # task: (output activation, loss) as Keras objects
    "regression": (keras.activations.linear, keras.losses.mean_squared_error),
    "binary": (keras.activations.sigmoid, keras.losses.binary_crossentropy),
    "multi-label": (keras.activations.sigmoid, keras.losses.binary_crossentropy),
    "multi-class": (keras.activations.softmax, keras.losses.categorical_crossentropy),
    "multi-class-sparse": (keras.activations.softmax, keras.losses.sparse_categorical_crossentropy),
}


def _resolve(get, identifier, what):
    try:
        found = get(identifier)
    except (ValueError, TypeError):
        raise AssertionError(f"{what}: Keras does not know {identifier!r}") from None
    return getattr(found, "fn", found)  # a class name ("BinaryCrossentropy") resolves to a wrapper of the function


@checked
def check_output_activation_and_loss(output_activation_and_loss):
    for task, (activation, loss) in OUTPUTS.items():
        what = f"output_activation_and_loss({task!r})"
        got_activation, got_loss = unpack(call(output_activation_and_loss, task, what=what),
                                          ("activation", "loss"), what)
        assert_python_str(got_activation, f"{what}: the activation")
        assert_python_str(got_loss, f"{what}: the loss")
        if _resolve(keras.activations.get, got_activation, what) is not activation:
            raise AssertionError(f"{what}: not the output activation for this task")
        if _resolve(keras.losses.get, got_loss, what) is not loss:
            raise AssertionError(f"{what}: not the loss for this task (the model outputs probabilities)")
    for task in ("classification", "Binary", ""):
        assert_raises(ValueError, output_activation_and_loss, task, what=f"output_activation_and_loss({task!r})")
