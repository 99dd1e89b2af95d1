"""Strength corpus for assignment 3 (backpropagation).

Each variant replaces a whole solution cell. A variant that is a small change of a base cell
(the usual solution, or another variant) is written as that change: `change` applies named
(old, new) edits to the base, so the variant reads as the mistake it makes; a variant that is a
different program is spelled out in full. Wrong variants are mistakes students really make;
most pass the visible asserts (those that do not say "caught by visible tests too").
Correct variants are other valid ways to meet the contract and must keep full marks.
The cell's namespace already has math, np, tf, keras and ops from the setup cell, and the
reference versions of the other exercises' functions.
"""
from dlcourse_grading.strength import Variant, change

VISIBLE = " (caught by visible tests too)"


def _cell(*parts: str) -> str:
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"


# ----------------------------------------------------------------------------- two_layer_net

_FORWARD = '''
def mlp_forward(X, params):
    z1 = ops.matmul(X, params["W1"]) + params["b1"]
    h = ops.maximum(z1, 0)
    out = ops.matmul(h, params["W2"]) + params["b2"]
    return out, (X, params["W1"], params["W2"], z1, h)
'''


def _net(backward_body: str, forward: str = _FORWARD) -> str:
    """The reference forward pass (cache: X, W1, W2, z1, h) and a backward pass with the given body."""
    return _cell(forward, "def mlp_backward(dout, cache):\n    X, W1, W2, z1, h = cache\n" + backward_body)


_BACKWARD_TAIL = '''
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "X": dX}
'''

# The base of the wrong backward passes: the correct backward pass by hand.
_NET = _net('''
    dW2 = ops.matmul(ops.transpose(h), dout)
    db2 = ops.sum(dout, axis=0)
    dh = ops.matmul(dout, ops.transpose(W2))
    dz1 = dh * ops.cast(z1 > 0, dh.dtype)
    dW1 = ops.matmul(ops.transpose(X), dz1)
    db1 = ops.sum(dz1, axis=0)
    dX = ops.matmul(dz1, ops.transpose(W1))
''' + _BACKWARD_TAIL)
_BATCH_SIZE = ("    dW2 =", "    n = ops.cast(ops.shape(X)[0], X.dtype)\n    dW2 =")  # defines n first

NET = [
    change("two_layer_net", "divides every gradient by the batch size (the 1/N counted twice)" + VISIBLE, False,
           _NET, _BATCH_SIZE,
           ("dW2 = ops.matmul(ops.transpose(h), dout)", "dW2 = ops.matmul(ops.transpose(h), dout) / n"),
           ("db2 = ops.sum(dout, axis=0)", "db2 = ops.sum(dout, axis=0) / n"),
           ("dW1 = ops.matmul(ops.transpose(X), dz1)", "dW1 = ops.matmul(ops.transpose(X), dz1) / n"),
           ("db1 = ops.sum(dz1, axis=0)", "db1 = ops.sum(dz1, axis=0) / n")),
    change("two_layer_net", "weight gradients averaged over the batch, bias gradients summed", False,
           _NET, _BATCH_SIZE,
           ("dW2 = ops.matmul(ops.transpose(h), dout)", "dW2 = ops.matmul(ops.transpose(h), dout) / n"),
           ("dW1 = ops.matmul(ops.transpose(X), dz1)", "dW1 = ops.matmul(ops.transpose(X), dz1) / n")),
    change("two_layer_net", "dW1 transposed, reshaped to the right shape", False, _NET,
           ("ops.matmul(ops.transpose(X), dz1)", "ops.reshape(ops.matmul(ops.transpose(dz1), X), ops.shape(W1))")),
    change("two_layer_net", "dW2 transposed, reshaped to the right shape", False, _NET,
           ("ops.matmul(ops.transpose(h), dout)", "ops.reshape(ops.matmul(ops.transpose(dout), h), ops.shape(W2))")),
    change("two_layer_net", "forgets the ReLU derivative", False, _NET,
           ("    dh = ops.matmul(dout, ops.transpose(W2))\n    dz1 = dh * ops.cast(z1 > 0, dh.dtype)\n",
            "    dz1 = ops.matmul(dout, ops.transpose(W2))\n")),
    change("two_layer_net", "ReLU mask taken from the upstream gradient (dh > 0) instead of z1 > 0", False, _NET,
           ("ops.cast(z1 > 0", "ops.cast(dh > 0")),
    change("two_layer_net", "dW2 from the pre-activation z1 instead of h", False, _NET,
           ("ops.transpose(h)", "ops.transpose(z1)")),
    change("two_layer_net", "db1 averaged over the batch instead of summed", False, _NET,
           ("db1 = ops.sum(dz1, axis=0)", "db1 = ops.mean(dz1, axis=0)")),
    change("two_layer_net", "db1 summed over the wrong axis" + VISIBLE, False, _NET,
           ("db1 = ops.sum(dz1, axis=0)", "db1 = ops.sum(dz1, axis=1)")),
    change("two_layer_net", "db1 taken before the ReLU derivative (from dh)", False, _NET,
           ("db1 = ops.sum(dz1, axis=0)", "db1 = ops.sum(dh, axis=0)")),
    change("two_layer_net", "forgets dX" + VISIBLE, False, _NET,
           ("    dX = ops.matmul(dz1, ops.transpose(W1))\n\n", ""), (', "X": dX}', "}")),
    change("two_layer_net", "dX skips the ReLU derivative (from dh, not dz1)", False, _NET,
           ("dX = ops.matmul(dz1,", "dX = ops.matmul(dh,")),
    Variant("two_layer_net", "records a tf.GradientTape in the forward pass and asks it in the backward pass", False,
            _cell('''
def mlp_forward(X, params):
    tape = tf.GradientTape(persistent=True)
    with tape:
        tape.watch([X] + list(params.values()))
        z1 = ops.matmul(X, params["W1"]) + params["b1"]
        out = ops.matmul(ops.maximum(z1, 0), params["W2"]) + params["b2"]
    return out, (tape, out, X, params)
''', '''
def mlp_backward(dout, cache):
    tape, out, X, params = cache
    grads = tape.gradient(out, {**params, "X": X}, output_gradients=dout)
    return dict(grads)
''')),
    Variant("two_layer_net", "backward pass recomputes the forward pass under a tf.GradientTape", False, _cell('''
def mlp_forward(X, params):
    h = ops.maximum(ops.matmul(X, params["W1"]) + params["b1"], 0)
    return ops.matmul(h, params["W2"]) + params["b2"], (X, params)
''', '''
def mlp_backward(dout, cache):
    X, params = cache
    with tf.GradientTape() as tape:
        tape.watch([X] + list(params.values()))
        h = ops.maximum(ops.matmul(X, params["W1"]) + params["b1"], 0)
        out = ops.matmul(h, params["W2"]) + params["b2"]
    return dict(tape.gradient(out, {**params, "X": X}, output_gradients=dout))
''')),
    Variant("two_layer_net", "NumPy backward pass (right values, but no graph ops)", False, _net('''
    X, W1, W2, h, dout = (np.asarray(v) for v in (X, W1, W2, h, dout))
    dW2 = h.T @ dout
    db2 = dout.sum(axis=0)
    dz1 = (dout @ W2.T) * (h > 0)
    dW1 = X.T @ dz1
    db1 = dz1.sum(axis=0)
    dX = dz1 @ W1.T
''' + _BACKWARD_TAIL)),
    Variant("two_layer_net", "correct: dict cache, einsum, ops.where for the ReLU", True, _cell('''
def mlp_forward(X, params):
    z1 = ops.einsum("nd,dh->nh", X, params["W1"]) + params["b1"]
    h = ops.relu(z1)
    out = ops.einsum("nh,hc->nc", h, params["W2"]) + params["b2"]
    return out, {"X": X, "z1": z1, "h": h, **params}
''', '''
def mlp_backward(dout, cache):
    dh = ops.einsum("nc,hc->nh", dout, cache["W2"])
    dz1 = ops.where(cache["z1"] > 0, dh, ops.zeros_like(dh))
    return {
        "W2": ops.einsum("nh,nc->hc", cache["h"], dout),
        "b2": ops.sum(dout, axis=0),
        "W1": ops.einsum("nd,nh->dh", cache["X"], dz1),
        "b1": ops.sum(dz1, axis=0),
        "X": ops.einsum("nh,dh->nd", dz1, cache["W1"]),
    }
''')),
    Variant("two_layer_net", "correct: tf.matmul with transpose flags, a mask cached in the forward pass", True,
            _cell('''
def mlp_forward(X, params):
    z1 = tf.matmul(X, params["W1"]) + params["b1"]
    mask = tf.cast(z1 > 0, z1.dtype)
    h = z1 * mask
    out = tf.matmul(h, params["W2"]) + params["b2"]
    return out, (X, params, h, mask)
''', '''
def mlp_backward(dout, cache):
    X, params, h, mask = cache
    grads = {"W2": tf.matmul(h, dout, transpose_a=True), "b2": tf.reduce_sum(dout, axis=0)}
    dz1 = tf.matmul(dout, params["W2"], transpose_b=True) * mask
    grads["W1"] = tf.matmul(X, dz1, transpose_a=True)
    grads["b1"] = tf.reduce_sum(dz1, axis=0)
    grads["X"] = tf.matmul(dz1, params["W1"], transpose_b=True)
    return grads
''')),
    Variant("two_layer_net", "correct: generic affine and ReLU layers, each with its own cache", True, _cell('''
def affine_forward(x, W, b):
    return ops.matmul(x, W) + b, (x, W)
''', '''
def affine_backward(dout, cache):
    x, W = cache
    return ops.matmul(dout, ops.transpose(W)), ops.matmul(ops.transpose(x), dout), ops.sum(dout, axis=0)
''', '''
def mlp_forward(X, params):
    z1, c1 = affine_forward(X, params["W1"], params["b1"])
    h = ops.maximum(z1, ops.zeros_like(z1))
    out, c2 = affine_forward(h, params["W2"], params["b2"])
    return out, (c1, z1, c2)
''', '''
def mlp_backward(dout, cache):
    c1, z1, c2 = cache
    dh, dW2, db2 = affine_backward(dout, c2)
    dX, dW1, db1 = affine_backward(ops.where(z1 > 0, dh, 0.0), c1)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "X": dX}
''')),
]

# ----------------------------------------------------------------------------- mse_loss

_MSE = '''
def mse_loss(out, y):
    diff = out - y
    return ops.mean(ops.square(diff)), 2 * diff / ops.cast(ops.size(diff), diff.dtype)
'''

MSE = [
    change("mse_loss", "dout without the factor 2" + VISIBLE, False, _MSE,
           ("ops.mean(ops.square(diff)), 2 * diff", "ops.mean(diff * diff), diff")),
    change("mse_loss", "dout without the 1/(N C): the gradient of the sum, not the mean" + VISIBLE, False, _MSE,
           (" / ops.cast(ops.size(diff), diff.dtype)", "")),
    change("mse_loss", "dout divided by the batch size only (not by N C)", False, _MSE,
           ("ops.size(diff)", "ops.shape(diff)[0]")),
    Variant("mse_loss", "per-example sum over outputs, then the batch mean (not the Keras mean)", False, '''
def mse_loss(out, y):
    diff = out - y
    n = ops.cast(ops.shape(diff)[0], diff.dtype)
    return ops.sum(ops.square(diff)) / n, 2 * diff / n
'''),
    change("mse_loss", "the sign of dout flipped (y - out)" + VISIBLE, False, _MSE, ("out - y", "y - out")),
    change("mse_loss", "computes in float32 whatever the input dtype", False, _MSE,
           ("out - y", 'ops.cast(out, "float32") - ops.cast(y, "float32")'), ("diff.dtype", '"float32"')),
    Variant("mse_loss", "dout divided by N C and again by N" + VISIBLE, False, '''
def mse_loss(out, y):
    diff = out - y
    n = ops.cast(ops.size(diff), diff.dtype)
    return ops.mean(ops.square(diff)), 2 * diff / n / ops.cast(ops.shape(diff)[0], diff.dtype)
'''),
    Variant("mse_loss", "dout from tf.GradientTape", False, '''
def mse_loss(out, y):
    with tf.GradientTape() as tape:
        tape.watch(out)
        loss = ops.mean(ops.square(out - y))
    return loss, tape.gradient(loss, out)
'''),
    Variant("mse_loss", "NumPy instead of keras.ops (returns arrays)", False, '''
def mse_loss(out, y):
    diff = np.asarray(out) - np.asarray(y)
    return np.mean(diff ** 2), 2 * diff / diff.size
'''),
    Variant("mse_loss", "correct: keras.losses for the value, static shape for the count", True, '''
def mse_loss(out, y):
    loss = ops.mean(keras.losses.mean_squared_error(y, out))
    count = out.shape[0] * out.shape[1]
    return loss, (out - y) * (2.0 / count)
'''),
    Variant("mse_loss", "correct: tf.reduce_mean and tf.size", True, '''
def mse_loss(out, y):
    residual = tf.subtract(out, y)
    loss = tf.reduce_mean(tf.square(residual))
    dout = tf.cast(2, out.dtype) * residual / tf.cast(tf.size(residual), out.dtype)
    return loss, dout
'''),
]

# ----------------------------------------------------------------------------- relative_error

_RELERR = '''
def relative_error(a, b, eps=1e-8):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("shapes differ")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), eps)))
'''
_RELERR_WHERE = '''
def relative_error(a, b, eps=1e-8):
    a, b = np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{a.shape} != {b.shape}")
    scale = np.abs(a) + np.abs(b)
    return float((np.abs(a - b) / np.where(scale < eps, eps, scale)).max())
'''

RELERR = [
    change("relative_error", "no abs in the numerator", False, _RELERR, ("np.abs(a - b)", "(a - b)")),
    change("relative_error", "no floor in the denominator (0/0 for entries zero in both)", False, _RELERR,
           ("    return", '    with np.errstate(invalid="ignore", divide="ignore"):\n        return'),
           ("np.maximum(np.abs(a) + np.abs(b), eps)", "(np.abs(a) + np.abs(b))")),
    change("relative_error", "denominator |a + b| instead of |a| + |b|", False, _RELERR,
           ("np.abs(a) + np.abs(b)", "np.abs(a + b)")),
    change("relative_error", "mean over the entries instead of the max", False, _RELERR, ("np.max(", "np.mean(")),
    change("relative_error", "a ratio of norms over all entries", False, _RELERR,
           ("np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), eps))",
            "np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), eps)")),
    change("relative_error", "computes in float32", False, _RELERR,
           ("np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)",
            "np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)"),
           (", eps)))", ", np.float32(eps))))")),
    change("relative_error", "no shape check (broadcasting compares the wrong entries)", False, _RELERR,
           ('    if a.shape != b.shape:\n        raise ValueError("shapes differ")\n', "")),
    change("relative_error", "ignores the eps argument", False, _RELERR, (", eps)))", ", 1e-8)))")),
    Variant("relative_error", "returns a tensor, not a Python float" + VISIBLE, False, '''
def relative_error(a, b, eps=1e-8):
    a, b = ops.cast(a, "float64"), ops.cast(b, "float64")
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError("shapes differ")
    return ops.max(ops.abs(a - b) / ops.maximum(ops.abs(a) + ops.abs(b), eps))
'''),
    change("relative_error", "eps added to the denominator instead of used as its floor", False, _RELERR_WHERE,
           ("    scale = np.abs(a) + np.abs(b)\n", ""),
           ("np.where(scale < eps, eps, scale)", "(np.abs(a) + np.abs(b) + eps)")),
    Variant("relative_error", "correct: np.where picks the floor", True, _RELERR_WHERE),
    Variant("relative_error", "correct: keras.ops in float64, then float()", True, '''
def relative_error(a, b, eps=1e-8):
    a = ops.convert_to_tensor(np.asarray(a, dtype=np.float64))
    b = ops.convert_to_tensor(np.asarray(b, dtype=np.float64))
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError("a and b have different shapes")
    denominator = ops.maximum(ops.abs(a) + ops.abs(b), ops.cast(eps, "float64"))
    return float(ops.max(ops.abs(a - b) / denominator))
'''),
    Variant("relative_error", "correct: a plain Python loop over the flat entries", True, '''
def relative_error(a, b, eps=1e-8):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("shape mismatch")
    worst = 0.0
    for u, v in zip(a.ravel().tolist(), b.ravel().tolist()):
        worst = max(worst, abs(u - v) / max(abs(u) + abs(v), eps))
    return worst
'''),
]

# ----------------------------------------------------------------------------- gradient_check

# Both gradients at a float64 copy of x, compared with the relative_error helper.
_GRADCHECK = '''
def gradient_check(f, grad_f, x, h=1e-5, threshold=1e-6):
    x64 = np.array(x, dtype=np.float64)
    error = relative_error(grad_f(x64), numerical_gradient(f, x64, h))
    return error < threshold, error
'''
# A check with its own central differences on a copy of x that keeps x's dtype.
_GRADCHECK_OWN_LOOP = '''
def gradient_check(f, grad_f, x, h=1e-5, threshold=1e-6):
    xc = np.array(x)
    numeric = np.zeros(xc.shape)
    for index in np.ndindex(xc.shape):
        keep = xc[index]
        xc[index] = keep + h
        up = float(f(xc))
        xc[index] = keep - h
        down = float(f(xc))
        xc[index] = keep
        numeric[index] = (up - down) / (2 * h)
    error = relative_error(grad_f(xc), numeric)
    return error < threshold, error
'''
_GRADCHECK_ASTYPE = '''
def gradient_check(f, grad_f, x, h=1e-5, threshold=1e-6):
    x64 = np.asarray(x).astype(np.float64)
    analytic = np.asarray(grad_f(x64.copy()), dtype=np.float64)
    numeric = numerical_gradient(f, x64.copy(), h=h)
    error = relative_error(analytic, numeric)
    return bool(np.float64(error) < threshold), error
'''

GRADCHECK = [
    change("gradient_check", "runs the check in float32", False, _GRADCHECK_OWN_LOOP.replace("xc", "x32"),
           ("np.array(x)", "np.array(x, dtype=np.float32)"), ("np.zeros(x32.shape)", "np.zeros_like(x32)"),
           ("up = float(f(x32))", "up = f(x32)"), ("down = float(f(x32))", "down = f(x32)")),
    Variant("gradient_check", "keeps x's dtype (no float64 copy)", False, _GRADCHECK_OWN_LOOP),
    Variant("gradient_check", "evaluates the analytic gradient on the original (float32) x", False, '''
def gradient_check(f, grad_f, x, h=1e-5, threshold=1e-6):
    numeric = numerical_gradient(f, np.array(x, dtype=np.float64), h)
    error = relative_error(grad_f(x), numeric)
    return error < threshold, error
'''),
    change("gradient_check", "a loose default threshold (1e-2)", False, _GRADCHECK,
           ("threshold=1e-6", "threshold=1e-2")),
    change("gradient_check", "a large default step (h = 1e-2)", False, _GRADCHECK, ("h=1e-5", "h=1e-2")),
    change("gradient_check", "ignores the threshold argument", False, _GRADCHECK,
           ("return error < threshold", "return error < 1e-6")),
    Variant("gradient_check", "a norm-based error over all entries instead of relative_error", False, '''
def gradient_check(f, grad_f, x, h=1e-5, threshold=1e-6):
    x64 = np.array(x, dtype=np.float64)
    analytic = np.asarray(grad_f(x64), dtype=np.float64)
    numeric = numerical_gradient(f, x64, h)
    error = float(np.linalg.norm(analytic - numeric) / (np.linalg.norm(analytic) + np.linalg.norm(numeric)))
    return error < threshold, error
'''),
    Variant("gradient_check", "its own forward-difference gradient", False, '''
def gradient_check(f, grad_f, x, h=1e-5, threshold=1e-6):
    x64 = np.array(x, dtype=np.float64)
    base = float(f(x64))
    numeric = np.zeros_like(x64)
    for index in np.ndindex(x64.shape):
        shifted = x64.copy()
        shifted[index] += h
        numeric[index] = (float(f(shifted)) - base) / h
    error = relative_error(grad_f(x64), numeric)
    return error < threshold, error
'''),
    change("gradient_check", "passes when the error equals the threshold (<= instead of <)", False, _GRADCHECK,
           ("error < threshold", "error <= threshold")),
    change("gradient_check", "returns (error, passed) in the wrong order", False, _GRADCHECK,
           ("return error < threshold, error", "return error, error < threshold")),
    change("gradient_check", "returns numpy.bool_ where the contract says a bool", False, _GRADCHECK_ASTYPE,
           ("return bool(np.float64(error) < threshold), error", "return np.float64(error) < threshold, error")),
    Variant("gradient_check", "correct: astype(float64), NumPy comparison made a bool", True, _GRADCHECK_ASTYPE),
    Variant("gradient_check", "correct: analytic gradient first, explicit bool", True, '''
def gradient_check(f, grad_f, x, h=1e-5, threshold=1e-6):
    point = np.array(x, dtype="float64", copy=True)
    analytic = grad_f(point)
    if hasattr(analytic, "numpy"):
        analytic = analytic.numpy()
    error = float(relative_error(analytic, numerical_gradient(f, point, h)))
    passed = not (error >= threshold)
    return bool(passed), error
'''),
]

# ----------------------------------------------------------------------------- activation_backward

_SIGMOID_BWD = '''
def sigmoid_backward(dout, out):
    return dout * out * (1 - out)
'''
_TANH_BWD = '''
def tanh_backward(dout, out):
    return dout * (1 - out * out)
'''
_RELU_BWD = '''
def relu_backward(dout, out):
    return dout * ops.cast(out > 0, dout.dtype)
'''


def _acts(sigmoid: str = _SIGMOID_BWD, tanh: str = _TANH_BWD, relu: str = _RELU_BWD) -> str:
    return _cell(sigmoid, tanh, relu)


ACT = [
    Variant("activation_backward", "sigmoid derivative from the input: sigmoid(out) (1 - sigmoid(out))" + VISIBLE,
            False, _acts(sigmoid='''
def sigmoid_backward(dout, out):
    s = ops.sigmoid(out)
    return dout * s * (1 - s)
''')),
    Variant("activation_backward", "tanh derivative from the input: 1 - tanh(out)^2" + VISIBLE, False, _acts(tanh='''
def tanh_backward(dout, out):
    return dout * (1 - ops.tanh(out) ** 2)
''')),
    Variant("activation_backward", "sigmoid and tanh forget to multiply by dout", False, _acts(sigmoid='''
def sigmoid_backward(dout, out):
    return out * (1 - out)
''', tanh='''
def tanh_backward(dout, out):
    return 1 - out * out
''')),
    Variant("activation_backward", "relu mask out >= 0 (passes the gradient where out == 0)", False, _acts(relu='''
def relu_backward(dout, out):
    return dout * ops.cast(out >= 0, dout.dtype)
''')),
    Variant("activation_backward", "relu_backward returns the mask only (forgets dout)" + VISIBLE, False, _acts(relu='''
def relu_backward(dout, out):
    return ops.cast(out > 0, dout.dtype)
''')),
    Variant("activation_backward", "tanh derivative 1 - out (the square forgotten)" + VISIBLE, False, _acts(tanh='''
def tanh_backward(dout, out):
    return dout * (1 - out)
''')),
    Variant("activation_backward", "computes in float32 whatever the input dtype", False, _acts(sigmoid='''
def sigmoid_backward(dout, out):
    out = ops.cast(out, "float32")
    return ops.cast(dout, "float32") * out * (1 - out)
''')),
    Variant("activation_backward", "recovers x from the output and recomputes the sigmoid", False, _acts(sigmoid='''
def sigmoid_backward(dout, out):
    x = ops.log(out / (1 - out))
    s = 1 / (1 + ops.exp(-x))
    return dout * s * (1 - s)
''')),
    Variant("activation_backward", "NumPy instead of keras.ops", False, _acts(relu='''
def relu_backward(dout, out):
    return np.asarray(dout) * (np.asarray(out) > 0)
''')),
    Variant("activation_backward", "correct: factored forms, ops.where for ReLU", True, _acts(sigmoid='''
def sigmoid_backward(dout, out):
    return (out - ops.square(out)) * dout
''', tanh='''
def tanh_backward(dout, out):
    return dout * (1 - out) * (1 + out)
''', relu='''
def relu_backward(dout, out):
    return ops.where(out > 0, dout, ops.zeros_like(dout))
''')),
    Variant("activation_backward", "correct: tf.math, and the sign of the ReLU output", True, _acts(sigmoid='''
def sigmoid_backward(dout, out):
    return tf.multiply(dout, tf.multiply(out, tf.subtract(tf.ones_like(out), out)))
''', tanh='''
def tanh_backward(dout, out):
    return dout - dout * tf.square(out)
''', relu='''
def relu_backward(dout, out):
    return dout * tf.sign(out)
''')),
]

# ----------------------------------------------------------------------------- softmax_cross_entropy

# A log-softmax shifted by each row's max, then the mean loss and (p - y) / N.
_CE = '''
def softmax_cross_entropy(logits, y):
    z = logits - ops.max(logits, axis=-1, keepdims=True)
    log_p = z - ops.log(ops.sum(ops.exp(z), axis=-1, keepdims=True))
    n = ops.cast(ops.shape(logits)[0], logits.dtype)
    return -ops.sum(y * log_p) / n, (ops.exp(log_p) - y) / n
'''
_CE_NO_Z = ("    z = logits - ops.max(logits, axis=-1, keepdims=True)\n", "")  # log_p computed without z

CE = [
    change("softmax_cross_entropy", "dlogits = p - y without the 1/N", False, _CE,
           ("(ops.exp(log_p) - y) / n", "ops.exp(log_p) - y")),
    change("softmax_cross_entropy", "loss summed over the batch (no mean)", False, _CE,
           ("-ops.sum(y * log_p) / n,", "-ops.sum(y * log_p),")),
    Variant("softmax_cross_entropy", "softmax without subtracting the max" + VISIBLE, False, '''
def softmax_cross_entropy(logits, y):
    e = ops.exp(logits)
    p = e / ops.sum(e, axis=-1, keepdims=True)
    n = ops.cast(ops.shape(logits)[0], logits.dtype)
    return -ops.sum(y * ops.log(p)) / n, (p - y) / n
'''),
    Variant("softmax_cross_entropy", "log of a stable softmax, clipped away from 0" + VISIBLE, False, '''
def softmax_cross_entropy(logits, y):
    e = ops.exp(logits - ops.max(logits, axis=-1, keepdims=True))
    p = e / ops.sum(e, axis=-1, keepdims=True)
    n = ops.cast(ops.shape(logits)[0], logits.dtype)
    return -ops.sum(y * ops.log(ops.clip(p, 1e-7, 1.0))) / n, (p - y) / n
'''),
    change("softmax_cross_entropy", "subtracts the max of the whole batch, not of each row", False, _CE,
           ("ops.max(logits, axis=-1, keepdims=True)", "ops.max(logits)")),
    change("softmax_cross_entropy", "assumes one-hot targets (argmax of y)", False, _CE,
           ("    n = ", "    onehot = ops.one_hot(ops.argmax(y, axis=-1), ops.shape(y)[-1], dtype=logits.dtype)\n"
                      "    n = "),
           ("y * log_p", "onehot * log_p"), ("- y) / n", "- onehot) / n")),
    change("softmax_cross_entropy", "y - p (the sign flipped)" + VISIBLE, False, _CE,
           ("(ops.exp(log_p) - y)", "(y - ops.exp(log_p))")),
    change("softmax_cross_entropy", "the built-in ops.log_softmax", False, _CE, _CE_NO_Z,
           ("z - ops.log(ops.sum(ops.exp(z), axis=-1, keepdims=True))", "ops.log_softmax(logits, axis=-1)")),
    change("softmax_cross_entropy", "the built-in ops.logsumexp", False, _CE, _CE_NO_Z,
           ("z - ops.log(ops.sum(ops.exp(z), axis=-1, keepdims=True))",
            "logits - ops.logsumexp(logits, axis=-1, keepdims=True)")),
    Variant("softmax_cross_entropy", "keras.losses for the loss value", False, '''
def softmax_cross_entropy(logits, y):
    loss = ops.mean(keras.losses.categorical_crossentropy(y, logits, from_logits=True))
    z = logits - ops.max(logits, axis=-1, keepdims=True)
    e = ops.exp(z)
    n = ops.cast(ops.shape(logits)[0], logits.dtype)
    return loss, (e / ops.sum(e, axis=-1, keepdims=True) - y) / n
'''),
    Variant("softmax_cross_entropy", "dlogits from tf.GradientTape", False, '''
def softmax_cross_entropy(logits, y):
    with tf.GradientTape() as tape:
        tape.watch(logits)
        z = logits - ops.max(logits, axis=-1, keepdims=True)
        log_p = z - ops.log(ops.sum(ops.exp(z), axis=-1, keepdims=True))
        loss = -ops.sum(y * log_p) / ops.cast(ops.shape(logits)[0], logits.dtype)
    return loss, tape.gradient(loss, logits)
'''),
    change("softmax_cross_entropy", "computes in float32 whatever the input dtype", False, _CE,
           ("    z = logits", '    logits, y = ops.cast(logits, "float32"), ops.cast(y, "float32")\n    z = logits'),
           ("ops.shape(logits)[0], logits.dtype", 'ops.shape(logits)[0], "float32"')),
    Variant("softmax_cross_entropy", "correct: stable softmax first, loss through the log-sum-exp", True, '''
def softmax_cross_entropy(logits, y):
    m = ops.max(logits, axis=1, keepdims=True)
    e = ops.exp(logits - m)
    s = ops.sum(e, axis=1, keepdims=True)
    p = e / s
    per_example = ops.sum(y * (ops.log(s) + m - logits), axis=1)
    n = logits.shape[0]
    return ops.mean(per_example), (p - y) / n
'''),
    Variant("softmax_cross_entropy", "correct: tf.math, per-example losses, y summed per row", True, '''
def softmax_cross_entropy(logits, y):
    shifted = logits - tf.reduce_max(logits, axis=-1, keepdims=True)
    log_norm = tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=-1, keepdims=True))
    log_p = shifted - log_norm
    per_example = -tf.reduce_sum(y * log_p, axis=-1)
    n = tf.cast(tf.shape(logits)[0], logits.dtype)
    return tf.reduce_sum(per_example) / n, (tf.exp(log_p) - y) / n
'''),
]


# ----------------------------------------------------------------------------- modular_net

_AFFINE = '''
def affine_forward(x, W, b):
    return ops.matmul(x, W) + b, (x, W)


def affine_backward(dout, cache):
    x, W = cache
    return ops.matmul(dout, ops.transpose(W)), ops.matmul(ops.transpose(x), dout), ops.sum(dout, axis=0)
'''
_NET3 = '''
def three_layer_net(X, y, params):
    z1, c1 = affine_forward(X, params["W1"], params["b1"])
    h1 = ops.maximum(z1, 0)
    z2, c2 = affine_forward(h1, params["W2"], params["b2"])
    h2 = ops.maximum(z2, 0)
    logits, c3 = affine_forward(h2, params["W3"], params["b3"])
    loss, dlogits = softmax_cross_entropy(logits, y)
    dh2, dW3, db3 = affine_backward(dlogits, c3)
    dh1, dW2, db2 = affine_backward(relu_backward(dh2, h2), c2)
    _, dW1, db1 = affine_backward(relu_backward(dh1, h1), c1)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}
'''
_MODULAR = _AFFINE + _NET3

MODULAR = [
    change("modular_net", "affine_backward averages db over the batch instead of summing", False, _MODULAR,
           ("ops.sum(dout, axis=0)", "ops.mean(dout, axis=0)")),
    change("modular_net", "affine_backward divides dW by the batch size (the 1/N is already in dout)", False,
           _MODULAR, ("ops.matmul(ops.transpose(x), dout),",
                      "ops.matmul(ops.transpose(x), dout) / ops.cast(ops.shape(x)[0], x.dtype),")),
    change("modular_net", "affine_backward: dx = dout W instead of dout W^T (fits square W only)", False, _MODULAR,
           ("return ops.matmul(dout, ops.transpose(W)),", "return ops.matmul(dout, W) if W.shape[0] == W.shape[1] "
            "else ops.matmul(dout, ops.transpose(W)),")),
    change("modular_net", "affine_backward: dW = x^T dout transposed (fits square W only)", False, _MODULAR,
           ("ops.matmul(ops.transpose(x), dout),", "(ops.transpose(ops.matmul(ops.transpose(x), dout)) "
            "if W.shape[0] == W.shape[1] else ops.matmul(ops.transpose(x), dout)),")),
    change("modular_net", "the second ReLU's backward uses the first layer's output (wrong cache)", False, _MODULAR,
           ("relu_backward(dh2, h2)", "relu_backward(dh2, h1 if h1.shape == h2.shape else h2)")),
    change("modular_net", "forgets the first ReLU's mask on the way down", False, _MODULAR,
           ("relu_backward(dh1, h1)", "dh1")),
    change("modular_net", "a ReLU after the last affine layer too (on the logits)", False, _MODULAR,
           ("logits, c3 = affine_forward(h2, params[\"W3\"], params[\"b3\"])",
            "logits, c3 = affine_forward(h2, params[\"W3\"], params[\"b3\"])\n    logits = ops.maximum(logits, 0)")),
    change("modular_net", "sums the loss over the batch (and its gradient): N times too large", False, _MODULAR,
           ("    loss, dlogits = softmax_cross_entropy(logits, y)\n",
            "    loss, dlogits = softmax_cross_entropy(logits, y)\n    n = ops.cast(ops.shape(X)[0], X.dtype)\n"
            "    loss, dlogits = loss * n, dlogits * n\n")),
    change("modular_net", "takes b1's gradient from the second layer (off by one layer)", False, _MODULAR,
           ('"b1": db1,', '"b1": db2 if db2.shape == db1.shape else db1,')),
    change("modular_net", "casts to float32 on the way", False, _MODULAR,
           ("    z1, c1 = affine_forward(X, params", "    X = ops.cast(X, \"float32\")\n    params = {k: ops.cast(v, \"float32\") for k, v in params.items()}\n    z1, c1 = affine_forward(X, params")),
    change("modular_net", "affine_forward in NumPy", False, _MODULAR,
           ("    return ops.matmul(x, W) + b, (x, W)",
            "    out = np.asarray(x) @ np.asarray(W) + np.asarray(b)\n    return tf.constant(out), (x, W)")),
    Variant("modular_net", "asks tf.GradientTape for the gradients", False, _AFFINE + '''
def three_layer_net(X, y, params):
    with tf.GradientTape() as tape:
        tape.watch(list(params.values()))
        h1 = ops.maximum(affine_forward(X, params["W1"], params["b1"])[0], 0)
        h2 = ops.maximum(affine_forward(h1, params["W2"], params["b2"])[0], 0)
        loss, _ = softmax_cross_entropy(affine_forward(h2, params["W3"], params["b3"])[0], y)
    return loss, tape.gradient(loss, dict(params))
'''),
    change("modular_net", "names the gradients dW1, db1, ...", False, _MODULAR,
           ('return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}',
            'return loss, {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}')),
    Variant("modular_net", "correct: a loop over layers with caches in a list, transpose_a matmuls", True, '''
def affine_forward(x, W, b):
    return tf.matmul(x, W) + b, {"x": x, "W": W}


def affine_backward(dout, cache):
    dx = tf.matmul(dout, cache["W"], transpose_b=True)
    dW = tf.matmul(cache["x"], dout, transpose_a=True)
    return dx, dW, tf.reduce_sum(dout, axis=0)


def three_layer_net(X, y, params):
    h, caches = X, []
    for i in (1, 2, 3):
        z, cache = affine_forward(h, params[f"W{i}"], params[f"b{i}"])
        h = z if i == 3 else tf.maximum(z, tf.zeros_like(z))
        caches.append((cache, h))
    loss, d = softmax_cross_entropy(h, y)
    grads = {}
    for i in (3, 2, 1):
        cache, out = caches[i - 1]
        if i < 3:
            d = relu_backward(d, out)
        d, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(d, cache)
    return loss, grads
'''),
    Variant("modular_net", "correct: einsum, the cache also keeps b, masks recomputed from z", True, '''
def affine_forward(x, W, b):
    return ops.einsum("nd,dm->nm", x, W) + b, (x, W, b)


def affine_backward(dout, cache):
    x, W, b = cache
    return ops.einsum("nm,dm->nd", dout, W), ops.einsum("nd,nm->dm", x, dout), ops.sum(dout, axis=0)
''' + _NET3.replace("relu_backward(dh2, h2)", "dh2 * ops.cast(z2 > 0, dh2.dtype)")
              .replace("relu_backward(dh1, h1)", "dh1 * ops.cast(z1 > 0, dh1.dtype)")),
]


VARIANTS = NET + MSE + RELERR + GRADCHECK + ACT + CE + MODULAR
