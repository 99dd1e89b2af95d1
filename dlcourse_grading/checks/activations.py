"""Hidden checks for assignment 1, neurons and activations (instructor-only).

Each ``check_*`` takes the student's functions (or class), raises AssertionError with a
student-facing message on the first problem and returns None when everything holds.
References are NumPy float64 computations; inputs come from seeded generators.
"""
from __future__ import annotations

import math

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import keras
import tensorflow as tf
from keras import ops

from dlcourse.chapters import SEED
from dlcourse.testing import assert_close, assert_shape
from dlcourse_grading.checklib import (
    assert_gradient,
    assert_in_range,
    assert_no_ops,
    assert_python_float,
    assert_python_int,
    assert_raises,
    assert_result,
    assert_traceable,
    builtins,
    call,
    case_rng,
    checked,
    describe,
    gradient,
    is_large,
    large_logits,
    large_values,
    no_new_variables,
    random_tensor,
    signature,
)
from dlcourse_grading.checklib.keras_contract import (
    assert_config_round_trip,
    assert_extends,
    assert_loaded_layer,
    save_and_load,
)
from dlcourse_grading.checklib.references import erf, log_softmax, sigmoid, softmax, softplus, to64

__all__ = [
    "check_collapse_dense_layers", "check_mlp_forward", "check_count_parameters", "check_sigmoid",
    "check_tanh", "check_gradient_sign_agreement", "check_count_dead_units", "check_relu_family",
    "check_smooth_activations", "check_prelu", "check_softmax", "check_log_softmax", "check_bump_params",
]

SPEC = (tf.TensorSpec((3, 4), tf.float32),)
ELEMENTWISE_CASES = [((), "float32"), ((1,), "float32"), ((7,), "float32"), ((1, 1), "float64"),
                     ((4, 5), "float32"), ((2, 3, 4), "float64"), ((16, 8), "float32")]
LARGE = "with values of large magnitude (|x| up to 1e4)"


# --------------------------------------------------------------------------- element-wise functions

def _elementwise_values(fn, name, reference, rng, *, low=None, high=None, **kwargs):
    """fn on random tensors of several shapes and dtypes, and on large magnitudes."""
    label = signature(name, "x", **kwargs)
    for shape, dtype in ELEMENTWISE_CASES:
        x = random_tensor(rng, shape, dtype, scale=4.0)
        what = f"{label} on {describe(x)}"
        assert_result(call(fn, x, what=what, **kwargs), reference(to64(x)), what, dtype=dtype)
    for dtype in ("float32", "float64"):
        x = large_values(dtype)
        what = f"{label} on {describe(x)} {LARGE}"
        y = call(fn, x, what=what, **kwargs)
        assert_result(y, reference(to64(x)), what, dtype=dtype)
        if low is not None:
            assert_in_range(y, low, high, what)


def _elementwise_gradients(fn, name, derivative, rng, kink=None, **kwargs):
    """Tape gradients on random inputs, on large magnitudes and at exactly 0.

    A smooth function (``kink`` None) must have its true derivative at 0 too: a formula built
    on abs() gets 0 there, because TensorFlow's gradient of |x| at 0 is 0. At a kink any value
    between the one-sided derivatives ``kink = (left, right)`` is a valid subgradient and accepted
    (tf.nn.relu gives 0 there, tf.maximum(x, 0) gives 1).
    """
    label = signature(name, "x", **kwargs)
    for x, kind in ((random_tensor(rng, (5, 6), "float32", scale=4.0, avoid_zero=1e-2), "random inputs"),
                    (random_tensor(rng, (3, 4), "float64", scale=4.0, avoid_zero=1e-2), "random float64 inputs"),
                    (large_values("float32"), f"inputs {LARGE}"),
                    (large_values("float64"), f"float64 inputs {LARGE}")):
        assert_gradient(lambda t: fn(t, **kwargs), x, derivative(to64(x)), f"{label} on {kind}")
    for dtype in ("float32", "float64"):
        zeros = tf.zeros((2, 3), dtype)
        what = f"{label} at x = 0 ({dtype})"
        if kink is None:
            assert_gradient(lambda t: fn(t, **kwargs), zeros, derivative(to64(zeros)), what)
        else:
            _assert_subgradient(gradient(lambda t: fn(t, **kwargs), zeros, None, what), kink, what)


def _assert_subgradient(got, kink, what):
    low, high = sorted(kink)
    ok = np.isfinite(got) & (got >= low - 1e-6) & (got <= high + 1e-6)
    if not ok.all():
        value = got.flat[int(np.argmin(ok.reshape(-1)))]
        raise AssertionError(f"gradient of {what}: {value:.6g}; at the kink any value between the one-sided "
                             f"derivatives {low:g} and {high:g} is accepted, not one outside them")


# --------------------------------------------------------------------------- exercise 1

def _dense(rng, units, inputs, activation=None):
    layer = keras.layers.Dense(units, activation=activation)
    layer.build((None, inputs))
    kernel = rng.normal(size=(inputs, units)) / math.sqrt(inputs)
    bias = rng.normal(size=(units,))
    layer.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return layer


@checked
def check_collapse_dense_layers(collapse_dense_layers):
    rng = case_rng("collapse_dense_layers")
    for d, h, k in ((4, 3, 2), (1, 5, 1), (6, 1, 3), (5, 8, 7)):
        first, second = _dense(rng, h, d, None), _dense(rng, k, h, "linear")
        case = f"Dense({h}) then Dense({k}) on {d} input feature(s), with non-zero biases"
        (W1, b1), (W2, b2) = ([to64(w) for w in layer.get_weights()] for layer in (first, second))
        # call() also fails if either layer's weights come back changed
        merged = call(collapse_dense_layers, first, second, what=f"collapse_dense_layers for {case}")
        if not isinstance(merged, keras.layers.Dense):
            raise AssertionError(f"collapse_dense_layers for {case}: return a keras.layers.Dense, "
                                 f"got {type(merged).__name__}")
        if merged is first or merged is second:
            raise AssertionError(f"collapse_dense_layers for {case}: return a new layer, not one of the inputs")
        if not merged.built:
            raise AssertionError(f"collapse_dense_layers for {case}: the returned layer is not built "
                                 "(build it for the input size before setting its weights)")
        if merged.get_config().get("activation") != "linear":
            raise AssertionError(f"collapse_dense_layers for {case}: the merged layer must have no activation")
        for batch in (1, 9):
            x = random_tensor(rng, (batch, d), "float32", scale=2.0)
            out = call(merged, x, what=f"merged(x) for {case}")
            expected = (to64(x) @ W1 + b1) @ W2 + b2
            assert_result(out, expected, f"merged(x) on a batch of {batch} for {case}", rtol=1e-4, atol=1e-4)
    _check_collapse_refuses_nonlinear(collapse_dense_layers, rng)


def _check_collapse_refuses_nonlinear(collapse_dense_layers, rng):
    for where, acts in (("first", ("relu", None)), ("second", ("linear", "tanh")), ("both", ("sigmoid", "relu"))):
        first, second = _dense(rng, 3, 4, acts[0]), _dense(rng, 2, 3, acts[1])
        bad = acts[0] if where != "second" else acts[1]
        assert_raises(ValueError, collapse_dense_layers, first, second,
                      what=f"collapse_dense_layers when the {where} layer{'s have' if where == 'both' else ' has'} "
                           f"a non-linear activation ({bad})")


# --------------------------------------------------------------------------- exercise 2

def _softsign(z):
    return z / (1 + ops.abs(z))


_NP_ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "softsign": lambda z: z / (1 + np.abs(z))}


MLP_FORWARD_CASES = (  # layer sizes, activation (None: the default), batch
    ([3, 5, 2], None, 4), ([4, 1], None, 1), ([2, 6, 6, 3], "tanh", 5), ([5, 4, 3, 4, 2], "softsign", 3),
    ([3, 7, 2], "relu", 1))


def _mlp_forward_case(rng, sizes, act_name, batch):
    """(params, x, keyword arguments, the float64 reference output)."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = rng.normal(size=(n_in, n_out)) / math.sqrt(n_in)
        b = rng.normal(size=(n_out,)) * 0.5
        params.append((tf.constant(W, tf.float32), tf.constant(b, tf.float32)))
    x = random_tensor(rng, (batch, sizes[0]), "float32", scale=1.5)
    kwargs = {}
    if act_name is not None:
        kwargs["activation"] = {"relu": ops.relu, "tanh": ops.tanh, "softsign": _softsign}[act_name]
    a = to64(x)
    for index, (W, b) in enumerate(params):
        a = a @ to64(W) + to64(b)
        if index < len(params) - 1:
            a = _NP_ACTIVATIONS[act_name or "relu"](a)
    return params, x, kwargs, a


@checked
def check_mlp_forward(mlp_forward):
    rng = case_rng("mlp_forward")
    for sizes, act_name, batch in MLP_FORWARD_CASES:
        params, x, kwargs, a = _mlp_forward_case(rng, sizes, act_name, batch)
        net = f"a {len(sizes) - 1}-layer net {sizes}"
        act = "the default activation" if act_name is None else f"activation={act_name}"
        what = f"mlp_forward for {net} with {act} on a batch of {batch}"
        with no_new_variables(what, "compute the layers with keras.ops.matmul, not with Keras layers"):
            out = call(mlp_forward, x, params, what=what, **kwargs)
        assert_result(out, a, what, rtol=1e-4, atol=1e-4)
        if len(sizes) == 4:
            assert_traceable(lambda t: mlp_forward(t, params, **kwargs),
                             (tf.TensorSpec((2, sizes[0]), tf.float32),), "mlp_forward")
    _check_mlp_forward_on_keras_weights(mlp_forward, rng)


def _check_mlp_forward_on_keras_weights(mlp_forward, rng):
    """Parameters as Keras variables (as they come from a model) work too."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="relu"),
                              keras.layers.Dense(5, activation="relu"), keras.layers.Dense(3)])
    model.set_weights([rng.normal(size=w.shape).astype("float32") * 0.7 for w in model.get_weights()])
    x = random_tensor(rng, (7, 4), "float32", scale=1.5)
    what = "mlp_forward with the weights of a 3-layer Keras model"
    out = call(mlp_forward, x, [(layer.kernel, layer.bias) for layer in model.layers], what=what)
    assert_result(out, to64(model(x)), what, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- exercise 3

@checked
def check_count_parameters(count_parameters):
    rng = case_rng("count_parameters")
    cases = [[1, 1], [784, 128, 10], [2, 3, 4, 5, 6], [10, 10, 10, 10, 1], [1, 100, 1], [7, 3]]
    cases += [[int(n) for n in rng.integers(1, 300, size=length)] for length in (3, 4, 6)]
    cases.append([50000, 50000, 10])  # more than 2**31 parameters
    for sizes in cases:
        what = f"count_parameters({sizes})"
        with no_new_variables(what, "use the formula, do not build a Keras model"):
            got = call(count_parameters, list(sizes), what=what)
        assert_python_int(got, what)
        expected = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        if int(got) != expected:
            hint = " (integer overflow? count with Python ints)" if expected > 2**31 else ""
            raise AssertionError(f"{what}: wrong value for a {len(sizes) - 1}-layer net{hint}")


# --------------------------------------------------------------------------- exercises 4 and 5

@checked
def check_sigmoid(sigmoid_fn, sigmoid_derivative):
    assert_no_ops(sigmoid_fn, SPEC, "sigmoid", builtins("Sigmoid"))
    assert_traceable(sigmoid_derivative, SPEC, "sigmoid_derivative")
    rng = case_rng("sigmoid")
    _elementwise_values(sigmoid_fn, "sigmoid", sigmoid, rng, low=0.0, high=1.0)
    _elementwise_gradients(sigmoid_fn, "sigmoid", lambda x: sigmoid(x) * (1 - sigmoid(x)), rng)
    for shape, dtype in ELEMENTWISE_CASES:
        s = rng.uniform(0.0, 1.0, size=shape)
        if s.size > 4:
            s.flat[:3] = (0.0, 1.0, 0.5)
        s = tf.constant(s, dtype)
        what = f"sigmoid_derivative(s) on {describe(s)} of sigmoid outputs"
        assert_result(call(sigmoid_derivative, s, what=what), to64(s) * (1 - to64(s)), what, dtype=dtype)


@checked
def check_tanh(tanh, tanh_derivative):
    assert_no_ops(tanh, SPEC, "tanh", builtins("Tanh"))
    assert_traceable(tanh_derivative, SPEC, "tanh_derivative")
    rng = case_rng("tanh")
    _elementwise_values(tanh, "tanh", np.tanh, rng, low=-1.0, high=1.0)
    _elementwise_gradients(tanh, "tanh", lambda x: 1 - np.tanh(x) ** 2, rng)
    for shape, dtype in ELEMENTWISE_CASES:
        t = rng.uniform(-1.0, 1.0, size=shape)
        if t.size > 4:
            t.flat[:3] = (-1.0, 1.0, 0.0)
        t = tf.constant(t, dtype)
        what = f"tanh_derivative(t) on {describe(t)} of tanh outputs"
        assert_result(call(tanh_derivative, t, what=what), 1 - to64(t) ** 2, what, dtype=dtype)


# --------------------------------------------------------------------------- exercise 6

def _sign_agreement(x, upstream):
    grads = x * upstream[:, None]
    return float(np.mean((grads >= 0).all(axis=1) | (grads <= 0).all(axis=1)))


@checked
def check_gradient_sign_agreement(gradient_sign_agreement):
    rng = case_rng("gradient_sign_agreement")
    cases = [
        ("positive-only inputs", rng.uniform(0.1, 2.0, (50, 4)), rng.normal(size=50)),
        ("zero-centered inputs", rng.normal(size=(200, 3)), rng.normal(size=200)),
        ("inputs with exact zeros", rng.integers(-1, 3, (60, 3)).astype(float), rng.normal(size=60)),
        ("positive inputs with some zeros and negative upstream",
         np.where(rng.random((30, 4)) < 0.3, 0.0, rng.uniform(0.1, 2, (30, 4))), -rng.uniform(0.1, 1, 30)),
        ("some upstream gradients exactly zero", rng.normal(size=(40, 3)),
         np.where(rng.random(40) < 0.4, 0.0, rng.normal(size=40))),
        ("a single example", rng.normal(size=(1, 5)), rng.normal(size=1)),
        ("a single input feature", rng.normal(size=(9, 1)), rng.normal(size=9)),
        ("as many examples as features", rng.normal(size=(3, 3)) + 0.5, np.array([1.0, -2.0, 0.5])),
    ]
    for index, (kind, x, upstream) in enumerate(cases):
        dtype = "float64" if index % 3 == 1 else "float32"
        x, upstream = x.astype(dtype), upstream.astype(dtype)
        what = f"gradient_sign_agreement on {kind} ({dtype}, {x.shape[0]} examples x {x.shape[1]} features)"
        got = call(gradient_sign_agreement, tf.constant(x), tf.constant(upstream), what=what)
        assert_python_float(got, what)
        assert_close(got, _sign_agreement(x.astype(np.float64), upstream.astype(np.float64)), what,
                     rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- exercise 7

def _relu_layer(kernel, bias):
    layer = keras.layers.Dense(kernel.shape[1], activation="relu")
    layer.build((None, kernel.shape[0]))
    layer.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return layer


def _dead_unit_cases(rng):
    """(what the case is for, kernel, bias, inputs): units dead and alive by every route."""
    n, d, units = 40, 5, 12
    x = rng.normal(size=(n, d))
    kernel = rng.normal(size=(d, units))
    bias = rng.normal(size=units) * 0.3
    bias[[1, 4, 9]] = -100.0                     # dead: strongly negative bias
    kernel[:, 6], bias[6] = 0.0, 0.0             # dead: output exactly 0 everywhere
    kernel[:, 2], bias[2] = -np.abs(kernel[:, 2]), 50.0   # alive although every weight is negative
    top = int(np.argmax(x[1:, 0])) + 1           # alive on one example only (not the first), barely
    kernel[:, 7] = 0.0
    kernel[0, 7], bias[7] = 1.0, 0.01 - x[top, 0]
    kernel[:, 10], bias[10] = 0.0, -1e-3         # dead: a small negative output everywhere
    cases = [("a 12-unit layer on 40 examples", kernel, bias, x)]
    cases.append(("a 12-unit layer on a single example", kernel, bias, x[top:top + 1]))
    k2 = rng.normal(size=(3, 6))
    cases.append(("a layer with no dead unit", k2, np.full(6, 100.0), rng.normal(size=(8, 3))))
    cases.append(("a layer whose units are all dead", k2, np.full(6, -100.0), rng.normal(size=(8, 3))))
    x3 = -np.abs(rng.normal(size=(20, 4)))       # negative inputs: negative weights make positive outputs
    k3 = -np.abs(rng.normal(size=(4, 8)))
    b3 = np.zeros(8)
    k3[:, 5] = np.abs(k3[:, 5])
    cases.append(("a layer fed negative inputs", k3, b3, x3))
    return cases


@checked
def check_count_dead_units(count_dead_units):
    for kind, k, b, inputs in _dead_unit_cases(case_rng("count_dead_units")):
        layer = _relu_layer(k, b)
        inputs = tf.constant(inputs, tf.float32)
        expected = int(np.sum(np.max(np.asarray(layer(inputs)), axis=0) <= 0))
        what = f"count_dead_units on {kind}"
        got = call(count_dead_units, layer, inputs, what=what)  # the layer's weights come back unchanged
        assert_python_int(got, what)
        if int(got) != expected:
            raise AssertionError(f"{what}: wrong count (a unit is dead when its output is 0 for every example)")


# --------------------------------------------------------------------------- exercise 8

def _maxout(x, pieces):
    return x.reshape(x.shape[:-1] + (x.shape[-1] // pieces, pieces)).max(axis=-1)


@checked
def check_relu_family(relu, leaky_relu, elu, maxout):
    assert_no_ops(relu, SPEC, "relu", builtins("Relu", "Relu6", "LeakyRelu", "Elu", "Selu"))
    assert_no_ops(lambda t: leaky_relu(t, 0.2), SPEC, "leaky_relu", builtins("LeakyRelu"))
    assert_no_ops(lambda t: elu(t, 0.5), SPEC, "elu", builtins("Elu", "Selu"))
    assert_traceable(lambda t: maxout(t, 2), SPEC, "maxout")
    rng = case_rng("relu_family")
    _check_relu_family_values(relu, leaky_relu, elu, rng)
    _check_maxout(maxout, rng)


def _check_relu_family_values(relu, leaky_relu, elu, rng):
    _elementwise_values(relu, "relu", lambda x: np.maximum(x, 0), rng)
    _elementwise_gradients(relu, "relu", lambda x: (x > 0).astype(float), rng, kink=(0.0, 1.0))

    for slope in (None, 0.2, 0.05, 0.3):
        kwargs = {} if slope is None else {"negative_slope": slope}
        a = 0.01 if slope is None else slope
        _elementwise_values(leaky_relu, "leaky_relu", lambda x: np.where(x >= 0, x, a * x), rng, **kwargs)
    _elementwise_gradients(leaky_relu, "leaky_relu", lambda x: np.where(x > 0, 1.0, 0.2), rng, kink=(0.2, 1.0),
                           negative_slope=0.2)

    for alpha in (None, 0.5, 2.0):
        kwargs = {} if alpha is None else {"alpha": alpha}
        a = 1.0 if alpha is None else alpha
        _elementwise_values(elu, "elu", lambda x: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))), rng,
                            **kwargs)
    for alpha in (1.0, 0.5):
        # ELU is smooth at 0 only for alpha = 1; otherwise 0 is a kink between alpha and 1
        _elementwise_gradients(elu, "elu", lambda x: np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))),
                               rng, kink=None if alpha == 1.0 else (alpha, 1.0), alpha=alpha)


def _check_maxout(maxout, rng):
    for shape, pieces, dtype in (((2, 6), 2, "float32"), ((3, 6), 3, "float32"), ((1, 8), 4, "float32"),
                                 ((2, 3, 8), 2, "float32"), ((4, 5), 1, "float32"), ((2, 6), 6, "float32"),
                                 ((6,), 3, "float32"), ((3, 2, 9), 3, "float64")):
        x = random_tensor(rng, shape, dtype)
        what = f"maxout(x, {pieces}) on {describe(x)}"
        assert_result(call(maxout, x, pieces, what=what), _maxout(to64(x), pieces), what, dtype=dtype)
    for shape, pieces in (((2, 5), 2), ((3, 7), 3), ((4,), 3)):
        x = random_tensor(rng, shape)
        assert_raises(ValueError, maxout, x, pieces,
                      what=f"maxout(x, {pieces}) on {describe(x)} (features not a multiple of pieces)")


# --------------------------------------------------------------------------- exercise 9

def _np_gelu(x):
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def _np_mish(x):
    return x * np.tanh(softplus(x))


@checked
def check_smooth_activations(swish, gelu, mish):
    assert_no_ops(swish, SPEC, "swish", builtins("Sigmoid", "silu", "swish"))
    assert_no_ops(gelu, SPEC, "gelu", builtins("gelu"))
    assert_no_ops(mish, SPEC, "mish", builtins("Softplus", "mish", "softplus"))
    rng = case_rng("smooth_activations")

    _elementwise_values(swish, "swish", lambda x: x * sigmoid(x), rng)
    _elementwise_gradients(swish, "swish", lambda x: sigmoid(x) + x * sigmoid(x) * (1 - sigmoid(x)), rng)

    _elementwise_values(gelu, "gelu", _np_gelu, rng)
    _elementwise_gradients(gelu, "gelu", lambda x: 0.5 * (1 + erf(x / math.sqrt(2)))
                           + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), rng)

    _elementwise_values(mish, "mish", _np_mish, rng)

    def mish_grad(x):
        t = np.tanh(softplus(x))
        return t + x * (1 - t * t) * sigmoid(x)

    _elementwise_gradients(mish, "mish", mish_grad, rng)


# --------------------------------------------------------------------------- exercise 10

def _prelu(x, slope):
    return np.maximum(x, 0) + slope * np.minimum(x, 0)


def _slope_of(layer, features, what):
    weights = layer.trainable_weights
    if len(weights) != 1:
        raise AssertionError(f"{what}: PReLU needs exactly one trainable weight (the slope), it has {len(weights)}")
    assert_shape(weights[0], (features,), f"{what}: the slope weight")
    return weights[0]


_BUILTIN_RELUS = (keras.layers.PReLU, keras.layers.LeakyReLU, keras.layers.ReLU, keras.layers.ELU)


@checked
def check_prelu(PReLU):
    assert_extends(PReLU, keras.layers.Layer, "PReLU", not_built_on=_BUILTIN_RELUS)
    rng = case_rng("prelu")
    for shape, initial in (((4, 5), None), ((2, 3, 4), 0.6), ((1, 3), -0.1)):  # rank 2 and 3, per-feature slopes
        layer = _check_prelu_forward(PReLU, rng, shape, initial)
    assert_no_ops(layer, (tf.TensorSpec((2, 3), tf.float32),), "PReLU.call", builtins("LeakyRelu"))
    _check_prelu_dtype(PReLU, rng)
    _check_prelu_config(PReLU, rng)
    _check_prelu_trains(PReLU)
    _check_prelu_saves(PReLU, rng)


def _check_prelu_forward(PReLU, rng, shape, initial):
    """Construction, the initial slope, the forward pass with per-feature slopes, and both gradients."""
    kwargs = {} if initial is None else {"initial_slope": initial}
    a0 = 0.25 if initial is None else initial
    label = signature("PReLU", **kwargs)
    layer = call(PReLU, what=label, **kwargs)
    x = random_tensor(rng, shape, avoid_zero=0.05)
    what = f"{label} on {describe(x)}"
    y = call(layer, x, what=what)
    slope = _slope_of(layer, shape[-1], what)
    if not np.allclose(np.asarray(slope), a0):
        raise AssertionError(f"{what}: every slope must start at initial_slope")
    for sub in getattr(layer, "_flatten_layers", lambda **k: [])(include_self=False):
        if isinstance(sub, (keras.layers.PReLU, keras.layers.LeakyReLU)):
            raise AssertionError(f"PReLU must not use the built-in keras.layers.{type(sub).__name__}")
    assert_result(y, _prelu(to64(x), a0), what, dtype="float32")
    slopes = rng.uniform(-0.5, 1.0, size=shape[-1])
    slope.assign(slopes.astype("float32"))
    x = random_tensor(rng, shape, avoid_zero=0.05)
    what = f"{label} on {describe(x)} after setting a different slope per feature"
    assert_result(call(layer, x, what=what), _prelu(to64(x), slopes), what, dtype="float32")
    _check_prelu_gradients(layer, label, x, slopes, rng)
    return layer


def _check_prelu_gradients(layer, label, x, slopes, rng):
    upstream = rng.normal(size=tuple(x.shape))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.cast(layer(x), tf.float64) * upstream)
    grad_slope = tape.gradient(loss, layer.trainable_weights)[0]
    grad_x = tape.gradient(loss, x)
    what = f"the gradient of {label}'s output with respect to its slope ({describe(x)} inputs)"
    if grad_slope is None:
        raise AssertionError(f"{what}: none flows (is the slope weight used in call() through keras.ops?)")
    axes = tuple(range(len(x.shape) - 1))
    assert_close(grad_slope, (upstream * np.minimum(to64(x), 0)).sum(axis=axes), what, rtol=1e-4, atol=1e-4)
    if grad_x is None:
        raise AssertionError(f"{label}: no gradient flows back to the input")
    assert_close(grad_x, upstream * np.where(to64(x) > 0, 1.0, slopes), f"the gradient of {label} with "
                 "respect to its input", rtol=1e-4, atol=1e-4)


def _check_prelu_dtype(PReLU, rng):
    """dtype reaches the base Layer through **kwargs."""
    label = "PReLU(initial_slope=0.3, dtype='float64')"
    layer = call(PReLU, what=label, initial_slope=0.3, dtype="float64")
    x = random_tensor(rng, (3, 4), "float64", avoid_zero=0.05)
    what = f"{label} on a float64 batch"
    assert_result(call(layer, x, what=what), _prelu(to64(x), 0.3), what, dtype="float64")


def _check_prelu_config(PReLU, rng):
    layer = call(PReLU, what="PReLU(initial_slope=0.7, name='my_prelu')", initial_slope=0.7, name="my_prelu")
    clone = assert_config_round_trip(layer, PReLU, {"initial_slope": 0.7}, "PReLU")
    x = random_tensor(rng, (2, 3), avoid_zero=0.05)
    what = "a PReLU rebuilt with from_config(get_config())"
    assert_result(call(clone, x, what=what), _prelu(to64(x), 0.7), what, dtype="float32")


#: Largest slope error after 10 epochs of the fit below. The reference ends within ~1e-3 of the
#: slopes that made the data (tests/test_checks.py measures the margin); a slope that is not trained,
#: shared across features or cut off from the graph stays >= 0.1 away.
PRELU_FIT_TOLERANCE = 0.02


def prelu_fit_error(PReLU) -> float:
    """The largest slope error after model.fit on data made with a different slope per feature."""
    rng = case_rng("prelu", "fit")  # its own data, so tests/test_checks.py measures exactly this run
    keras.utils.set_random_seed(SEED)
    truth = np.array([0.05, 0.6, -0.2, 0.25])
    x = rng.normal(size=(256, 4)).astype("float32")
    y = _prelu(x.astype(np.float64), truth).astype("float32")
    layer = call(PReLU, what="PReLU()")
    model = keras.Sequential([keras.Input((4,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse", jit_compile=False)
    call(model.fit, x, y, batch_size=64, epochs=10, shuffle=False, verbose=0,
         what="model.fit of a model Input -> PReLU with MSE loss")
    learned = np.asarray(_slope_of(layer, 4, "PReLU inside a model"))
    return float(np.abs(learned - truth).max()) if np.isfinite(learned).all() else math.inf


def _check_prelu_trains(PReLU):
    if not prelu_fit_error(PReLU) <= PRELU_FIT_TOLERANCE:
        raise AssertionError("after model.fit on data made with a different slope per feature, the PReLU slopes "
                             "did not move to fit the data (is the slope trainable, one per feature, and used in "
                             "call() through keras.ops?)")


def _check_prelu_saves(PReLU, rng):
    layer = call(PReLU, what="PReLU(initial_slope=0.4, name='prelu_saved')", initial_slope=0.4,
                 name="prelu_saved")
    model = keras.Sequential([keras.Input((3, 5)), layer])
    slope = _slope_of(layer, 5, "PReLU in a model on (3, 5) inputs")
    slope.assign(rng.uniform(-0.5, 1.0, size=5).astype("float32"))
    x = random_tensor(rng, (4, 3, 5), avoid_zero=0.05)
    expected = to64(model(x))
    loaded = save_and_load(model, "PReLU")
    restored = assert_loaded_layer(loaded, "prelu_saved", PReLU, "PReLU")
    what = "saving a model with your PReLU to a .keras file and loading it with keras.saving.load_model"
    assert_close(_slope_of(restored, 5, "the loaded PReLU"), np.asarray(slope), f"{what}: the loaded slopes",
                 rtol=0, atol=1e-7)
    assert_result(call(loaded, x, what=f"{what}: the loaded model"), expected,
                  f"{what}: outputs of the loaded model", rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- exercise 11

SOFTMAX_CASES = [  # shape, temperature, axis, dtype
    ((6,), 1.0, -1, "float32"), ((1, 7), 0.5, -1, "float32"), ((4, 10), 2.5, -1, "float32"),
    ((5, 3), 1.0, 0, "float32"), ((2, 4, 6), 0.3, 1, "float32"), ((3, 4, 5), 1.0, -2, "float64"),
    ((4, 10), 10.0, -1, "float32"), ((2, 3, 5), 0.7, -1, "float64"), ((3, 1), 1.0, -1, "float32"),
]
LARGE_LOGITS = " with logits of magnitude up to 1e4"


def _large_tol(dtype, atol):
    """float32 logits near 1e4 are only known to about 1e-3 (their spacing): results inherit that."""
    return {"rtol": 1e-4, "atol": atol} if dtype == "float32" else {}


def _large_logit_cases(transposes):
    """(logits, axis) for both dtypes: the large-logit table, and its transpose reduced over axis 0."""
    for dtype in ("float32", "float64"):
        for transpose in transposes:
            z = large_logits(dtype)
            yield (tf.transpose(z), 0) if transpose else (z, -1)


def _softmax_gradient(p, w, axis, temperature):
    """d sum(w * softmax(z / T)) / dz, the Jacobian-vector product written out."""
    return p * (w - (p * w).sum(axis=axis, keepdims=True)) / temperature


@checked
def check_softmax(softmax_fn):
    assert_no_ops(softmax_fn, SPEC, "softmax", builtins("Softmax", "LogSoftmax"))
    rng = case_rng("softmax")
    for shape, temperature, axis, dtype in SOFTMAX_CASES:
        z = random_tensor(rng, shape, dtype, scale=3.0)
        what = f"{signature('softmax', 'logits', temperature=temperature, axis=axis)} on {describe(z)}"
        assert_result(call(softmax_fn, z, what=what, temperature=temperature, axis=axis),
                      softmax(to64(z) / temperature, axis), what, dtype=dtype)
    what = "softmax(logits) with the default temperature and axis on a float32 (3, 4) batch"
    z = random_tensor(rng, (3, 4))
    assert_result(call(softmax_fn, z, what=what), softmax(to64(z), -1), what, dtype="float32")
    for z, axis in _large_logit_cases((False, True)):
        for temperature in ((1.0, 0.05, 100.0) if axis == -1 else (1.0,)):  # very sharp and very flat too
            what = f"{signature('softmax', 'logits', temperature=temperature, axis=axis)} on {describe(z)}{LARGE_LOGITS}"
            p = call(softmax_fn, z, what=what, temperature=temperature, axis=axis)
            assert_result(p, softmax(to64(z) / temperature, axis), what, dtype=z.dtype.name,
                          **_large_tol(z.dtype.name, 2e-3))
    _check_softmax_gradients(softmax_fn, rng)
    for temperature in (0.0, -1.5):
        assert_raises(ValueError, softmax_fn, random_tensor(rng, (2, 3)), temperature=temperature,
                      what=f"softmax(logits, temperature={temperature})")


def _check_softmax_gradients(softmax_fn, rng):
    for z, temperature, axis in ((random_tensor(rng, (4, 6)), 0.7, -1), (large_logits("float32"), 1.0, -1),
                                 (random_tensor(rng, (5, 3), "float64"), 1.5, 0)):
        w = rng.normal(size=z.shape)
        expected = _softmax_gradient(softmax(to64(z) / temperature, axis), w, axis, temperature)
        large = is_large(z)
        assert_gradient(lambda t: softmax_fn(t, temperature=temperature, axis=axis), z, expected,
                        f"softmax(logits, temperature={temperature}, axis={axis}) on {describe(z)}"
                        f"{LARGE_LOGITS if large else ''}",
                        upstream=w, **(_large_tol(z.dtype.name, 2e-3) if large else {}))


@checked
def check_log_softmax(log_softmax_fn):
    assert_no_ops(log_softmax_fn, SPEC, "log_softmax", builtins("Softmax", "LogSoftmax"))
    rng = case_rng("log_softmax")
    for shape, _, axis, dtype in SOFTMAX_CASES:
        z = random_tensor(rng, shape, dtype, scale=3.0)
        what = f"log_softmax(logits, axis={axis}) on {describe(z)}"
        assert_result(call(log_softmax_fn, z, axis=axis, what=what), log_softmax(to64(z), axis), what, dtype=dtype,
                      atol=1e-5 if dtype == "float32" else None)
    what = "log_softmax(logits) with the default axis on a float32 (3, 4) batch"
    z = random_tensor(rng, (3, 4))
    assert_result(call(log_softmax_fn, z, what=what), log_softmax(to64(z), -1), what, dtype="float32", atol=1e-5)
    for z, axis in _large_logit_cases((False, True)):
        what = f"log_softmax(logits, axis={axis}) on {describe(z)}{LARGE_LOGITS}"
        lp = call(log_softmax_fn, z, axis=axis, what=what)
        assert_result(lp, log_softmax(to64(z), axis), what, dtype=z.dtype.name, **_large_tol(z.dtype.name, 5e-3))
    for z, axis in ((random_tensor(rng, (4, 6)), -1), (large_logits("float32"), -1),
                    (random_tensor(rng, (5, 3), "float64"), 0)):
        w = rng.normal(size=z.shape)
        expected = w - softmax(to64(z), axis) * w.sum(axis=axis, keepdims=True)
        large = is_large(z)
        assert_gradient(lambda t: log_softmax_fn(t, axis=axis), z, expected,
                        f"log_softmax(logits, axis={axis}) on {describe(z)}{LARGE_LOGITS if large else ''}",
                        upstream=w, **(_large_tol(z.dtype.name, 5e-3) if large else {}))


# --------------------------------------------------------------------------- exercise 13

BUMP_CASES = [  # left, right, height, steepness (None: the default)
    (1.0, 2.0, 3.0, 10.0), (-0.5, 0.5, 1.0, None), (0.0, 3.0, -2.0, 4.0), (2.0, 2.0, 1.5, 20.0),
    (-3.0, -1.0, 0.25, 1000.0), (0.5, 4.0, 5.0, 0.5),
]


def _bump(x, left, right, height, steepness):
    """The trapezoid of the contract, in float64."""
    w = 1.0 / steepness
    rise = np.clip((x - (left - w)) / w, 0.0, 1.0)
    fall = np.clip(((right + w) - x) / w, 0.0, 1.0)
    return height * np.minimum(rise, fall)


def _bump_points(left, right, steepness):
    """Both sides of every corner, the ramps' middles, the top, and points far away."""
    w = 1.0 / steepness
    corners = np.array([left - w, left, right, right + w])
    near = np.concatenate([corners + d * w for d in (-0.25, 0.0, 0.25)])
    return np.concatenate([near, [left - w / 2, right + w / 2, (left + right) / 2, left - 10 * w - 3.0,
                                  right + 10 * w + 3.0]])


def _bump_layers(params, what):
    if not isinstance(params, (list, tuple)) or len(params) != 2:
        raise AssertionError(f"{what}: return a list [(W1, b1), (W2, b2)] of two layers")
    arrays = []
    for (W, b), shapes, layer in zip(params, (((1, 4), (4,)), ((4, 1), (1,))), ("hidden", "output")):
        for value, shape, name in ((W, shapes[0], "W"), (b, shapes[1], "b")):
            assert_shape(value, shape, f"{what}: the {layer} layer's {name}")
            dtype = getattr(value.dtype, "name", str(value.dtype))
            if dtype != "float32":
                raise AssertionError(f"{what}: the {layer} layer's {name} is {dtype}; mlp_forward takes float32 "
                                     "weights for float32 inputs")
            arrays.append(to64(value))
    return arrays


@checked
def check_bump_params(bump_params):
    for left, right, height, steepness in BUMP_CASES:
        kwargs = {} if steepness is None else {"steepness": steepness}
        s = 100.0 if steepness is None else steepness
        what = signature("bump_params", repr(left), repr(right), repr(height), **kwargs)
        W1, b1, W2, b2 = _bump_layers(call(bump_params, left, right, height, what=what, **kwargs), what)
        x = _bump_points(left, right, s)
        out = (np.maximum(x[:, None] @ W1 + b1, 0.0) @ W2 + b2)[:, 0]
        # float32 weights: each of the four rounded biases may be off by 2^-24 of its size, scaled by s |h|
        tol = 1e-5 * abs(height) + 8 * 2.0 ** -24 * s * abs(height) * (abs(left) + abs(right) + 2 / s + 1)
        bad = np.abs(out - _bump(x, left, right, height, s)) > tol
        if bad.any():
            point = float(x[int(np.argmax(bad))])
            place = ("on the flat top" if left <= point <= right else "on a ramp" if left - 1 / s < point < right + 1 / s
                     else "outside the bump")
            raise AssertionError(f"{what}: wrong output at x = {point:.6g} ({place}; the ramps are 1 / steepness "
                                 "wide, just outside [left, right])")
