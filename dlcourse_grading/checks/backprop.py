"""Hidden checks for assignment 3, backpropagation (instructor-only).

Each ``check_*`` takes the student's functions, raises AssertionError with a student-facing message
on the first problem and returns None when everything holds. Gradients are compared with
``tf.GradientTape`` run in float64 on the same inputs (random shapes, batches of one included);
inputs come from seeded generators. While the student's forward and backward code runs, automatic
differentiation is blocked (``checklib.no_autodiff``): the exercise is to do it by hand.
"""
from __future__ import annotations

import math

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import tensorflow as tf

from dlcourse.testing import as_array
from dlcourse_grading.checklib import (
    assert_no_ops,
    assert_python_bool,
    assert_python_float,
    assert_raises,
    assert_result,
    assert_scaled,
    assert_traceable,
    call,
    case_rng,
    checked,
    describe,
    large_logits,
    large_values,
    no_autodiff,
    one_hot_or_soft,
    random_tensor,
    scaled_tolerance,
    signature,
    unpack,
    with_hint,
)
from dlcourse_grading.checklib.references import central_differences, relative_error, to64

__all__ = [
    "check_mlp_forward", "check_mlp_backward", "check_mse_loss", "check_relative_error",
    "check_gradient_check", "check_activation_backward", "check_softmax_cross_entropy", "check_modular_net",
]

GRAD_KEYS = ("W1", "b1", "W2", "b2", "X")


# --------------------------------------------------------------------------- exercise 1: MLP

MLP_CASES = [  # N, D, H, C, dtype, input scale, what the case is for
    (4, 3, 5, 2, "float64", 1.0, "a small batch"),
    (1, 3, 4, 2, "float64", 1.0, "a batch of one example"),
    (5, 4, 4, 3, "float64", 1.0, "square W1 (a transposed dW1 keeps its shape)"),
    (6, 2, 3, 3, "float64", 1.0, "square W2 (a transposed dW2 keeps its shape)"),
    (7, 5, 6, 1, "float64", 1.0, "one output"),
    (3, 4, 6, 2, "float64", 100.0, "inputs of large magnitude"),
    (16, 6, 8, 4, "float32", 1.0, "a float32 batch"),
    (1, 2, 3, 1, "float32", 1.0, "a float32 batch of one example"),
]


def _mlp_case(rng, N, D, H, C, dtype, scale):
    X = rng.normal(size=(N, D)) * scale
    W1 = rng.normal(size=(D, H)) / math.sqrt(D)
    b1 = rng.normal(size=H) * 0.5
    W2 = rng.normal(size=(H, C)) / math.sqrt(H)
    b2 = rng.normal(size=C) * 0.5
    z1 = X @ W1 + b1
    if N > 1:  # every hidden unit active on some examples and inactive on others: no dead columns
        for j in range(H):
            if (z1[:, j] > 0).all() or (z1[:, j] < 0).all():
                b1[j] -= np.median(z1[:, j])
                z1[:, j] = X @ W1[:, j] + b1[j]
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    return ({k: tf.constant(v, dtype) for k, v in params.items()}, tf.constant(X, dtype),
            tf.constant(rng.normal(size=(N, C)), dtype))


def _tape_mlp(X, params, douts):
    """out and, for each upstream gradient, the gradients of sum(dout * out), by tf.GradientTape in float64."""
    X64 = tf.cast(X, tf.float64)
    p64 = {k: tf.cast(v, tf.float64) for k, v in params.items()}
    grads = []
    for dout in douts:
        with tf.GradientTape() as tape:
            tape.watch([X64] + list(p64.values()))
            out = tf.matmul(tf.nn.relu(tf.matmul(X64, p64["W1"]) + p64["b1"]), p64["W2"]) + p64["b2"]
            objective = tf.reduce_sum(out * tf.cast(dout, tf.float64))
        g = tape.gradient(objective, {**p64, "X": X64})
        grads.append({k: to64(v) for k, v in g.items()})
    return to64(out), grads


def _describe_net(N, D, H, C, dtype, kind):
    return f"{kind}: N={N}, D={D}, H={H}, C={C}, {dtype}"


def _forward(mlp_forward, X, params, what):
    with no_autodiff(what):
        result = call(mlp_forward, X, dict(params), what=what)
    return unpack(result, ("out", "cache"), what)


def _mlp_traceable(mlp_forward, mlp_backward=None):
    D, H, C = 3, 4, 2

    def run(X, W1, b1, W2, b2, dout):
        out, cache = mlp_forward(X, {"W1": W1, "b1": b1, "W2": W2, "b2": b2})
        if mlp_backward is None:
            return out
        return mlp_backward(dout, cache)

    specs = [tf.TensorSpec(s, tf.float32) for s in ((5, D), (D, H), (H,), (H, C), (C,), (5, C))]
    name = "mlp_forward" if mlp_backward is None else "mlp_backward (after mlp_forward)"
    assert_traceable(run, specs, name)


@checked
def check_mlp_forward(mlp_forward):
    rng = case_rng("mlp_forward")
    for N, D, H, C, dtype, scale, kind in MLP_CASES:
        params, X, _ = _mlp_case(rng, N, D, H, C, dtype, scale)
        what = f"mlp_forward on {_describe_net(N, D, H, C, dtype, kind)}"
        out, _cache = _forward(mlp_forward, X, params, what)
        X64, p = to64(X), {k: to64(v) for k, v in params.items()}
        expected = np.maximum(X64 @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
        assert_result(out, expected, f"{what}: out", dtype=dtype, **scaled_tolerance(expected, dtype))
    _mlp_traceable(mlp_forward)


def _gradient_dict(grads, what, keys=GRAD_KEYS):
    if not isinstance(grads, dict):
        raise AssertionError(f"{what}: return a dict of gradients with keys {list(keys)}, "
                             f"got {type(grads).__name__}")
    missing = [k for k in keys if k not in grads]
    if missing:
        raise AssertionError(f"{what}: the returned dict has no key {missing[0]!r} (expected keys {list(keys)})")
    return grads


@checked
def check_mlp_backward(mlp_forward, mlp_backward):
    rng = case_rng("mlp_backward")
    for N, D, H, C, dtype, scale, kind in MLP_CASES:
        params, X, dout = _mlp_case(rng, N, D, H, C, dtype, scale)
        second = tf.constant(rng.normal(size=(N, C)) * 3.0, dtype)
        _, references = _tape_mlp(X, params, [dout, second])
        net = _describe_net(N, D, H, C, dtype, kind)
        _out, cache = _forward(mlp_forward, X, params, f"mlp_forward on {net}")
        for upstream, reference, which in ((dout, references[0], "dout"), (second, references[1], "a second dout")):
            what = f"mlp_backward({which}, cache) on {net}"
            with no_autodiff(what):
                grads = _gradient_dict(call(mlp_backward, upstream, cache, what=what), what)
            for key in GRAD_KEYS:
                assert_scaled(grads[key], reference[key], f"{what}: grads[{key!r}]", dtype, batch=N)
    _mlp_traceable(mlp_forward, mlp_backward)


# --------------------------------------------------------------------------- exercise 2: MSE loss

MSE_CASES = [  # shape, dtype, scale
    ((4, 3), "float64", 1.0), ((1, 1), "float64", 1.0), ((1, 5), "float32", 1.0), ((8, 1), "float64", 1.0),
    ((6, 2), "float32", 1.0), ((32, 10), "float32", 2.0), ((5, 4), "float64", 1e3),
]


def _tape_mse(out, y):
    out64, y64 = tf.cast(out, tf.float64), tf.cast(y, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(out64)
        loss = tf.reduce_mean(tf.square(out64 - y64))
    return to64(loss), to64(tape.gradient(loss, out64))


@checked
def check_mse_loss(mse_loss):
    rng = case_rng("mse_loss")
    for shape, dtype, scale in MSE_CASES:
        out = random_tensor(rng, shape, dtype, scale=scale)
        y = random_tensor(rng, shape, dtype, scale=scale)
        size = "large values (up to ~1e3), " if scale > 100 else ""
        what = f"mse_loss(out, y) on {size}{describe(out)}"
        with no_autodiff(what):
            loss, dout = unpack(call(mse_loss, out, y, what=what), ("loss", "dout"), what)
        ref_loss, ref_dout = _tape_mse(out, y)
        # float64: the mean of ~40 squares is exact to ~1e-15; 1e-9 still fails a float32 detour.
        tol = {"rtol": 1e-9} if dtype == "float64" else {"rtol": 1e-4}
        assert_result(loss, ref_loss, f"{what}: loss", dtype=dtype, atol=0.0, **tol)
        assert_scaled(dout, ref_dout, f"{what}: dout", dtype, batch=shape[0])
    assert_traceable(lambda o, t: mse_loss(o, t), [tf.TensorSpec((3, 2), tf.float32)] * 2, "mse_loss")


# --------------------------------------------------------------------------- exercise 3: relative error

def _relative_error_cases(rng):
    """(a, b, what the case is for, rtol of the value, keyword arguments)."""
    a = rng.normal(size=(4, 5))
    cases = [(a, a * (1 + rng.normal(size=a.shape) * 1e-3), "two (4, 5) float64 arrays that differ by ~1e-3 "
              "relative", 1e-6, {})]
    b = a.copy()
    b[2, 3] *= -1  # one entry with the wrong sign: relative error 1
    cases.append((a, b, "arrays where one entry has the opposite sign", 1e-6, {}))
    c = np.array([1.0, -2.0, 0.5, 4.0, -3.0])
    d = c.copy()
    d[[1, 4]] -= 0.3  # the two largest differences are negative
    d[[0, 3]] += 1e-4
    cases.append((c, d, "arrays whose largest differences are positive (a - b > 0)", 1e-6, {}))
    cases.append((d, c, "arrays whose largest differences are negative (a - b < 0)", 1e-6, {}))
    e = rng.normal(size=(3, 2, 4))
    e[0] = 0.0
    f = e + rng.normal(size=e.shape) * 1e-6
    f[0] = 0.0
    cases.append((e, f, "(3, 2, 4) arrays with entries that are exactly 0 in both (a dead ReLU unit)", 1e-6, {}))
    g = rng.normal(size=(6,)) * 1e-13  # far below eps: the floor decides
    cases.append((g, -g, "arrays of tiny values (|x| ~ 1e-13, far below eps)", 1e-3, {}))
    cases.append((np.zeros((2, 3)), np.zeros((2, 3)), "two arrays of zeros", 0.0, {}))
    h = rng.normal(size=(5, 5))
    cases.append((h, h * (1 + 3e-11), "float64 arrays that differ by 3e-11 relative (the size of rounding noise: "
                  "compute in float64)", 1e-3, {}))
    cases.append((tf.constant(h, tf.float64), tf.constant(h.T, tf.float64), "two float64 tensors (5, 5)", 1e-6, {}))
    k = rng.normal(size=(3, 4)) * 1e-9
    cases.append((k, k * 1.5, "arrays of values ~1e-9 with eps=1e-12", 1e-2, {"eps": 1e-12}))
    cases.append((k, k * 1.5, "arrays of values ~1e-9 with eps=1.0", 1e-2, {"eps": 1.0}))
    # Both sides of the floor: |a| + |b| below eps (the floor decides; eps added instead of used as a
    # floor is off by (|a| + |b| + eps) / eps, here ~1.4x to 2x) and just above it (the floor is unused).
    m = rng.uniform(0.2, 0.4, size=(3, 4))
    cases.append((m, m * 1.5, "values ~0.3 with eps=1.0 (|a| + |b| < eps: the floor decides)", 1e-6, {"eps": 1.0}))
    cases.append((m, m * 1.5, "values ~0.3 with eps=0.5 (|a| + |b| > eps for every entry)", 1e-6, {"eps": 0.5}))
    p = rng.normal(size=(3, 4)).astype(np.float32)
    cases.append((tf.constant(p), tf.constant(p * np.float32(1.25)), "two float32 tensors (3, 4)", 1e-5, {}))
    return cases


@checked
def check_relative_error(relative_error_fn):
    rng = case_rng("relative_error")
    for a, b, kind, rtol, kwargs in _relative_error_cases(rng):
        what = f"{signature('relative_error', 'a', 'b', **kwargs)} on {kind}"
        got = call(relative_error_fn, a, b, what=what, **kwargs)
        assert_python_float(got, what)
        if not math.isfinite(got):
            raise AssertionError(f"{what}: the result is NaN or infinite (0/0 where both entries are zero?)")
        want = relative_error(a, b, **kwargs)
        if not abs(got - want) <= rtol * want + 1e-300:
            raise AssertionError(f"{what}: wrong value")
    for sa, sb in (((3, 4), (4, 3)), ((5,), (5, 1)), ((1, 4), (3, 4))):
        assert_raises(ValueError, relative_error_fn, rng.normal(size=sa), rng.normal(size=sb),
                      what=f"relative_error on arrays of shapes {sa} and {sb}")


# --------------------------------------------------------------------------- exercise 4: gradient check

def _smooth(x):
    """Keeps x's dtype (so a float32 check really computes in float32)."""
    return np.sum(np.sin(x) * x * x) + np.sum(np.tanh(x)) ** 2


def _smooth_grad(x):
    return np.cos(x) * x * x + 2 * np.sin(x) * x + 2 * np.sum(np.tanh(x)) * (1 - np.tanh(x) ** 2)


class _Decay:
    """Least squares with tanh and weight decay: L(W) = mean((tanh(A W) - Y)^2) + lam * sum(W^2)."""

    def __init__(self, rng, shape, lam):
        self.A = rng.normal(size=(8, shape[0]))
        self.Y = rng.normal(size=(8, shape[1])) * 0.5
        self.lam = lam

    def loss(self, W):
        A = self.A.astype(W.dtype)
        return np.mean((np.tanh(A @ W) - self.Y.astype(W.dtype)) ** 2) + self.lam * np.sum(W * W)

    def grad(self, W, decay_factor=2.0):
        A = self.A.astype(W.dtype)
        t = np.tanh(A @ W)
        return A.T @ (2 * (t - self.Y.astype(W.dtype)) * (1 - t * t)) / t.size + decay_factor * self.lam * W


def _tensor_f(x):
    t = tf.constant(x)
    return tf.reduce_sum(tf.exp(0.3 * t) * t)


def _tensor_grad(x):
    t = tf.constant(x)
    return tf.exp(0.3 * t) * (1 + 0.3 * t)


def _gradient_check_cases(rng):
    """(f, grad_f, x, what the case is for, keyword arguments, expected verdict).

    Verdicts: "pass" (a correct gradient), "fail" (a planted bug the check must catch) and
    "loose" (a bug below the caller's own, loose threshold: the check must pass it)."""
    decay = _Decay(rng, (4, 3), lam=1e-4)
    W = rng.normal(size=(4, 3))
    x5 = rng.normal(size=(5, 5))
    x5[2, 2] = 0.02  # one entry with a small gradient among large ones

    def small_entry_bug(x):
        g = _smooth_grad(x)
        g[2, 2] *= 1.0005  # ~2.5e-4 relative in that entry; invisible in a norm over all entries
        return g

    def wrong_decay(w):
        return decay.grad(w, decay_factor=1.0)

    return [
        (_smooth, _smooth_grad, rng.normal(size=(6,)), "a smooth f, float64 x", {}, "pass"),
        (decay.loss, decay.grad, W, "a loss with weight decay, float64 W", {}, "pass"),
        (_smooth, _smooth_grad, rng.normal(size=(3, 4)).astype(np.float32),
         "a smooth f and a float32 x (run the check in float64)", {}, "pass"),
        (decay.loss, decay.grad, W.astype(np.float32), "a loss with weight decay and a float32 W", {}, "pass"),
        (_tensor_f, _tensor_grad, rng.normal(size=(2, 3)), "f and grad_f that return tf tensors", {}, "pass"),
        (_smooth, _smooth_grad, rng.normal(size=(4,)), "h=1e-4 and threshold=1e-6", {"h": 1e-4, "threshold": 1e-6},
         "pass"),
        (decay.loss, wrong_decay, W, "a weight-decay gradient with a wrong factor (a bug of ~1e-4 relative)", {},
         "fail"),
        (_smooth, lambda x: _smooth_grad(x) * (1 + 2e-5), rng.normal(size=(7,)),
         "a gradient scaled by 1 + 2e-5 (a bug of ~1e-5 relative)", {}, "fail"),
        (_smooth, small_entry_bug, x5, "a bug in one small entry among large ones", {}, "fail"),
        (decay.loss, wrong_decay, W.astype(np.float32), "a weight-decay gradient with a wrong factor, float32 W", {},
         "fail"),
        (_smooth, lambda x: _smooth_grad(x) * (1 + 1e-4), rng.normal(size=(3,)),
         "a bug of ~5e-5 relative with threshold=1e-5", {"threshold": 1e-5}, "fail"),
        (_smooth, lambda x: _smooth_grad(x) * (1 + 1e-4), rng.normal(size=(3,)),
         "a bug of ~5e-5 relative with threshold=1e-3 (the caller chose a loose threshold)", {"threshold": 1e-3},
         "loose"),
    ]


_VERDICT_MESSAGES = {
    "pass": "reports a failure for a correct gradient (a false alarm: is the check run in float64, with central "
            "differences and the given h?)",
    "fail": "does not catch the planted bug (a check that is too loose: float32, too large a threshold or step, "
            "or an error averaged over all entries?)",
    "loose": "reports a failure although the error is below the given threshold (compare with the `threshold` "
             "argument)",
}


def _check_one_gradient_check(gradient_check, f, grad_f, x, kind, kwargs, verdict):
    what = f"{signature('gradient_check', 'f', 'grad_f', 'x', **kwargs)} for {kind}"
    passed, error = unpack(call(gradient_check, f, grad_f, x, what=what, **kwargs), ("passed", "error"), what)
    assert_python_bool(passed, f"{what}: `passed`")
    assert_python_float(error, f"{what}: `error`")
    if not math.isfinite(error):
        raise AssertionError(f"{what}: the error is NaN or infinite")
    if passed is not (verdict != "fail"):
        raise AssertionError(f"{what}: {_VERDICT_MESSAGES[verdict]}")
    x64 = np.asarray(x, dtype=np.float64)
    want = relative_error(grad_f(x64), central_differences(f, x64, kwargs.get("h", 1e-5)))
    if verdict == "pass":  # a correct gradient: the student's own float64 arithmetic may differ, not by 10x
        if not error <= max(10 * want, 1e-9):
            raise AssertionError(f"{what}: the error is too large for a correct gradient in float64")
    elif not abs(error - want) <= 1e-2 * want:  # a planted bug: its error is known to 1%
        raise AssertionError(f"{what}: wrong error value (the relative error between grad_f(x) and the "
                             "numerical gradient, both in float64)")


@checked
def check_gradient_check(gradient_check):
    rng = case_rng("gradient_check")
    for case in _gradient_check_cases(rng):
        _check_one_gradient_check(gradient_check, *case)  # x comes back unchanged, dtype included
    _check_threshold_boundary(gradient_check, rng)


def _check_threshold_boundary(gradient_check, rng):
    """Both sides of `error < threshold`, at the student's own error (so no rounding of ours
    decides): a threshold equal to the error fails, the next float above it passes."""
    x = rng.normal(size=(4,))
    f, grad_f = _smooth, lambda z: _smooth_grad(z) * (1 + 1e-4)
    _, error = call(gradient_check, f, grad_f, x, what="gradient_check(f, grad_f, x) for a bug of ~5e-5 relative")
    for threshold, want in ((error, False), (math.nextafter(error, math.inf), True)):
        what = f"gradient_check(f, grad_f, x, threshold=t) with t {'equal to' if not want else 'just above'} " \
               "the error it reports"
        passed, _ = call(gradient_check, f, grad_f, x, what=what, threshold=threshold)
        if passed is not want:
            raise AssertionError(f"{what}: passed is {passed}; the contract says passed is error < threshold")


# --------------------------------------------------------------------------- exercise 5: activation backward

ACT_CASES = [((), "float64", 4.0), ((7,), "float32", 4.0), ((4, 5), "float64", 4.0), ((2, 3, 4), "float32", 4.0),
             ((1, 1), "float64", 1.0), ((3, 6), "float32", 0.5)]

_TF_FORWARD = {"sigmoid": tf.sigmoid, "tanh": tf.tanh, "relu": tf.nn.relu}
_FROM_OUTPUT = {"sigmoid": lambda s: s * (1 - s), "tanh": lambda t: 1 - t * t, "relu": lambda r: (r > 0) * 1.0}
#: What a backward pass may not contain: the forward activation recomputed, or TensorFlow's own rule.
_RECOMPUTE = {
    "sigmoid": {"Sigmoid": "a sigmoid", "Exp": "an exp"},
    "tanh": {"Tanh": "a tanh", "Exp": "an exp"},
    "relu": {},
}
_GRAD_OPS = {"SigmoidGrad": "TensorFlow's own sigmoid gradient", "TanhGrad": "TensorFlow's own tanh gradient",
             "ReluGrad": "TensorFlow's own relu gradient"}


def _activation_cases(rng, name):
    """(x, what the case is for, scale of dout)."""
    cases = []
    for shape, dtype, scale in ACT_CASES:
        x = rng.normal(size=shape) * scale
        if name == "relu" and x.size > 3:
            x.flat[:2] = 0.0  # out == 0 exactly: the derivative there is 0
        cases.append((tf.constant(x, dtype), "random inputs", 1.0))
    cases += [(large_values(dtype), "inputs of large magnitude (saturated outputs)", 1.0)
              for dtype in ("float32", "float64")]
    cases.append((random_tensor(rng, (3, 5), "float64", scale=2.0), "a large upstream gradient (|dout| ~ 1e4)", 1e4))
    return cases


def _expected_dx(name, x, dout):
    if x.dtype == tf.float64:  # the tape through TensorFlow's own forward, in float64
        with tf.GradientTape() as tape:
            tape.watch(x)
            objective = tf.reduce_sum(_TF_FORWARD[name](x) * dout)
        return to64(tape.gradient(objective, x))
    # float32: the given (rounded) output is what the derivative must be computed from
    return to64(dout) * _FROM_OUTPUT[name](to64(_TF_FORWARD[name](x)))


def _local_only_hint(dx, out, name, tol):
    local = _FROM_OUTPUT[name](to64(out))
    got = as_array(dx, "dx") if hasattr(dx, "shape") and tuple(dx.shape) == tuple(out.shape) else None
    return " (multiply the local derivative by the upstream gradient dout)" \
        if got is not None and np.allclose(got, local, **tol) else ""


def _check_one_activation(name, backward, rng):
    label = f"{name}_backward(dout, out)"
    assert_no_ops(lambda d, o: backward(d, o), [tf.TensorSpec((3, 4), tf.float32)] * 2, label,
                  {**_RECOMPUTE[name], **_GRAD_OPS},
                  advice="compute the derivative from the cached output `out` alone, with basic arithmetic "
                         "(no activation is recomputed in the backward pass)")
    for x, kind, dout_scale in _activation_cases(rng, name):
        dtype = x.dtype.name
        out = _TF_FORWARD[name](x)
        dout = random_tensor(rng, x.shape, dtype, scale=dout_scale)
        expected = _expected_dx(name, x, dout)
        what = f"{label} on {describe(out)} from {kind}"
        with no_autodiff(what):
            dx = call(backward, dout, out, what=what)
        if isinstance(dx, tuple):
            raise AssertionError(f"{what}: return one tensor, dL/dx (not a tuple)")
        tol = scaled_tolerance(expected, dtype)
        with_hint(lambda: assert_result(dx, expected, what, dtype=dtype, **tol),
                  lambda: _local_only_hint(dx, out, name, tol))


@checked
def check_activation_backward(sigmoid_backward, tanh_backward, relu_backward):
    rng = case_rng("activation_backward")
    for name, backward in (("sigmoid", sigmoid_backward), ("tanh", tanh_backward), ("relu", relu_backward)):
        _check_one_activation(name, backward, rng)


# --------------------------------------------------------------------------- exercise 7: softmax cross-entropy

def _tape_cross_entropy(logits, y):
    z = tf.cast(logits, tf.float64)
    t = tf.cast(y, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=z))
    return to64(loss), to64(tape.gradient(loss, z))


CE_FORBIDDEN = {
    "Softmax": "a built-in softmax (keras.ops.softmax, tf.nn.softmax)",
    "LogSoftmax": "a built-in log-softmax (keras.ops.log_softmax, tf.nn.log_softmax)",
    "SoftmaxCrossEntropyWithLogits": "a built-in cross-entropy (keras.losses, tf.nn.softmax_cross_entropy_with_logits)",
    "SparseSoftmaxCrossEntropyWithLogits": "a built-in cross-entropy (keras.losses, tf.nn.sparse_softmax_...)",
    "softmax_cross_entropy_with_logits": "a built-in cross-entropy (keras.losses, tf.nn.softmax_cross_entropy_...)",
    "ReduceLogSumExp": "a built-in logsumexp (keras.ops.logsumexp, tf.reduce_logsumexp)",
}

CE_CASES = [  # N, C, dtype, soft targets, logit scale
    (4, 3, "float64", False, 2.0), (1, 4, "float64", False, 2.0), (8, 10, "float64", True, 3.0),
    (3, 2, "float32", True, 1.0), (16, 5, "float32", False, 3.0), (1, 6, "float32", True, 3.0),
]


def _cross_entropy_cases(rng):
    cases = []
    for N, C, dtype, soft, scale in CE_CASES:
        kind = f"{'soft' if soft else 'one-hot'} targets"
        cases.append((random_tensor(rng, (N, C), dtype, scale=scale), one_hot_or_soft(rng, N, C, soft, dtype), kind))
    for dtype in ("float32", "float64"):
        for soft in (False, True):
            kind = f"logits of magnitude up to 1e4 and {'soft' if soft else 'one-hot'} targets"
            cases.append((large_logits(dtype, classes=5), one_hot_or_soft(rng, 4, 5, soft, dtype), kind))
    return cases


def _loss_tolerance(logits, dtype):
    if dtype == "float64":
        return {"rtol": 1e-9, "atol": 1e-12}
    # float32 logits near 1e4 are only known to ~1e-3 (their spacing, 2**-10 at 1e4)
    return {"rtol": 1e-4, "atol": 2e-3 if float(np.abs(to64(logits)).max()) > 100 else 1e-5}


@checked
def check_softmax_cross_entropy(softmax_cross_entropy):
    assert_no_ops(lambda z, t: softmax_cross_entropy(z, t), [tf.TensorSpec((3, 4), tf.float32)] * 2,
                  "softmax_cross_entropy", CE_FORBIDDEN, advice="write it yourself with basic keras.ops functions")
    rng = case_rng("softmax_cross_entropy")
    for logits, y, kind in _cross_entropy_cases(rng):
        dtype = logits.dtype.name
        what = f"softmax_cross_entropy(logits, y) on {describe(logits)} with {kind}"
        with no_autodiff(what):
            loss, dlogits = unpack(call(softmax_cross_entropy, logits, y, what=what), ("loss", "dlogits"), what)
        ref_loss, ref_grad = _tape_cross_entropy(logits, y)
        assert_result(loss, ref_loss, f"{what}: loss", dtype=dtype, **_loss_tolerance(logits, dtype))
        assert_scaled(dlogits, ref_grad, f"{what}: dlogits", dtype, batch=int(logits.shape[0]))


# --------------------------------------------------------------------------- exercise 7: modules

AFFINE_CASES = [  # N, D, M, dtype, what the case is for
    (4, 3, 5, "float64", "a small batch"),
    (1, 3, 2, "float64", "a batch of one example"),
    (5, 4, 4, "float64", "a square W (a transposed dW keeps its shape)"),
    (6, 2, 3, "float32", "a float32 batch"),
    (3, 1, 1, "float64", "one input and one output feature"),
]

NET3_CASES = [  # N, D, H1, H2, C, dtype, labels, what the case is for
    (6, 4, 5, 3, 3, "float64", "one-hot", "a small batch"),
    (1, 3, 4, 2, 2, "float64", "soft", "a batch of one example with soft labels"),
    (5, 3, 3, 3, 3, "float64", "one-hot", "layers of one width (a cache of the wrong layer keeps its shape)"),
    (8, 5, 4, 6, 4, "float32", "soft", "a float32 batch"),
    (4, 2, 6, 5, 3, "float64", "dead", "a second hidden layer whose units are all inactive"),
]
NET3_KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")


def _affine_case(rng, N, D, M, dtype):
    x, W, b, dout = (rng.normal(size=s) for s in ((N, D), (D, M), (M,), (N, M)))
    return tuple(tf.constant(v, dtype) for v in (x, W, b * 2.0, dout))


def _affine_traceable(affine_forward, affine_backward):
    def run(x, W, b, dout):
        out, cache = affine_forward(x, W, b)
        return out, affine_backward(dout, cache)

    specs = [tf.TensorSpec(s, tf.float32) for s in ((5, 3), (3, 4), (4,), (5, 4))]
    assert_traceable(run, specs, "affine_forward and affine_backward")


def _check_affine(affine_forward, affine_backward, rng):
    for N, D, M, dtype, kind in AFFINE_CASES:
        x, W, b, dout = _affine_case(rng, N, D, M, dtype)
        case = f"x ({N}, {D}), W ({D}, {M}), b ({M},), {dtype}: {kind}"
        what = f"affine_forward on {case}"
        with no_autodiff(what):
            out, cache = unpack(call(affine_forward, x, W, b, what=what), ("out", "cache"), what)
        expected = to64(x) @ to64(W) + to64(b)
        assert_result(out, expected, f"{what}: out", dtype=dtype, **scaled_tolerance(expected, dtype))
        what = f"affine_backward(dout, cache) on {case}"
        with no_autodiff(what):
            grads = unpack(call(affine_backward, dout, cache, what=what), ("dx", "dW", "db"), what)
        x64, W64 = tf.cast(x, tf.float64), tf.cast(W, tf.float64)
        b64 = tf.cast(b, tf.float64)
        with tf.GradientTape() as tape:
            tape.watch([x64, W64, b64])
            objective = tf.reduce_sum((tf.matmul(x64, W64) + b64) * tf.cast(dout, tf.float64))
        references = tape.gradient(objective, [x64, W64, b64])
        for got, reference, name in zip(grads, references, ("dx", "dW", "db")):
            assert_scaled(got, to64(reference), f"{what}: {name}", dtype, batch=N)
    _affine_traceable(affine_forward, affine_backward)


def _net3_case(rng, N, D, H1, H2, C, dtype, labels):
    sizes = {"W1": (D, H1), "b1": (H1,), "W2": (H1, H2), "b2": (H2,), "W3": (H2, C), "b3": (C,)}
    params = {k: rng.normal(size=s) / (math.sqrt(s[0]) if len(s) == 2 else 2.0) for k, s in sizes.items()}
    if labels == "dead":
        params["b2"] = np.full(H2, -50.0)  # h2 = 0 everywhere: nothing flows below the head
    X = rng.normal(size=(N, D)) * 2.0
    y = one_hot_or_soft(rng, N, C, soft=labels == "soft", dtype=dtype)
    return {k: tf.constant(v, dtype) for k, v in params.items()}, tf.constant(X, dtype), y


def _tape_net3(X, y, params):
    """The loss and its gradients by tf.GradientTape in float64, with TensorFlow's own ops."""
    p64 = {k: tf.cast(v, tf.float64) for k, v in params.items()}
    X64, y64 = tf.cast(X, tf.float64), tf.cast(y, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(list(p64.values()))
        h1 = tf.nn.relu(tf.matmul(X64, p64["W1"]) + p64["b1"])
        h2 = tf.nn.relu(tf.matmul(h1, p64["W2"]) + p64["b2"])
        logits = tf.matmul(h2, p64["W3"]) + p64["b3"]
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y64, logits))
    return to64(loss), {k: to64(v) for k, v in tape.gradient(loss, p64).items()}


def _net3_traceable(three_layer_net):
    keys_and_shapes = (("W1", (3, 4)), ("b1", (4,)), ("W2", (4, 4)), ("b2", (4,)), ("W3", (4, 2)), ("b3", (2,)))

    def run(X, y, *values):
        return three_layer_net(X, y, {k: v for (k, _), v in zip(keys_and_shapes, values)})

    specs = [tf.TensorSpec(s, tf.float32) for s in [(5, 3), (5, 2)] + [s for _, s in keys_and_shapes]]
    assert_traceable(run, specs, "three_layer_net")


@checked
def check_modular_net(affine_forward, affine_backward, three_layer_net):
    rng = case_rng("modular_net")
    _check_affine(affine_forward, affine_backward, rng)
    for N, D, H1, H2, C, dtype, labels, kind in NET3_CASES:
        params, X, y = _net3_case(rng, N, D, H1, H2, C, dtype, labels)
        what = f"three_layer_net on N={N}, D={D}, H1={H1}, H2={H2}, C={C}, {dtype}: {kind}"
        with no_autodiff(what):
            loss, grads = unpack(call(three_layer_net, X, y, dict(params), what=what), ("loss", "grads"), what)
        ref_loss, references = _tape_net3(X, y, params)
        assert_result(loss, ref_loss, f"{what}: loss (a 0-d tensor)", dtype=dtype,
                      **scaled_tolerance(ref_loss, dtype))
        grads = _gradient_dict(grads, what, NET3_KEYS)
        for key in NET3_KEYS:
            assert_scaled(grads[key], references[key], f"{what}: grads[{key!r}]", dtype, batch=N)
    _net3_traceable(three_layer_net)
