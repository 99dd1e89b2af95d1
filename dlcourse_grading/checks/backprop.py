"""Hidden checks for assignment 3, backpropagation (instructor-only).

Each ``check_*`` takes the student's functions, raises AssertionError with a student-facing message
on the first problem and returns None when everything holds. Gradients are compared with
``tf.GradientTape`` run in float64 on the same inputs (random shapes, batches of one included);
inputs come from seeded generators. While the student's forward and backward code runs, automatic
differentiation is switched off (see :func:`no_autodiff`): the exercise is to do it by hand.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import tensorflow as tf

from dlcourse.testing import as_array
from dlcourse_grading.checks.common import (
    assert_python_bool,
    assert_python_float,
    assert_raises,
    assert_result,
    assert_traceable,
    call,
    case_rng,
    checked,
    describe,
    graph_ops,
    large_values,
    random_tensor,
)

__all__ = [
    "check_mlp_forward", "check_mlp_backward", "check_mse_loss", "check_relative_error",
    "check_numerical_gradient", "check_gradient_check", "check_activation_backward",
    "check_softmax_cross_entropy", "no_autodiff",
]

GRAD_KEYS = ("W1", "b1", "W2", "b2", "X")


# --------------------------------------------------------------------------- no autodiff

@contextlib.contextmanager
def no_autodiff(what: str):
    """Make TensorFlow's automatic differentiation unusable inside the block.

    ``tf.GradientTape`` (creating one, or asking an existing one for gradients),
    ``tf.gradients``, ``tf.autodiff.ForwardAccumulator`` and ``tf.test.compute_gradient`` raise an
    AssertionError that names ``what``. The patches are on the classes and the ``tf`` module, so
    they also catch a tape imported under another name or created before the block. If the
    student's code swallows that error, the block still fails when it ends.
    """
    from tensorflow.python.eager import backprop, forwardprop

    used: list[str] = []

    def refuse(kind: str) -> Callable:
        def refused(*args: Any, **kwargs: Any):
            used.append(kind)
            raise AssertionError(f"{what} uses {kind}: compute the gradients by hand from the cached forward "
                                 "values (automatic differentiation is what this exercise replaces)")
        return refused

    tape, accumulator = backprop.GradientTape, forwardprop.ForwardAccumulator
    patches = [(tape, "__init__", "tf.GradientTape"), (tape, "gradient", "tf.GradientTape"),
               (tape, "jacobian", "tf.GradientTape"), (tape, "batch_jacobian", "tf.GradientTape"),
               (accumulator, "__init__", "tf.autodiff.ForwardAccumulator"),
               (tf, "gradients", "tf.gradients"), (tf.test, "compute_gradient", "tf.test.compute_gradient")]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in patches]
    try:
        for owner, name, kind in patches:
            setattr(owner, name, refuse(kind))
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
    if used:
        raise AssertionError(f"{what} uses {used[0]}: compute the gradients by hand from the cached forward "
                             "values (automatic differentiation is what this exercise replaces)")


def _assert_no_ops(fn: Callable, specs, what: str, forbidden: dict[str, str],
                   advice: str = "write it yourself with basic keras.ops functions") -> None:
    """Trace fn; fail if an op type or a name-scope part (any case) is a key of ``forbidden``.

    The value names what was used, e.g. "a built-in softmax (keras.ops.softmax, tf.nn.softmax)".
    """
    keys = {k.lower(): v for k, v in forbidden.items()}
    for op_type, name in graph_ops(fn, specs, what):
        parts = [op_type.lower()] + [p.lower() for p in name.split("/")[:-1]]
        hit = next((keys[p] for p in parts if p in keys), None)
        if hit:
            raise AssertionError(f"{what} uses {hit}: {advice}")


# --------------------------------------------------------------------------- comparisons

def _np(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _grad_tol(expected: np.ndarray, dtype: str) -> dict:
    """Tolerances for a gradient: relative, plus an absolute part scaled to the gradient's size.

    Entries that are sums of many products can cancel to nearly zero; their rounding error is
    relative to the size of the terms, not to the entry itself.
    """
    size = float(np.abs(expected).max()) if expected.size else 1.0
    if dtype == "float64":
        return {"rtol": 1e-7, "atol": 1e-9 * max(size, 1e-3)}
    # float32: loose enough for a GPU's TensorFloat-32 matmuls (about 1e-3 relative); the
    # float64 cases are the ones that pin the maths down.
    return {"rtol": 5e-3, "atol": 5e-3 * max(size, 1e-3)}


def _hint(got: Any, expected: np.ndarray, batch: int | None = None) -> str:
    """A short diagnosis of a wrong gradient (a scale factor, a transpose, a sign), or ''."""
    try:
        g = as_array(got, "")
    except AssertionError:
        return ""
    if g.shape != expected.shape or not np.isfinite(g).all() or not np.abs(expected).max() > 0:
        return ""

    def same(a, b):
        return np.allclose(a, b, rtol=1e-3, atol=1e-6 * np.abs(b).max())

    if batch and batch > 1 and (same(g * batch, expected) or same(g, expected * batch)):
        return " (off by a factor of the batch size: is there a 1/N, or one too many?)"
    if same(g, -expected):
        return " (the sign is flipped)"
    if g.ndim == 2 and g.shape[0] == g.shape[1] and same(g.T, expected):
        return " (it is the transpose of the right matrix)"
    for factor in (2.0, 0.5):
        if same(g, factor * expected):
            return " (off by a constant factor)"
    return ""


def _assert_grad(got: Any, expected: np.ndarray, what: str, dtype: str, batch: int | None = None) -> None:
    """Type → shape → dtype → values of a gradient, with a hint when the values are wrong."""
    try:
        assert_result(got, expected, what, dtype=dtype, **_grad_tol(expected, dtype))
    except AssertionError as exc:
        raise AssertionError(f"{exc}{_hint(got, expected, batch)}") from None


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
        grads.append({k: _np(v) for k, v in g.items()})
    return _np(out), grads


def _describe_net(N, D, H, C, dtype, kind):
    return f"{kind}: N={N}, D={D}, H={H}, C={C}, {dtype}"


def _pair(result, what: str, names: str) -> tuple:
    """The student's function must return a 2-tuple such as (loss, dout)."""
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(f"{what}: return a tuple ({names}), got {type(result).__name__}")
    return result


def _forward(mlp_forward, X, params, what):
    with no_autodiff(what):
        result = call(mlp_forward, X, dict(params), what=what)
    _pair(result, what, "out, cache")
    return result


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
        X64, p = _np(X), {k: _np(v) for k, v in params.items()}
        expected = np.maximum(X64 @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
        assert_result(out, expected, f"{what}: out", dtype=dtype, **_grad_tol(expected, dtype))
    _mlp_traceable(mlp_forward)


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
                grads = call(mlp_backward, upstream, cache, what=what)
            if not isinstance(grads, dict):
                raise AssertionError(f"{what}: return a dict of gradients with keys {list(GRAD_KEYS)}, "
                                     f"got {type(grads).__name__}")
            missing = [k for k in GRAD_KEYS if k not in grads]
            if missing:
                raise AssertionError(f"{what}: the returned dict has no key {missing[0]!r} "
                                     f"(expected keys {list(GRAD_KEYS)})")
            for key in GRAD_KEYS:
                _assert_grad(grads[key], reference[key], f"{what}: grads[{key!r}]", dtype, batch=N)
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
    return _np(loss), _np(tape.gradient(loss, out64))


@checked
def check_mse_loss(mse_loss):
    rng = case_rng("mse_loss")
    for shape, dtype, scale in MSE_CASES:
        out = random_tensor(rng, shape, dtype, scale=scale)
        y = random_tensor(rng, shape, dtype, scale=scale)
        size = "large values (up to ~1e3), " if scale > 100 else ""
        what = f"mse_loss(out, y) on {size}{describe(out)}"
        with no_autodiff(what):
            result = call(mse_loss, out, y, what=what)
        _pair(result, what, "loss, dout")
        loss, dout = result
        ref_loss, ref_dout = _tape_mse(out, y)
        tol = {"rtol": 1e-9} if dtype == "float64" else {"rtol": 1e-4}
        assert_result(loss, ref_loss, f"{what}: loss", dtype=dtype, atol=0.0, **tol)
        _assert_grad(dout, ref_dout, f"{what}: dout", dtype, batch=shape[0])
    assert_traceable(lambda o, t: mse_loss(o, t), [tf.TensorSpec((3, 2), tf.float32)] * 2, "mse_loss")


# --------------------------------------------------------------------------- exercise 3: relative error

def _relative_error(a, b, eps=1e-8):
    a, b = _np(a), _np(b)
    return float((np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), eps)).max())


@checked
def check_relative_error(relative_error):
    rng = case_rng("relative_error")

    def expect(a, b, kind, rtol=1e-6, **kwargs):
        what = f"relative_error(a, b{', ' if kwargs else ''}{', '.join(f'{k}={v}' for k, v in kwargs.items())}) " \
               f"on {kind}"
        got = call(relative_error, a, b, what=what, **kwargs)
        assert_python_float(got, what)
        want = _relative_error(a, b, **kwargs)
        if not math.isfinite(got):
            raise AssertionError(f"{what}: the result is NaN or infinite (0/0 where both entries are zero?)")
        if not abs(got - want) <= rtol * want + 1e-300:
            raise AssertionError(f"{what}: wrong value")

    a = rng.normal(size=(4, 5))
    expect(a, a * (1 + rng.normal(size=a.shape) * 1e-3), "two (4, 5) float64 arrays that differ by ~1e-3 relative")
    b = a.copy()
    b[2, 3] *= -1  # one entry with the wrong sign: relative error 1
    expect(a, b, "arrays where one entry has the opposite sign")
    c = np.array([1.0, -2.0, 0.5, 4.0, -3.0])
    d = c.copy()
    d[[1, 4]] -= 0.3  # the two largest differences are negative
    d[[0, 3]] += 1e-4
    expect(c, d, "arrays whose largest differences are positive (a - b > 0)")
    expect(d, c, "arrays whose largest differences are negative (a - b < 0)")
    e = rng.normal(size=(3, 2, 4))
    e[0] = 0.0
    f = e + rng.normal(size=e.shape) * 1e-6
    f[0] = 0.0
    expect(e, f, "(3, 2, 4) arrays with entries that are exactly 0 in both (a dead ReLU unit)")
    g = rng.normal(size=(6,)) * 1e-13  # far below eps: the guard decides
    expect(g, -g, "arrays of tiny values (|x| ~ 1e-13, far below eps)", rtol=1e-3)
    expect(np.zeros((2, 3)), np.zeros((2, 3)), "two arrays of zeros", rtol=0.0)
    h = rng.normal(size=(5, 5))
    expect(h, h * (1 + 3e-11), "float64 arrays that differ by 3e-11 relative (the size of rounding noise: "
           "compute in float64)", rtol=1e-3)
    expect(tf.constant(h, tf.float64), tf.constant(h.T, tf.float64), "two float64 tensors (5, 5)")
    k = rng.normal(size=(3, 4)) * 1e-9
    expect(k, k * 1.5, "arrays of values ~1e-9 with eps=1e-12", rtol=1e-2, eps=1e-12)
    expect(k, k * 1.5, "arrays of values ~1e-9 with eps=1.0", rtol=1e-2, eps=1.0)
    # Both sides of the floor: |a| + |b| below eps (the floor decides; eps added instead of used as a
    # floor is off by (|a| + |b| + eps) / eps, here ~1.4x to 2x) and just above it (the floor is unused).
    m = rng.uniform(0.2, 0.4, size=(3, 4))
    expect(m, m * 1.5, "values ~0.3 with eps=1.0 (|a| + |b| < eps: the floor decides)", eps=1.0)
    expect(m, m * 1.5, "values ~0.3 with eps=0.5 (|a| + |b| > eps for every entry)", eps=0.5)
    p = rng.normal(size=(3, 4)).astype(np.float32)
    expect(tf.constant(p), tf.constant(p * np.float32(1.25)), "two float32 tensors (3, 4)", rtol=1e-5)
    for sa, sb in (((3, 4), (4, 3)), ((5,), (5, 1)), ((1, 4), (3, 4))):
        assert_raises(ValueError, relative_error, rng.normal(size=sa), rng.normal(size=sb),
                      what=f"relative_error on arrays of shapes {sa} and {sb}")


# --------------------------------------------------------------------------- exercise 4: numerical gradient

def _central_difference(f, x, h):
    """The reference: central differences, one entry at a time, in float64."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        keep = x[index]
        x[index] = keep + h
        plus = float(f(x))
        x[index] = keep - h
        minus = float(f(x))
        x[index] = keep
        grad[index] = (plus - minus) / (2 * h)
    return grad


def _coupled(x):
    """Entries interact (a left-over perturbation changes other entries' differences); large f'''."""
    flat = np.asarray(x, dtype=np.float64).ravel()
    return float(np.sum(flat * np.roll(flat, 1)) + np.sum(flat ** 3) + np.sum(np.sin(3 * flat)))


def _as_tensor_sum(x):
    t = tf.constant(x)
    return tf.reduce_sum(tf.tanh(t) * t + tf.exp(0.5 * t))


def _numpy_scalar(x):
    return np.float64(np.sum(np.cos(x) * x ** 2) + np.prod(x.shape) * np.sum(x) ** 2)


@checked
def check_numerical_gradient(numerical_gradient):
    rng = case_rng("numerical_gradient")
    cases = [  # f, description, shape, h (None: the default)
        (_coupled, "f(x) that couples neighbouring entries (returns a Python float)", (6,), None),
        (_coupled, "f(x) that couples neighbouring entries", (3, 4), None),
        (_numpy_scalar, "f(x) returning a NumPy float64", (2, 3, 2), None),
        (_as_tensor_sum, "f(x) returning a 0-d float64 tf tensor", (4, 2), None),
        (_coupled, "a one-entry x", (1,), None),
        (_coupled, "f with a large third derivative and h=1e-2", (5,), 1e-2),
        (_numpy_scalar, "h=1e-3", (1, 3), 1e-3),
    ]
    for f, kind, shape, h in cases:
        x = rng.normal(size=shape)
        original = x.copy()
        seen: list[tuple] = []

        def recording(z, f=f):
            seen.append(np.shape(z))
            return f(z)

        kwargs = {} if h is None else {"h": h}
        what = f"numerical_gradient(f, x{'' if h is None else f', h={h}'}) for {kind}, x of shape {shape}"
        with no_autodiff(what):
            grad = call(numerical_gradient, recording, x, what=what, **kwargs)
        if not np.array_equal(x, original):  # bit for bit: x + h - 2h + h is not always x
            hint = " (by rounding: put back the saved value, not x[i] + h - 2h + h)" \
                if np.allclose(x, original, rtol=1e-12, atol=0.0) else ""
            raise AssertionError(f"{what}: x was changed{hint}; perturb a copy, or put every entry back "
                                 "after using it")
        if any(s != shape for s in seen):
            raise AssertionError(f"{what}: f was called with an input of another shape than x")
        if len(seen) < 2 * x.size:
            raise AssertionError(f"{what}: f was called {len(seen)} times for {x.size} entries; central "
                                 "differences need f(x + h e_i) and f(x - h e_i) for every entry i")
        expected = _central_difference(f, original, 1e-5 if h is None else h)
        assert_result(grad, expected, what, rtol=1e-8, atol=1e-10 * max(1.0, float(np.abs(expected).max())))


# --------------------------------------------------------------------------- exercise 5: gradient check

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


@checked
def check_gradient_check(gradient_check):
    rng = case_rng("gradient_check")
    decay = _Decay(rng, (4, 3), lam=1e-4)
    W = rng.normal(size=(4, 3))
    x5 = rng.normal(size=(5, 5))
    x5[2, 2] = 0.02  # one entry with a small gradient among large ones

    def small_entry_bug(x):
        g = _smooth_grad(x)
        g[2, 2] *= 1.0005  # ~2.5e-4 relative in that entry; invisible in a norm over all entries
        return g

    correct = [  # f, grad_f, x, description, kwargs
        (_smooth, _smooth_grad, rng.normal(size=(6,)), "a smooth f, float64 x", {}),
        (decay.loss, decay.grad, W, "a loss with weight decay, float64 W", {}),
        (_smooth, _smooth_grad, rng.normal(size=(3, 4)).astype(np.float32),
         "a smooth f and a float32 x (run the check in float64)", {}),
        (decay.loss, decay.grad, W.astype(np.float32), "a loss with weight decay and a float32 W", {}),
        (_tensor_f, _tensor_grad, rng.normal(size=(2, 3)), "f and grad_f that return tf tensors", {}),
        (_smooth, _smooth_grad, rng.normal(size=(4,)), "h=1e-4 and threshold=1e-6", {"h": 1e-4, "threshold": 1e-6}),
    ]
    buggy = [
        (decay.loss, lambda w: decay.grad(w, decay_factor=1.0), W,
         "a weight-decay gradient with a wrong factor (a bug of ~1e-4 relative)", {}),
        (_smooth, lambda x: _smooth_grad(x) * (1 + 2e-5), rng.normal(size=(7,)),
         "a gradient scaled by 1 + 2e-5 (a bug of ~1e-5 relative)", {}),
        (_smooth, small_entry_bug, x5, "a bug in one small entry among large ones", {}),
        (decay.loss, lambda w: decay.grad(w, decay_factor=1.0), W.astype(np.float32),
         "a weight-decay gradient with a wrong factor, float32 W", {}),
        (_smooth, lambda x: _smooth_grad(x) * (1 + 1e-4), rng.normal(size=(3,)),
         "a bug of ~5e-5 relative with threshold=1e-5", {"threshold": 1e-5}),
    ]
    loose = [
        (_smooth, lambda x: _smooth_grad(x) * (1 + 1e-4), rng.normal(size=(3,)),
         "a bug of ~5e-5 relative with threshold=1e-3 (the caller chose a loose threshold)", {"threshold": 1e-3}),
    ]
    for cases, should_pass in ((correct, True), (buggy, False), (loose, True)):
        for f, grad_f, x, kind, kwargs in cases:
            args = "".join(f", {k}={v}" for k, v in kwargs.items())
            what = f"gradient_check(f, grad_f, x{args}) for {kind}"
            original = np.array(x, copy=True)
            result = call(gradient_check, f, grad_f, x, what=what, **kwargs)
            _pair(result, what, "passed, error")
            passed, error = result
            assert_python_bool(passed, f"{what}: `passed`")
            assert_python_float(error, f"{what}: `error`")
            if not np.array_equal(np.asarray(x), original) or np.asarray(x).dtype != original.dtype:
                raise AssertionError(f"{what}: x was changed; work on a float64 copy")
            if not math.isfinite(error):
                raise AssertionError(f"{what}: the error is NaN or infinite")
            if cases is loose and not passed:
                raise AssertionError(f"{what}: reports a failure although the error is below the given threshold "
                                     "(compare with the `threshold` argument)")
            if should_pass and not passed:
                raise AssertionError(f"{what}: reports a failure for a correct gradient (a false alarm: is the "
                                     "check run in float64, with central differences and the given h?)")
            if not should_pass and passed:
                raise AssertionError(f"{what}: does not catch the planted bug (a check that is too loose: float32, "
                                     "too large a threshold or step, or an error averaged over all entries?)")
            x64 = np.asarray(x, dtype=np.float64)
            want = _relative_error(grad_f(x64), _central_difference(f, x64, kwargs.get("h", 1e-5)))
            if should_pass and cases is correct:
                if not error <= max(10 * want, 1e-9):
                    raise AssertionError(f"{what}: the error is too large for a correct gradient in float64")
            elif not abs(error - want) <= 1e-2 * want:
                raise AssertionError(f"{what}: wrong error value (the relative error between grad_f(x) and the "
                                     "numerical gradient, both in float64)")
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


# --------------------------------------------------------------------------- exercise 6: activation backward

ACT_CASES = [((), "float64", 4.0), ((7,), "float32", 4.0), ((4, 5), "float64", 4.0), ((2, 3, 4), "float32", 4.0),
             ((1, 1), "float64", 1.0), ((3, 6), "float32", 0.5)]

_TF_FORWARD = {"sigmoid": tf.sigmoid, "tanh": tf.tanh, "relu": tf.nn.relu}
_FROM_OUTPUT = {"sigmoid": lambda s: s * (1 - s), "tanh": lambda t: 1 - t * t, "relu": lambda r: (r > 0) * 1.0}
_RECOMPUTE = {
    "sigmoid": {"Sigmoid": "a sigmoid", "Exp": "an exp"},
    "tanh": {"Tanh": "a tanh", "Exp": "an exp"},
    "relu": {},
}
_GRAD_OPS = {"SigmoidGrad": "TensorFlow's own sigmoid gradient", "TanhGrad": "TensorFlow's own tanh gradient",
             "ReluGrad": "TensorFlow's own relu gradient"}


def _activation_inputs(rng, shape, dtype, scale, name):
    x = rng.normal(size=shape) * scale
    if name == "relu" and x.size > 3:
        x.flat[:2] = 0.0  # out == 0 exactly: the derivative there is 0
    return tf.constant(x, dtype)


def _check_one_activation(name, backward, rng):
    forward = _TF_FORWARD[name]
    label = f"{name}_backward(dout, out)"
    _assert_no_ops(lambda d, o: backward(d, o), [tf.TensorSpec((3, 4), tf.float32)] * 2, label,
                   {**_RECOMPUTE[name], **_GRAD_OPS},
                   advice="compute the derivative from the cached output `out` alone, with basic arithmetic "
                          "(no activation is recomputed in the backward pass)")
    cases = [(_activation_inputs(rng, shape, dtype, scale, name), "random inputs", 1.0)
             for shape, dtype, scale in ACT_CASES]
    cases += [(large_values(dtype), "inputs of large magnitude (saturated outputs)", 1.0)
              for dtype in ("float32", "float64")]
    cases.append((random_tensor(rng, (3, 5), "float64", scale=2.0), "a large upstream gradient (|dout| ~ 1e4)", 1e4))
    for x, kind, dout_scale in cases:
        dtype = x.dtype.name
        out = forward(x)
        dout = random_tensor(rng, x.shape, dtype, scale=dout_scale)
        if dtype == "float64":  # the tape through TensorFlow's own forward, in float64
            with tf.GradientTape() as tape:
                tape.watch(x)
                objective = tf.reduce_sum(forward(x) * dout)
            expected = _np(tape.gradient(objective, x))
        else:  # float32: the given (rounded) output is what the derivative must be computed from
            expected = _np(dout) * _FROM_OUTPUT[name](_np(out))
        what = f"{label} on {describe(out)} from {kind}"
        with no_autodiff(what):
            dx = call(backward, dout, out, what=what)
        if isinstance(dx, tuple):
            raise AssertionError(f"{what}: return one tensor, dL/dx (not a tuple)")
        tol = _grad_tol(expected, dtype)
        try:
            assert_result(dx, expected, what, dtype=dtype, **tol)
        except AssertionError as exc:
            hint = ""
            local = _FROM_OUTPUT[name](_np(out))
            got = as_array(dx, what) if hasattr(dx, "shape") and tuple(dx.shape) == tuple(out.shape) else None
            if got is not None and np.allclose(got, local, **tol):
                hint = " (multiply the local derivative by the upstream gradient dout)"
            raise AssertionError(f"{exc}{hint}") from None


@checked
def check_activation_backward(sigmoid_backward, tanh_backward, relu_backward):
    rng = case_rng("activation_backward")
    for name, backward in (("sigmoid", sigmoid_backward), ("tanh", tanh_backward), ("relu", relu_backward)):
        _check_one_activation(name, backward, rng)


# --------------------------------------------------------------------------- exercise 7: softmax cross-entropy

def _large_logits(dtype):
    rows = np.array([[1e4, 9999.0, 9990.0, -1e4, 5000.0],
                     [0.5, -3.0, 2.0, 1.0, 0.0],
                     [-1e4, -9998.0, -9999.5, -1e4, -9990.0],
                     [3e3, -3e3, 2999.0, 0.0, 1.0]])
    return tf.constant(rows, dtype=dtype)


def _targets(rng, N, C, soft, dtype):
    if soft:
        y = rng.dirichlet(np.ones(C), size=N)
    else:
        y = np.eye(C)[rng.integers(0, C, size=N)]
    return tf.constant(y, dtype)


def _tape_cross_entropy(logits, y):
    z = tf.cast(logits, tf.float64)
    t = tf.cast(y, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=z))
    return _np(loss), _np(tape.gradient(loss, z))


CE_FORBIDDEN = {
    "Softmax": "a built-in softmax (keras.ops.softmax, tf.nn.softmax)",
    "LogSoftmax": "a built-in log-softmax (keras.ops.log_softmax, tf.nn.log_softmax)",
    "SoftmaxCrossEntropyWithLogits": "a built-in cross-entropy (keras.losses, tf.nn.softmax_cross_entropy_with_logits)",
    "SparseSoftmaxCrossEntropyWithLogits": "a built-in cross-entropy (keras.losses, tf.nn.sparse_softmax_...)",
    "softmax_cross_entropy_with_logits": "a built-in cross-entropy (keras.losses, tf.nn.softmax_cross_entropy_...)",
    "ReduceLogSumExp": "a built-in logsumexp (keras.ops.logsumexp, tf.reduce_logsumexp)",
}


@checked
def check_softmax_cross_entropy(softmax_cross_entropy):
    _assert_no_ops(lambda z, t: softmax_cross_entropy(z, t), [tf.TensorSpec((3, 4), tf.float32)] * 2,
                   "softmax_cross_entropy", CE_FORBIDDEN)
    rng = case_rng("softmax_cross_entropy")
    cases = []
    for N, C, dtype, soft, scale in ((4, 3, "float64", False, 2.0), (1, 4, "float64", False, 2.0),
                                     (8, 10, "float64", True, 3.0), (3, 2, "float32", True, 1.0),
                                     (16, 5, "float32", False, 3.0), (1, 6, "float32", True, 3.0)):
        kind = f"{'soft' if soft else 'one-hot'} targets"
        cases.append((random_tensor(rng, (N, C), dtype, scale=scale), _targets(rng, N, C, soft, dtype), kind))
    for dtype in ("float32", "float64"):
        for soft in (False, True):
            kind = f"logits of magnitude up to 1e4 and {'soft' if soft else 'one-hot'} targets"
            cases.append((_large_logits(dtype), _targets(rng, 4, 5, soft, dtype), kind))
    for logits, y, kind in cases:
        dtype = logits.dtype.name
        N = int(logits.shape[0])
        what = f"softmax_cross_entropy(logits, y) on {describe(logits)} with {kind}"
        with no_autodiff(what):
            result = call(softmax_cross_entropy, logits, y, what=what)
        _pair(result, what, "loss, dlogits")
        loss, dlogits = result
        ref_loss, ref_grad = _tape_cross_entropy(logits, y)
        large = float(np.abs(_np(logits)).max()) > 100
        if dtype == "float64":
            loss_tol = {"rtol": 1e-9, "atol": 1e-12}
        else:  # float32 logits near 1e4 are only known to ~1e-3 (their spacing)
            loss_tol = {"rtol": 1e-4, "atol": 2e-3 if large else 1e-5}
        assert_result(loss, ref_loss, f"{what}: loss", dtype=dtype, **loss_tol)
        _assert_grad(dlogits, ref_grad, f"{what}: dlogits", dtype, batch=N)
