"""Hidden checks for assignment 5, regularization (instructor-only).

Every exercise extends Keras, so each is checked where Keras uses it as well as on its own:

- the penalties against a float64 formula (and tests/test_checks.py shows the formula is Keras'),
  in the kernel's dtype, with their gradients, traced in a graph and collected in ``model.losses``;
- the MLP layer by layer, with the penalty on every kernel and on no bias or activation;
- the two random layers statistically, on 10^5 entries with bounds of 5-6 standard errors (a
  correct layer fails one of them with a probability below 1e-5; the wrong ones miss by far more),
  in both modes, in eager and compiled calls, in ``fit`` and ``evaluate``, with their seeds;
- early stopping on scripted runs against :func:`early_stopping_run`, a plain-Python statement of
  the contract, then in a real ``fit`` next to Keras' own EarlyStopping.
"""
from __future__ import annotations

import functools
import math

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import keras
import tensorflow as tf

from dlcourse.testing import assert_close
from dlcourse_grading.checklib import (
    assert_gradient,
    assert_raises,
    assert_result,
    assert_tensor,
    assert_traceable,
    blocked,
    call,
    case_rng,
    checked,
    construct,
    describe,
    random_tensor,
    signature,
)
from dlcourse_grading.checklib.keras_contract import (
    assert_config_round_trip,
    assert_extends,
    assert_identity_at_inference,
)
from dlcourse_grading.checklib.references import to64

__all__ = ["check_regularizers", "check_regularized_mlp", "check_inverted_dropout", "check_gaussian_noise",
           "check_early_stopping", "early_stopping_run", "scripted_run", "dropout_fit_losses", "noise_fit_losses"]


# --------------------------------------------------------------------------- exercise 1: penalties

BUILTIN_REGULARIZERS = (keras.regularizers.L1, keras.regularizers.L2, keras.regularizers.L1L2)
READY_PENALTIES = tuple((cls, "__call__") for cls in BUILTIN_REGULARIZERS)
REGULARIZER_CASES = {  # class name: (its factors, constructor arguments to try ({} is the defaults))
    "L1": (("l1",), [{}, {"l1": 0.3}, {"l1": 0.0}]),
    "L2": (("l2",), [{}, {"l2": 0.25}, {"l2": 0.0}]),
    "L1L2": (("l1", "l2"), [{}, {"l1": 0.2}, {"l2": 0.05}, {"l1": 0.1, "l2": 0.3}]),
}
DEFAULTS = {"L1": {"l1": 0.01}, "L2": {"l2": 0.01}, "L1L2": {"l1": 0.0, "l2": 0.0}}
#: float64 penalties: a factor Keras keeps in float32 (its validate_float_arg) is off by <= 6e-8.
PENALTY64_TOL = {"rtol": 1e-7, "atol": 1e-12}


def penalty(x, l1: float = 0.0, l2: float = 0.0) -> float:
    """The float64 reference: l1 * sum|x| + l2 * sum x**2 (no 1/2: Keras' convention)."""
    x = to64(x)
    return float(l1 * np.abs(x).sum() + l2 * np.square(x).sum())


def _kernels(rng) -> list[tuple[tf.Tensor, str]]:
    return [(random_tensor(rng, (4, 3), "float32", scale=1.0), "a (4, 3) float32 kernel"),
            (random_tensor(rng, (5, 2), "float64", scale=2.0), "a (5, 2) float64 kernel"),
            (random_tensor(rng, (3, 3, 2, 4), "float32", scale=0.5), "a (3, 3, 2, 4) convolution kernel"),
            (random_tensor(rng, (6,), "float64"), "a vector"),
            (tf.constant([[1e4, -3e3], [0.5, -2e2]], tf.float64), "entries up to 1e4"),
            (tf.zeros((3, 3), tf.float32), "zeros (no penalty)"),
            (tf.Variable(random_tensor(rng, (2, 5), "float32")), "a tf.Variable")]


def _check_penalty_values(cls, name: str, kwargs: dict, rng) -> None:
    factors = {**DEFAULTS[name], **kwargs}
    regularizer = call(cls, what=signature(name, **kwargs), **kwargs)
    for x, kind in _kernels(rng):
        what = f"{signature(name, **kwargs)}(x) on {kind}"
        with blocked(READY_PENALTIES, f"{what} calls a Keras regularizer: write the penalty with keras.ops"):
            got = call(regularizer, x, what=what)
        dtype = x.dtype.name
        assert_result(got, penalty(x, **factors), f"{what} (a scalar in the kernel's dtype)", dtype=dtype,
                      **(PENALTY64_TOL if dtype == "float64" else {}))
    assert_traceable(regularizer, [tf.TensorSpec((3, 4), tf.float32)], f"{signature(name, **kwargs)}(x)")
    if not any(factors.values()):  # a zero penalty is a constant: no gradient to check
        return
    x = random_tensor(rng, (3, 4), "float64", avoid_zero=0.05)  # |x| has no derivative at 0
    expected = factors.get("l1", 0.0) * np.sign(to64(x)) + 2.0 * factors.get("l2", 0.0) * to64(x)
    assert_gradient(regularizer, x, expected, f"{signature(name, **kwargs)}(x) with respect to x")


def _check_in_a_layer(cls, name: str, kwargs: dict) -> None:
    layer = keras.layers.Dense(3, kernel_regularizer=call(cls, what=signature(name, **kwargs), **kwargs))
    model = keras.Sequential([keras.Input((4,)), layer])
    what = f"a Dense layer with kernel_regularizer={signature(name, **kwargs)}"
    if len(model.losses) != 1:
        raise AssertionError(f"{what}: model.losses must hold its one penalty, holds {len(model.losses)}")
    assert_result(model.losses[0], penalty(layer.kernel, **{**DEFAULTS[name], **kwargs}),
                  f"{what}: the penalty in model.losses", dtype="float32")


def _check_regularizer_config(cls, name: str, kwargs: dict, rng) -> None:
    clone = assert_config_round_trip(call(cls, what=signature(name, **kwargs), **kwargs), cls, kwargs, name)
    x = random_tensor(rng, (4, 4))
    what = f"{name}.from_config({signature(name, **kwargs)}.get_config())(x)"
    assert_result(call(clone, x, what=what), penalty(x, **kwargs), what, dtype="float32")


@checked
def check_regularizers(L1, L2, L1L2):
    rng = case_rng("regularizers")
    for cls, (name, (factors, options)) in zip((L1, L2, L1L2), REGULARIZER_CASES.items()):
        assert_extends(cls, keras.regularizers.Regularizer, name, not_built_on=BUILTIN_REGULARIZERS)
        for kwargs in options:
            _check_penalty_values(cls, name, kwargs, rng)
        _check_in_a_layer(cls, name, options[-1])
        _check_regularizer_config(cls, name, {f: 0.125 * (i + 1) for i, f in enumerate(factors)}, rng)
        for factor in factors:
            assert_raises(ValueError, cls, what=signature(name, **{factor: -0.1}), **{factor: -0.1})


# --------------------------------------------------------------------------- exercise 2: the MLP

class _ScaledSum(keras.regularizers.Regularizer):
    """A penalty no built-in computes (so a hard-coded L2 shows), and that sees the sign of a bias."""

    def __call__(self, x):
        return 3.0 * tf.reduce_sum(x) + 0.5 * tf.reduce_sum(tf.abs(x))


MLP_CASES = [  # input_dim, hidden_units, outputs, regularizer, what the case is for
    (4, [8, 6], 2, lambda: keras.regularizers.L2(0.1), "two hidden layers"),
    (3, [], 1, lambda: keras.regularizers.L1(0.05), "no hidden layer (a linear model)"),
    (2, [5, 4, 3], 3, _ScaledSum, "three hidden layers and a penalty of its own kind"),
    (5, [7], 2, lambda: None, "no regularizer"),
]


def _check_mlp_layers(model, input_dim: int, hidden: list, outputs: int, what: str) -> list:
    if not isinstance(model, keras.Sequential):
        raise AssertionError(f"{what}: return a keras.Sequential, got {type(model).__name__}")
    if tuple(model.input_shape) != (None, input_dim):
        raise AssertionError(f"{what}: the model's input shape is {model.input_shape}, not (None, input_dim)")
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if len(dense) != len(model.layers) or [d.units for d in dense] != [*hidden, outputs]:
        raise AssertionError(f"{what}: the layers must be one Dense layer per hidden width, then Dense(outputs)")
    probe = tf.constant([-2.0, -0.5, 0.0, 0.5, 3.0])
    applied = [np.array(call(d.activation, probe, what=f"{what}: a layer's activation")) for d in dense]
    if any(not np.array_equal(a, np.maximum(probe, 0.0)) for a in applied[:-1]) or \
            not np.array_equal(applied[-1], probe.numpy()):
        raise AssertionError(f"{what}: hidden layers use ReLU and the output layer no activation")
    return dense


def _check_mlp_penalties(model, dense: list, regularizer, what: str, rng) -> None:
    for layer in dense:  # large biases of both signs: a penalized bias changes the total
        layer.bias.assign(rng.uniform(-100.0, 100.0, size=layer.bias.shape).astype("float32"))
    call(model, tf.constant(rng.normal(size=(3, model.input_shape[1])), tf.float32), what=f"{what}: model(x)")
    if len(model.losses) != (len(dense) if regularizer is not None else 0):
        raise AssertionError(f"{what}: model.losses holds {len(model.losses)} penalties after a call; every "
                             "kernel has one, and no bias or activation")
    if regularizer is None:
        return
    for layer in dense:
        if layer.bias_regularizer is not None or layer.activity_regularizer is not None:
            raise AssertionError(f"{what}: only the kernels are penalized, not the biases or the activations")
    expected = sum(float(to64(regularizer(layer.kernel))) for layer in dense)
    assert_close(tf.add_n(model.losses), expected, f"{what}: the total penalty in model.losses (is it the "
                 "regularizer passed in, on every kernel?)", rtol=1e-5, atol=1e-4)


@checked
def check_regularized_mlp(regularized_mlp):
    rng = case_rng("regularized_mlp")
    for input_dim, hidden, outputs, make, kind in MLP_CASES:
        regularizer = make()
        what = f"regularized_mlp({input_dim}, {hidden}, {outputs}, {type(regularizer).__name__}) ({kind})"
        model = call(regularized_mlp, input_dim, hidden, outputs, regularizer, what=what)
        dense = _check_mlp_layers(model, input_dim, hidden, outputs, what)
        _check_mlp_penalties(model, dense, regularizer, what, rng)


# --------------------------------------------------------------------------- exercises 3-4: random layers

def _ready_layers(builtins: tuple, what: str):
    targets = [(cls, "call") for cls in builtins] + [(keras.random, "dropout"), (tf.nn, "dropout")]
    return blocked(targets, f"{what} uses a ready-made layer or keras.random.dropout / tf.nn.dropout: draw the "
                            "random numbers with keras.random and write the rest with keras.ops")


def _check_random_layer_basics(cls, name: str, argument: str, valid: tuple, invalid: tuple) -> None:
    builtins = {"InvertedDropout": (keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.AlphaDropout),
                "GaussianNoise": (keras.layers.GaussianNoise, keras.layers.GaussianDropout)}[name]
    assert_extends(cls, keras.layers.Layer, name, not_built_on=builtins)
    for value in invalid:
        assert_raises(ValueError, cls, what=signature(name, **{argument: value}), **{argument: value})
    for value in valid:
        construct(cls, name, **{argument: value})


def _two_draws(layer, x, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Two training-mode calls, eager and then compiled (the SeedGenerator must advance in both)."""
    eager = [np.array(call(layer, x, training=True, what=f"{what}(x, training=True)")) for _ in range(2)]
    if np.array_equal(*eager):
        raise AssertionError(f"{what}: two calls in training draw the same random numbers (use keras.random with "
                             "a SeedGenerator created in __init__)")
    compiled = tf.function(lambda inputs: layer(inputs, training=True))
    traced = [np.array(call(compiled, x, what=f"{what} inside a tf.function")) for _ in range(2)]
    if np.array_equal(*traced):
        raise AssertionError(f"{what}: inside a compiled tf.function every call draws the same random numbers "
                             "(NumPy or Python randomness is frozen into the graph when it is traced: use "
                             "keras.random with a SeedGenerator)")
    return eager[0], traced[0]


def _check_seeds(cls, name: str, x, **kwargs) -> None:
    what = f"{signature(name, **kwargs, seed=11)} twice"
    first, second = construct(cls, name, **kwargs, seed=11), construct(cls, name, **kwargs, seed=11)
    for step in ("first", "second"):
        a = np.array(call(first, x, training=True, what=what))
        b = np.array(call(second, x, training=True, what=what))
        if not np.array_equal(a, b):
            raise AssertionError(f"{what}: two layers with the same seed differ in their {step} call in training "
                                 "(pass the seed to a keras.random.SeedGenerator)")
    other = np.array(call(construct(cls, name, **kwargs, seed=12), x, training=True, what=what))
    if np.array_equal(other, np.array(call(construct(cls, name, **kwargs, seed=11), x, training=True, what=what))):
        raise AssertionError(f"{name}: seeds 11 and 12 give the same random numbers (is the seed used?)")


def _check_config_and_seed(cls, name: str, kwargs: dict, x) -> None:
    layer = construct(cls, name, **kwargs, name="mine")
    clone = assert_config_round_trip(layer, cls, kwargs, name)
    what = f"{name}.from_config({signature(name, **kwargs)}.get_config())(x, training=True)"
    fresh = np.array(call(construct(cls, name, **kwargs), x, training=True, what=what))
    if not np.array_equal(np.array(call(clone, x, training=True, what=what)), fresh):
        raise AssertionError(f"{what}: the rebuilt layer does not draw what a new layer with the same seed draws")


def _fit_and_evaluate(layer, x, y, head: keras.layers.Layer, what: str) -> tuple[float, float]:
    """The training loss of one full-batch epoch of model.fit and the loss of model.evaluate, for
    Input -> layer -> a fixed head (learning rate 0: only the layer's randomness changes the loss)."""
    model = keras.Sequential([keras.Input(x.shape[1:]), layer, head])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", run_eagerly=True)
    history = call(model.fit, x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0, what=f"model.fit {what}")
    evaluated = call(model.evaluate, x, y, batch_size=len(x), verbose=0, what=f"model.evaluate {what}")
    return float(history.history["loss"][0]), float(evaluated)


def _fixed_dense(units: int, kernel) -> keras.layers.Dense:
    return keras.layers.Dense(units, use_bias=False, kernel_initializer=keras.initializers.Constant(kernel))


# --------------------------------------------------------------------------- exercise 3: inverted dropout

DROPOUT_RATES = (0.1, 0.5, 0.9, 0.99)
#: Entries in the statistical cases: the kept fraction's standard error is sqrt(p (1 - p) / n) <= 0.0016.
STAT_SHAPE = (400, 250)
#: fit on ones through Dense(1000 -> 1) with weights 1/1000 and targets 1: an inverted mask gives
#: outputs of mean 1 and variance p / ((1 - p) n) = 1e-3 at p = 0.5, so the loss is 1e-3 (the mean of
#: 64 such squares: +-18%); without the 1 / (1 - p) it is 0.25, without a mask 0.
DROPOUT_FIT_LOSS = (3e-4, 3e-3)


def _check_dropout_sample(out: np.ndarray, x: np.ndarray, rate: float, what: str) -> None:
    kept = out != 0
    assert_close(out[kept], x[kept] / (1.0 - rate), f"{what}: the entries kept must be divided by 1 - rate",
                 rtol=1e-6, atol=0)
    n = kept.size
    error = math.sqrt(rate * (1 - rate) / n)
    if abs(kept.mean() - (1 - rate)) > 5 * error:
        raise AssertionError(f"{what}: kept {kept.mean():.2%} of {n} entries (each is dropped with probability "
                             "rate, independently)")
    if rate <= 0.5 and kept.ndim == 2:  # whole rows or columns dropped together keep the right mean
        for axis, label in ((1, "row (example)"), (0, "column (unit)")):
            spread = 6 * math.sqrt(rate * (1 - rate) / kept.shape[axis])
            if (np.abs(kept.mean(axis=axis) - (1 - rate)) > spread).any():
                raise AssertionError(f"{what}: some {label} keeps far too many or too few entries (draw one "
                                     "independent decision per entry, not per row or column)")


def _check_dropout_rates(cls, rng) -> None:
    x = tf.constant(rng.uniform(0.5, 1.5, size=STAT_SHAPE), tf.float32)  # no zeros: a 0 is a dropped entry
    for rate in DROPOUT_RATES:
        layer = construct(cls, "InvertedDropout", rate=rate, seed=int(rate * 100))
        what = signature("InvertedDropout", rate=rate)
        eager, traced = _two_draws(layer, x, what)
        for out, mode in ((eager, "(x, training=True)"), (traced, " inside a tf.function")):
            assert_tensor(out, STAT_SHAPE, "float32", f"{what}{mode}", kind="any")
            _check_dropout_sample(out, x.numpy(), rate, f"{what}{mode}")
    for shape, dtype in (((8, 5, 6), "float32"), ((1, 10), "float32"), ((20, 30), "float64")):
        xs = tf.constant(rng.uniform(0.5, 1.5, size=shape), dtype)
        layer = construct(cls, "InvertedDropout", rate=0.3, dtype=dtype)
        what = f"{signature('InvertedDropout', rate=0.3, dtype=dtype)}(x, training=True) on {describe(xs)}"
        out = call(layer, xs, training=True, what=what)
        assert_tensor(out, shape, dtype, what)
        kept = np.array(out) != 0
        assert_close(np.array(out)[kept], to64(xs)[kept] / 0.7, what, rtol=1e-6 if dtype == "float32" else 1e-12,
                     atol=0)
    zero = construct(cls, "InvertedDropout", rate=0.0)
    assert_close(call(zero, x, training=True, what="InvertedDropout(rate=0.0)(x, training=True)"), x,
                 "InvertedDropout(rate=0.0) in training keeps every entry unchanged", rtol=0, atol=0)


def _check_dropout_gradient(cls, rng) -> None:
    layer = construct(cls, "InvertedDropout", rate=0.4, seed=3)
    x = tf.constant(rng.uniform(0.5, 1.5, size=(6, 20)), tf.float64)
    upstream = rng.normal(size=(6, 20))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = call(layer, x, training=True, what="InvertedDropout(rate=0.4)(x, training=True)")
        loss = tf.reduce_sum(tf.cast(out, tf.float64) * upstream)
    grad = tape.gradient(loss, x)
    what = "the gradient of InvertedDropout(rate=0.4)(x, training=True) with respect to x"
    if grad is None:
        raise AssertionError(f"{what}: none flows (build the output from the inputs with keras.ops)")
    assert_close(grad, upstream * (np.array(out) != 0) / 0.6, f"{what} (the same mask, the same scale)",
                 rtol=1e-6, atol=1e-9)


def dropout_fit_losses(cls) -> tuple[float, float]:
    """The loss of model.fit and of model.evaluate through InvertedDropout(rate=0.5) (see DROPOUT_FIT_LOSS)."""
    layer = construct(cls, "InvertedDropout", rate=0.5, seed=5)
    x, y = np.ones((64, 1000), "float32"), np.ones((64, 1), "float32")
    return _fit_and_evaluate(layer, x, y, _fixed_dense(1, 1e-3), "with InvertedDropout(rate=0.5)")


def _check_fit_losses(losses: tuple[float, float], bounds: tuple[float, float], label: str, acts: str) -> None:
    """fit's training loss within the measured bounds (the layer acts in training), evaluate's 0
    (the identity outside training)."""
    train, evaluated = losses
    low, high = bounds
    if not low <= train <= high:
        raise AssertionError(f"model.fit with {label}: the training loss says the layer does not {acts} in "
                             "training (fit calls it with training=True)")
    if evaluated > 1e-10:
        raise AssertionError(f"model.evaluate with {label}: the layer must be the identity outside training "
                             "(evaluate calls it with training=False)")


@checked
def check_inverted_dropout(InvertedDropout):
    _check_random_layer_basics(InvertedDropout, "InvertedDropout", "rate", (0.0, 0.999), (-0.1, 1.0, 1.5))
    rng = case_rng("dropout")
    x = tf.constant(rng.uniform(0.5, 1.5, size=(16, 8)), tf.float32)
    with _ready_layers((keras.layers.Dropout,), "InvertedDropout"):
        assert_identity_at_inference(construct(InvertedDropout, "InvertedDropout", rate=0.5), x, (8,),
                                     "InvertedDropout(rate=0.5)")
        _check_dropout_rates(InvertedDropout, rng)
        _check_dropout_gradient(InvertedDropout, rng)
        _check_seeds(InvertedDropout, "InvertedDropout", x, rate=0.5)
        _check_config_and_seed(InvertedDropout, "InvertedDropout", {"rate": 0.3, "seed": 9}, x)
        _check_fit_losses(dropout_fit_losses(InvertedDropout), DROPOUT_FIT_LOSS, "InvertedDropout(rate=0.5)",
                          "drop, or does not rescale,")


# --------------------------------------------------------------------------- exercise 4: Gaussian noise

NOISE_STDDEVS = (0.1, 1.0, 3.0)
#: P(|e| < sigma) for a normal e: 0.6827 (a uniform noise of the same std gives 0.577, Laplace 0.757);
#: its standard error on 10^5 entries is 0.0015.
WITHIN_ONE_SIGMA = math.erf(1 / math.sqrt(2))
#: fit through a fixed identity Dense(50 -> 50), targets x: the loss is the noise's variance,
#: 0.04 at stddev 0.2, averaged over 64 x 50 squares (standard error 2.5%: the bounds are 6 of them);
#: no noise gives 0, a stddev of 0.18 or 0.22 falls outside.
NOISE_FIT_LOSS = (0.034, 0.046)


def _check_noise_sample(noise: np.ndarray, x: np.ndarray, stddev: float, what: str) -> None:
    n = noise.size
    std = noise.std()
    if abs(noise.mean()) > 5 * stddev / math.sqrt(n):
        raise AssertionError(f"{what}: the noise's mean is {noise.mean():.4f}, not 0")
    if abs(std - stddev) > 5 * stddev / math.sqrt(2 * n):
        raise AssertionError(f"{what}: the noise's standard deviation is {std:.4f}, not stddev")
    within = np.mean(np.abs(noise) < stddev)
    if abs(within - WITHIN_ONE_SIGMA) > 5 * math.sqrt(WITHIN_ONE_SIGMA * (1 - WITHIN_ONE_SIGMA) / n):
        raise AssertionError(f"{what}: {within:.1%} of the noise lies within one stddev of 0: it is not "
                             "normally distributed (use keras.random.normal)")
    large = np.abs(x) > 1.0
    for part, label in ((large, "large"), (~large, "small")):
        if abs(noise[part].std() - stddev) > 6 * stddev / math.sqrt(2 * part.sum()):
            raise AssertionError(f"{what}: the noise on {label} inputs has the wrong spread (it must not depend "
                                 "on the input: add it)")
    for axis, label in ((1, "row (example)"), (0, "column (feature)")):
        spread = 6 * stddev / math.sqrt(2 * noise.shape[axis])
        if (np.abs(noise.std(axis=axis) - stddev) > spread).any():
            raise AssertionError(f"{what}: within some {label} the noise barely varies (draw it for every entry)")


def _check_noise_stddevs(cls, rng) -> None:
    x = tf.constant(rng.normal(size=STAT_SHAPE), tf.float32)
    for stddev in NOISE_STDDEVS:
        layer = construct(cls, "GaussianNoise", stddev=stddev, seed=int(stddev * 10))
        what = signature("GaussianNoise", stddev=stddev)
        eager, traced = _two_draws(layer, x, what)
        for out, mode in ((eager, "(x, training=True)"), (traced, " inside a tf.function")):
            assert_tensor(out, STAT_SHAPE, "float32", f"{what}{mode}", kind="any")
            _check_noise_sample(out.astype(np.float64) - to64(x), to64(x), stddev, f"{what}{mode}")
    for shape, dtype in (((8, 5, 6), "float32"), ((1, 10), "float32"), ((20, 30), "float64")):
        xs = tf.constant(rng.normal(size=shape), dtype)
        layer = construct(cls, "GaussianNoise", stddev=0.5, dtype=dtype)
        what = f"{signature('GaussianNoise', stddev=0.5, dtype=dtype)}(x, training=True) on {describe(xs)}"
        assert_tensor(call(layer, xs, training=True, what=what), shape, dtype, what)
    zero = construct(cls, "GaussianNoise", stddev=0.0)
    assert_close(call(zero, x, training=True, what="GaussianNoise(stddev=0.0)(x, training=True)"), x,
                 "GaussianNoise(stddev=0.0) in training adds nothing", rtol=0, atol=0)


def _check_noise_gradient(cls, rng) -> None:
    layer = construct(cls, "GaussianNoise", stddev=0.7, seed=4)
    x = tf.constant(rng.normal(size=(5, 7)), tf.float32)
    upstream = rng.normal(size=(5, 7))
    assert_gradient(lambda v: layer(v, training=True), x, upstream,
                    "GaussianNoise(stddev=0.7)(x, training=True) with respect to x (the noise is added)",
                    upstream=upstream)


def noise_fit_losses(cls) -> tuple[float, float]:
    """The loss of model.fit and of model.evaluate through GaussianNoise(stddev=0.2) (see NOISE_FIT_LOSS)."""
    layer = construct(cls, "GaussianNoise", stddev=0.2, seed=6)
    x = case_rng("noise", "fit").normal(size=(64, 50)).astype("float32")
    return _fit_and_evaluate(layer, x, x, _fixed_dense(50, np.eye(50)), "with GaussianNoise(stddev=0.2)")


@checked
def check_gaussian_noise(GaussianNoise):
    _check_random_layer_basics(GaussianNoise, "GaussianNoise", "stddev", (0.0,), (-0.1,))
    rng = case_rng("noise")
    x = tf.constant(rng.normal(size=(16, 8)), tf.float32)
    with _ready_layers((keras.layers.GaussianNoise,), "GaussianNoise"):
        assert_identity_at_inference(construct(GaussianNoise, "GaussianNoise", stddev=0.5), x, (8,),
                                     "GaussianNoise(stddev=0.5)")
        _check_noise_stddevs(GaussianNoise, rng)
        _check_noise_gradient(GaussianNoise, rng)
        _check_seeds(GaussianNoise, "GaussianNoise", x, stddev=0.5)
        _check_config_and_seed(GaussianNoise, "GaussianNoise", {"stddev": 0.7, "seed": 3}, x)
        _check_fit_losses(noise_fit_losses(GaussianNoise), NOISE_FIT_LOSS, "GaussianNoise(stddev=0.2)",
                          "add noise of that stddev")


# --------------------------------------------------------------------------- exercise 5: early stopping

NAN = float("nan")
#: Scripted runs: constructor arguments, the monitored value per epoch (None: missing from logs),
#: and what the case is for. Each runs with restore_best_weights False and True.
EARLY_STOPPING_CASES = [
    ({}, [1.0, 0.9, 0.95, 0.8], "patience 0: the first epoch without improvement stops"),
    ({"patience": 2}, [1.0, 0.8, 0.8, 0.9, 0.7], "a tie is not an improvement"),
    ({"patience": 2}, [1.0, 0.8, 0.81, 0.79, 0.85, 0.9, 0.6], "an improvement resets the count"),
    ({"patience": 3}, [0.5, 0.6, 0.7, 0.8, 0.9, 0.4], "no epoch improves on the first"),
    ({"patience": 2, "min_delta": 0.5}, [1.0, 0.5, 0.4999, 0.3, 0.2, 0.1],
     "improvements of exactly min_delta and of slightly more"),
    ({"patience": 2}, [0.5, NAN, NAN, 0.4], "NaN is never an improvement"),
    ({"patience": 2}, [NAN, 0.3, 0.2, 0.25, 0.26, 0.1], "a NaN first epoch is not the best"),
    ({"patience": 1}, [NAN, NAN, NAN], "no epoch ever improves (all NaN)"),
    ({"monitor": "val_accuracy", "patience": 2}, [0.5, 0.6, 0.6, 0.55, 0.7], "mode 'auto' maximizes an accuracy"),
    ({"monitor": "val_accuracy", "mode": "min", "patience": 1}, [0.5, 0.4, 0.45, 0.3],
     "mode 'min' minimizes even an accuracy"),
    ({"mode": "max", "patience": 2, "min_delta": 0.1}, [0.5, 0.55, 0.7, 0.75, 0.85, 0.9],
     "mode 'max' with min_delta"),
    ({"monitor": "loss", "patience": 1}, [1.0, 0.9, 0.8, 0.7], "monitor='loss' (not val_loss)"),
    ({"patience": 1}, [1.0, None, 1.1, 0.9], "an epoch whose logs lack the monitored value is skipped"),
    ({"patience": 5}, [1.0, 1.1, 1.2], "patience longer than the run: never stops"),
]
#: Values logged under the keys a case does not monitor: a callback that reads the wrong key stops
#: after one epoch of them (they never improve).
DECOYS = {"loss": 7.0, "val_loss": 7.0, "accuracy": 0.1, "val_accuracy": 0.1}


def early_stopping_run(values: list, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                       mode: str = "auto", restore_best_weights: bool = False) -> dict:
    """The contract in plain Python: what a scripted run must end with (epoch -> weight = epoch)."""
    maximize = (mode == "max") or (mode == "auto" and "acc" in monitor)
    best = best_epoch = stopped = None
    wait = 0
    for epoch, value in enumerate(values):
        if value is None:
            continue
        better = not math.isnan(value) and (best is None or (value > best + min_delta if maximize
                                                             else value < best - min_delta))
        if better:
            best, best_epoch, wait = value, epoch, 0
            continue
        wait += 1
        if wait >= patience:
            stopped = epoch
            break
    last = stopped if stopped is not None else len(values) - 1
    weight = best_epoch if restore_best_weights and best_epoch is not None else last
    return {"epochs run": last + 1, "stopped_epoch": stopped, "best_epoch": best_epoch, "best": best,
            "weights": float(weight)}


@functools.lru_cache(maxsize=1)
def _scripted_model() -> keras.Model:
    """One tiny model for every scripted run (its weight is set at every epoch, so runs never mix)."""
    return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])


def scripted_run(callback, values: list, monitor: str) -> dict:
    """Drive a callback as fit does, the model's one weight set to the epoch's number each epoch."""
    model = _scripted_model()
    call(callback.set_model, model, what="callback.set_model(model)")
    model.stop_training = False
    call(callback.on_train_begin, what="on_train_begin()")
    run = 0
    for epoch, value in enumerate(values):
        model.layers[0].kernel.assign([[float(epoch)]])
        logs = {**DECOYS, monitor: value} if value is not None else {k: v for k, v in DECOYS.items() if k != monitor}
        call(callback.on_epoch_end, epoch, logs, what=f"on_epoch_end({epoch}, logs)")
        run = epoch + 1
        if model.stop_training:
            break
    call(callback.on_train_end, what="on_train_end()")
    return {"epochs run": run, "stopped_epoch": getattr(callback, "stopped_epoch", "missing"),
            "best_epoch": getattr(callback, "best_epoch", "missing"), "best": getattr(callback, "best", "missing"),
            "weights": float(model.layers[0].kernel.numpy()[0, 0])}


def _same(got, want) -> bool:
    if want is None or got is None or isinstance(got, str):
        return got is want
    return bool(np.isclose(float(got), want, rtol=1e-12, atol=0))


def _compare_run(got: dict, want: dict, what: str) -> None:
    labels = {"epochs run": "training stopped at the wrong epoch (model.stop_training)",
              "stopped_epoch": "stopped_epoch is wrong", "best_epoch": "best_epoch is wrong", "best": "best is wrong",
              "weights": "the weights after on_train_end are not the right epoch's"}
    for key, label in labels.items():
        if not _same(got[key], want[key]):
            raise AssertionError(f"{what}: {label} (yours: {got[key]!r})")


def _check_scripted_runs(cls) -> None:
    reused = construct(cls, "EarlyStopping", patience=2, restore_best_weights=True)
    for kwargs, values, kind in EARLY_STOPPING_CASES:
        for restore in (False, True):
            options = {**kwargs, "restore_best_weights": restore}
            what = f"{signature('EarlyStopping', **options)} on the values {values} ({kind})"
            got = scripted_run(construct(cls, "EarlyStopping", **options), values, kwargs.get("monitor", "val_loss"))
            _compare_run(got, early_stopping_run(values, **options), what)
        what = f"one EarlyStopping(patience=2, restore_best_weights=True) reused for the values {values}"
        got = scripted_run(reused, values, "val_loss")  # whatever the previous run left behind
        _compare_run(got, early_stopping_run(values, patience=2, restore_best_weights=True), what)


#: The real fit: train towards w = 2 while the validation data wants w = 1.5, so the validation
#: loss falls for two epochs of SGD at 0.25, then rises; patience 2 stops it after about five.
FIT_EPOCHS = 20


class _Recorder(keras.callbacks.Callback):
    """Listed before the student's callback: what each epoch logged, and its weight, before any restore."""

    def on_train_begin(self, logs=None):
        self.values, self.weights = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.values.append(float(logs["val_loss"]))
        self.weights.append(float(self.model.layers[0].kernel.numpy()[0, 0]))


def fit_with(callback) -> tuple[_Recorder, float]:
    """A seeded one-weight regression stopped by ``callback``: the record, and the final weight."""
    rng = case_rng("early_stopping", "fit")
    x, x_val = rng.normal(size=(32, 1)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.25), loss="mse", run_eagerly=True)
    recorder = _Recorder()
    model.fit(x, 2 * x, validation_data=(x_val, 1.5 * x_val), batch_size=32, epochs=FIT_EPOCHS, shuffle=False,
              verbose=0, callbacks=[recorder, callback])
    return recorder, float(model.layers[0].kernel.numpy()[0, 0])


def _check_in_fit(cls) -> None:
    what = "model.fit(..., callbacks=[EarlyStopping(patience=2, restore_best_weights=True)])"
    student = construct(cls, "EarlyStopping", patience=2, restore_best_weights=True)
    with blocked([(keras.callbacks.EarlyStopping, "__init__")], f"{what}: uses keras.callbacks.EarlyStopping"):
        record, final = call(fit_with, student, what=what)
    want = early_stopping_run(record.values, patience=2, restore_best_weights=True)
    if want["epochs run"] != len(record.values) or (want["stopped_epoch"] is None) != (len(record.values) == FIT_EPOCHS):
        raise AssertionError(f"{what}: ran {len(record.values)} epochs; the validation losses it logged say otherwise")
    best = record.weights[want["best_epoch"]]
    assert_close(final, best, f"{what}: the weights after training are not the best epoch's", rtol=0, atol=0)


@checked
def check_early_stopping(EarlyStopping):
    assert_extends(EarlyStopping, keras.callbacks.Callback, "EarlyStopping",
                   not_built_on=(keras.callbacks.EarlyStopping,))
    for mode in ("minimum", "", "MAX"):
        assert_raises(ValueError, EarlyStopping, what=signature("EarlyStopping", mode=repr(mode)), mode=mode)
    with blocked([(keras.callbacks.EarlyStopping, "__init__")],
                 "EarlyStopping uses keras.callbacks.EarlyStopping: write the rules yourself"):
        _check_scripted_runs(EarlyStopping)
    _check_in_fit(EarlyStopping)
