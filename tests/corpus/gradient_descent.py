"""Strength corpus for assignment 2 (gradient descent).

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

# ----------------------------------------------------------------------------- numerical_gradient

# Central differences in NumPy, one step vector per entry, f called on float64 tensors.
_NG_STEPS = '''
def numerical_gradient(f, x, h=1e-5):
    point = np.array(x, dtype=np.float64)
    grad = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        step = np.zeros_like(point)
        step[index] = h
        grad[index] = (float(f(tf.constant(point + step))) - float(f(tf.constant(point - step)))) / (2 * h)
    return tf.constant(grad)
'''
_NG_ONE_HOT = '''
def numerical_gradient(f, x, h=1e-5):
    point = tf.constant(np.array(x, dtype=np.float64))
    flat = tf.reshape(point, [-1])
    n = int(flat.shape[0])
    grads = []
    for i in range(n):
        step = tf.one_hot(i, n, on_value=h, off_value=0.0, dtype=tf.float64)
        plus = f(tf.reshape(flat + step, point.shape))
        minus = f(tf.reshape(flat - step, point.shape))
        grads.append((tf.convert_to_tensor(plus, tf.float64) - tf.convert_to_tensor(minus, tf.float64)) / (2 * h))
    return tf.reshape(tf.stack(grads), point.shape)
'''

NUMERICAL_GRADIENT = [
    change("numerical_gradient", "forward difference (f(x + h e_i) - f(x)) / h", False, _NG_STEPS,
           ("    for index", "    f_here = float(f(tf.constant(point)))\n    for index"),
           ("float(f(tf.constant(point - step)))) / (2 * h)", "f_here) / h")),
    change("numerical_gradient", "ignores the h argument (always steps 1e-5)", False, _NG_STEPS,
           ("step[index] = h", "step[index] = 1e-5"), ("/ (2 * h)", "/ 2e-5")),
    Variant("numerical_gradient", "asks a GradientTape instead of taking differences", False, '''
def numerical_gradient(f, x, h=1e-5):
    point = tf.constant(np.array(x, dtype=np.float64))
    with tf.GradientTape() as tape:
        tape.watch(point)
        value = f(point)
    return tape.gradient(value, point)
'''),
    Variant("numerical_gradient", "moves the caller's NumPy array in place (x + h - 2h + h is not always x)",
            False, '''
def numerical_gradient(f, x, h=1e-5):
    point = x if isinstance(x, np.ndarray) and x.dtype == np.float64 else np.array(x, dtype=np.float64)
    grad = np.zeros(point.shape)
    for index in np.ndindex(point.shape):
        point[index] += h
        f_plus = float(f(tf.constant(point)))
        point[index] -= 2 * h
        f_minus = float(f(tf.constant(point)))
        point[index] += h
        grad[index] = (f_plus - f_minus) / (2 * h)
    return tf.constant(grad)
'''),
    change("numerical_gradient", "scales the step with the entry, h * max(1, |x_i|)", False, _NG_STEPS,
           ("step[index] = h", "step[index] = h * max(1.0, abs(point[index]))"),
           ("/ (2 * h)", "/ (2 * step[index])")),
    change("numerical_gradient", "tf.cast of f's Python-float value goes through float32", False, _NG_ONE_HOT,
           ("plus = f(tf.reshape(flat + step, point.shape))",
            "plus = tf.cast(f(tf.reshape(flat + step, point.shape)), tf.float64)"),
           ("minus = f(tf.reshape(flat - step, point.shape))",
            "minus = tf.cast(f(tf.reshape(flat - step, point.shape)), tf.float64)"),
           ("(tf.convert_to_tensor(plus, tf.float64) - tf.convert_to_tensor(minus, tf.float64))", "(plus - minus)")),
    Variant("numerical_gradient", "evaluates f in float32" + VISIBLE, False, '''
def numerical_gradient(f, x, h=1e-5):
    point = tf.cast(x, tf.float32)
    flat = tf.reshape(point, [-1])
    grads = []
    for i in range(int(tf.size(flat))):
        step = tf.one_hot(i, tf.size(flat), on_value=float(h), dtype=tf.float32)
        plus = f(tf.reshape(flat + step, tf.shape(point)))
        minus = f(tf.reshape(flat - step, tf.shape(point)))
        grads.append((plus - minus) / (2 * h))
    return tf.cast(tf.reshape(tf.stack(grads), tf.shape(point)), tf.float64)
'''),
    change("numerical_gradient", "divides by h instead of 2h" + VISIBLE, False, _NG_STEPS, ("/ (2 * h)", "/ h")),
    Variant("numerical_gradient", "correct: flat float64 tensor, one_hot steps, f on tensors", True, _NG_ONE_HOT),
    Variant("numerical_gradient", "correct: NumPy flat iteration, f on NumPy arrays, average of one-sided slopes",
            True, '''
def numerical_gradient(f, x, h=1e-5):
    point = np.array(x, dtype=np.float64)
    f_here = float(f(point))
    grad = np.empty(point.size)
    for i in range(point.size):
        plus, minus = point.copy(), point.copy()
        plus.flat[i] += h
        minus.flat[i] -= h
        forward = (float(f(plus)) - f_here) / h
        backward = (f_here - float(f(minus))) / h
        grad[i] = (forward + backward) / 2
    return tf.convert_to_tensor(grad.reshape(point.shape))
'''),
]

# ----------------------------------------------------------------------------- gradient_descent

_GD_TAPE_STACK = '''
def gradient_descent(f, start, learning_rate, steps):
    p = tf.constant(np.asarray(start, dtype=np.float64))
    points = [p]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(p)
            loss = f(p)
        p = p - learning_rate * tape.gradient(loss, p)
        points.append(p)
    return tf.stack(points)
'''
# A float64 variable updated in place, a copy of its values appended after each step.
_GD_VARIABLE = '''
def gradient_descent(f, start, learning_rate, steps):
    point = tf.Variable(np.array(start, dtype=np.float64))
    path = [point.numpy()]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            value = f(point)
        point.assign_sub(learning_rate * tape.gradient(value, point))
        path.append(point.numpy())
    return tf.constant(np.stack(path))
'''
_GD_UPDATE = "        point.assign_sub(learning_rate * tape.gradient(value, point))\n"

GRADIENT_DESCENT = [
    change("gradient_descent", "returns a NumPy array where the contract asks for a tensor", False, _GD_TAPE_STACK,
           ("    return tf.stack(points)", "    return np.stack([p.numpy() for p in points])")),
    Variant("gradient_descent", "numerical gradients (numerical_gradient from exercise 1) instead of a tape",
            False, '''
def gradient_descent(f, start, learning_rate, steps):
    point = np.array(start, dtype=np.float64)
    path = [point.copy()]
    for _ in range(steps):
        point = point - learning_rate * numerical_gradient(f, point).numpy()
        path.append(point.copy())
    return tf.constant(np.stack(path))
'''),
    change("gradient_descent", "computes in float32 and casts the path at the end", False, _GD_VARIABLE,
           ("tf.Variable(np.array(start, dtype=np.float64))", "tf.Variable(tf.cast(start, tf.float32))"),
           ("value = f(point)", "value = f(tf.cast(point, tf.float64))"),
           ("learning_rate * tape.gradient(value, point)",
            "learning_rate * tf.cast(tape.gradient(value, point), tf.float32)"),
           ("tf.constant(np.stack(path))", "tf.cast(tf.constant(np.stack(path)), tf.float64)")),
    change("gradient_descent", "tf.cast(start, float64) rounds a Python list to float32 first", False, _GD_VARIABLE,
           ("np.array(start, dtype=np.float64)", "tf.cast(start, tf.float64)")),
    change("gradient_descent", "only works in 2-D (builds the point from start[0], start[1])", False, _GD_VARIABLE,
           ("    point = tf.Variable(np.array(start, dtype=np.float64))\n    path = [point.numpy()]\n",
            "    x0, y0 = float(start[0]), float(start[1])\n    point = tf.Variable([x0, y0], dtype=tf.float64)\n"
            "    path = [[x0, y0]]\n"),
           ("path.append(point.numpy())", "path.append(point.numpy().tolist())"),
           ("tf.constant(np.stack(path))", "tf.constant(path, dtype=tf.float64)")),
    Variant("gradient_descent", "uses keras.optimizers.SGD for the update", False, '''
def gradient_descent(f, start, learning_rate, steps):
    point = keras.Variable(np.array(start, dtype=np.float64), dtype="float64")
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    path = [ops.convert_to_numpy(point)]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            value = f(point.value)
        optimizer.apply_gradients([(tape.gradient(value, point.value), point)])
        path.append(ops.convert_to_numpy(point))
    return tf.constant(np.stack(path))
'''),
    change("gradient_descent", "clips every step to length 1 'to be safe'", False, _GD_VARIABLE,
           (_GD_UPDATE, "        step = learning_rate * tape.gradient(value, point)\n"
                        "        point.assign_sub(tf.clip_by_norm(step, 1.0))\n")),
    change("gradient_descent", "stops moving once the loss goes up (keeps the best point)", False, _GD_VARIABLE,
           ("    path = [point.numpy()]\n", "    path = [point.numpy()]\n    best = float(f(point))\n"),
           (_GD_UPDATE, '''\
        candidate = point - learning_rate * tape.gradient(value, point)
        if float(f(candidate)) <= best:
            point.assign(candidate)
            best = float(f(point))
''')),
    change("gradient_descent", "walks up the gradient (sign error)" + VISIBLE, False, _GD_VARIABLE,
           ("assign_sub", "assign_add")),
    change("gradient_descent", "appends the variable itself, so every row is the last point" + VISIBLE, False,
           _GD_VARIABLE, ("path = [point.numpy()]", "path = [point]"),
           ("path.append(point.numpy())", "path.append(point)"), ("tf.constant(np.stack(path))", "tf.stack(path)")),
    change("gradient_descent", "stops early once the point is no longer finite", False, _GD_TAPE_STACK,
           ("        points.append(p)\n",
            "        if not bool(tf.reduce_all(tf.math.is_finite(p))):\n"
            "            break\n"
            "        points.append(p)\n")),
    Variant("gradient_descent", "correct: a float64 tensor watched by the tape, tf.stack", True, _GD_TAPE_STACK),
    Variant("gradient_descent", "correct: a compiled tf.function step on a variable, TensorArray-free", True, '''
def gradient_descent(f, start, learning_rate, steps):
    point = tf.Variable(tf.constant(np.array(start, dtype=np.float64)))

    @tf.function
    def update():
        with tf.GradientTape() as tape:
            loss = f(point)
        point.assign_sub(learning_rate * tape.gradient(loss, point))

    rows = [tf.identity(point)]
    for _ in range(steps):
        update()
        rows.append(tf.identity(point))
    return tf.stack(rows)
'''),
]

# ----------------------------------------------------------------------------- classify_run

_CLASSIFY_HEAD = '''
def classify_run(path, losses):
    path = np.asarray(path, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
'''

_CLASSIFY = _CLASSIFY_HEAD + '''
    if not np.isfinite(losses).all() or losses[-1] > losses[0]:
        return "diverging"
    steps = np.diff(path, axis=0)
    zigzags = np.sum(np.sum(steps[:-1] * steps[1:], axis=1) < 0)
    return "oscillating" if 2 * zigzags > len(steps) - 1 else "converging"
'''

CLASSIFY = [
    change("classify_run", "misses NaN losses (only compares the last loss with the first)", False, _CLASSIFY,
           ("not np.isfinite(losses).all() or ", "")),
    change("classify_run", "checks only the last loss for NaN", False, _CLASSIFY,
           ("not np.isfinite(losses).all()", "np.isnan(losses[-1]) or np.isinf(losses[-1])")),
    change("classify_run", "diverging when the last loss is >= the first", False, _CLASSIFY,
           ("losses[-1] > losses[0]", "losses[-1] >= losses[0]")),
    change("classify_run", "oscillating when at least half (not more than half) of the pairs zig-zag", False,
           _CLASSIFY, ("if 2 * zigzags > len(steps) - 1", "if len(steps) > 1 and 2 * zigzags >= len(steps) - 1")),
    change("classify_run", "diverging as soon as the loss goes up once", False, _CLASSIFY,
           ("losses[-1] > losses[0]", "np.any(np.diff(losses) > 0)")),
    change("classify_run", "zig-zag when any coordinate changes direction (not the dot product)", False, _CLASSIFY,
           ("    zigzags = np.sum(np.sum(steps[:-1] * steps[1:], axis=1) < 0)\n",
            "    flips = np.any(steps[:-1] * steps[1:] < 0, axis=1)\n"),
           ("2 * zigzags", "2 * np.sum(flips)")),
    change("classify_run", "compares the zig-zags with half of the n steps instead of the n - 1 pairs", False,
           _CLASSIFY, ("len(steps) - 1", "len(steps)")),
    change("classify_run", "diverging when the point moves away from the origin (not the loss)", False, _CLASSIFY,
           ("losses[-1] > losses[0]", "np.linalg.norm(path[-1]) > np.linalg.norm(path[0])")),
    Variant("classify_run", "checks oscillation before divergence" + VISIBLE, False, _CLASSIFY_HEAD + '''
    steps = np.diff(path, axis=0)
    zigzags = np.sum(np.sum(steps[:-1] * steps[1:], axis=1) < 0)
    if 2 * zigzags > len(steps) - 1:
        return "oscillating"
    if not np.isfinite(losses).all() or losses[-1] > losses[0]:
        return "diverging"
    return "converging"
'''),
    Variant("classify_run", "correct: plain Python loops", True, '''
def classify_run(path, losses):
    losses = [float(v) for v in np.asarray(losses, dtype=np.float64)]
    points = np.asarray(path, dtype=np.float64).tolist()
    if any(math.isnan(v) or math.isinf(v) for v in losses) or losses[-1] > losses[0]:
        return "diverging"
    steps = [[b - a for a, b in zip(p, q)] for p, q in zip(points[:-1], points[1:])]
    pairs = len(steps) - 1
    zigzags = 0
    for s, t in zip(steps[:-1], steps[1:]):
        if sum(a * b for a, b in zip(s, t)) < 0:
            zigzags += 1
    if zigzags > pairs / 2:
        return "oscillating"
    return "converging"
'''),
    Variant("classify_run", "correct: TensorFlow ops", True, '''
def classify_run(path, losses):
    path = tf.constant(np.asarray(path, dtype=np.float64))
    losses = tf.constant(np.asarray(losses, dtype=np.float64))
    if not bool(tf.reduce_all(tf.math.is_finite(losses))) or bool(losses[-1] > losses[0]):
        return "diverging"
    steps = path[1:] - path[:-1]
    dots = tf.reduce_sum(steps[:-1] * steps[1:], axis=1)
    zigzags = int(tf.reduce_sum(tf.cast(dots < 0, tf.int32)))
    pairs = int(steps.shape[0]) - 1
    return "oscillating" if zigzags * 2 > pairs else "converging"
'''),
]

# ----------------------------------------------------------------------------- sgd_momentum_step

_SGD = '''
def sgd_momentum_step(param, grad, velocity, learning_rate=0.01, momentum=0.0):
    velocity = momentum * velocity - learning_rate * grad
    return param + velocity, velocity
'''

SGD = [
    change("sgd_momentum_step", "default momentum 0.9 instead of Keras' 0.0", False, _SGD,
           ("momentum=0.0", "momentum=0.9")),
    change("sgd_momentum_step", "hyper-parameters as float32 constants (breaks float64)", False, _SGD,
           ("momentum * velocity - learning_rate * grad",
            "tf.constant(momentum) * velocity - tf.constant(learning_rate) * grad")),
    change("sgd_momentum_step", "NumPy arithmetic", False, _SGD,
           ("momentum * velocity - learning_rate * grad",
            "momentum * np.asarray(velocity) - learning_rate * np.asarray(grad)"),
           ("param + velocity", "np.asarray(param) + velocity")),
    Variant("sgd_momentum_step", "runs keras.optimizers.SGD on a temporary variable", False, '''
def sgd_momentum_step(param, grad, velocity, learning_rate=0.01, momentum=0.0):
    variable = keras.Variable(param)
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    optimizer.build([variable])
    if momentum:
        optimizer.momentums[0].assign(velocity)
    before = tf.identity(variable.value)
    optimizer.apply_gradients([(grad, variable)])
    after = tf.identity(variable.value)
    return after, after - before
'''),
    change("sgd_momentum_step", "without momentum keeps the old velocity", False, _SGD,
           ("    velocity = momentum", "    if momentum == 0:\n        return param - learning_rate * grad, velocity\n"
                                     "    velocity = momentum")),
    change("sgd_momentum_step", "momentum applied twice (Nesterov look-ahead)" + VISIBLE, False, _SGD,
           ("return param + velocity", "return param + momentum * velocity - learning_rate * grad")),
    change("sgd_momentum_step", "PyTorch's buffer (v = mu v + g, param -= lr v)" + VISIBLE, False, _SGD,
           ("- learning_rate * grad", "+ grad"), ("param + velocity", "param - learning_rate * velocity")),
    Variant("sgd_momentum_step", "moves with the old velocity, then updates it" + VISIBLE, False, '''
def sgd_momentum_step(param, grad, velocity, learning_rate=0.01, momentum=0.0):
    new_param = param + velocity
    return new_param, momentum * velocity - learning_rate * grad
'''),
    change("sgd_momentum_step", "velocity with the opposite sign (param - v)" + VISIBLE, False, _SGD,
           ("- learning_rate * grad", "+ learning_rate * grad"), ("param + velocity", "param - velocity")),
    Variant("sgd_momentum_step", "correct: keras.ops functions", True, '''
def sgd_momentum_step(param, grad, velocity, learning_rate=0.01, momentum=0.0):
    new_velocity = ops.subtract(ops.multiply(velocity, momentum), ops.multiply(grad, learning_rate))
    return ops.add(param, new_velocity), new_velocity
'''),
    Variant("sgd_momentum_step", "correct: tf ops with casts to the parameter's dtype", True, '''
def sgd_momentum_step(param, grad, velocity, learning_rate=0.01, momentum=0.0):
    dtype = param.dtype
    mu = tf.cast(momentum, dtype)
    lr = tf.cast(learning_rate, dtype)
    velocity = mu * velocity - lr * tf.cast(grad, dtype)
    return param + velocity, velocity
'''),
]

# ----------------------------------------------------------------------------- rmsprop_step

_RMSPROP = '''
def rmsprop_step(param, grad, mean_square, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    mean_square = rho * mean_square + (1 - rho) * grad ** 2
    return param - learning_rate * grad / ops.sqrt(mean_square + epsilon), mean_square
'''

RMSPROP = [
    change("rmsprop_step", "epsilon outside the square root", False, _RMSPROP,
           ("ops.sqrt(mean_square + epsilon)", "(ops.sqrt(mean_square) + epsilon)")),
    change("rmsprop_step", "PyTorch's default epsilon 1e-8", False, _RMSPROP, ("epsilon=1e-7", "epsilon=1e-8")),
    Variant("rmsprop_step", "hyper-parameters as float32 constants (breaks float64)", False, '''
def rmsprop_step(param, grad, mean_square, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    rho_t, lr_t, eps_t = tf.constant(rho), tf.constant(learning_rate), tf.constant(epsilon)
    mean_square = rho_t * mean_square + (1 - rho_t) * tf.square(grad)
    return param - lr_t * grad / tf.sqrt(mean_square + eps_t), mean_square
'''),
    Variant("rmsprop_step", "NumPy arithmetic", False, '''
def rmsprop_step(param, grad, mean_square, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    g = np.asarray(grad)
    mean_square = rho * np.asarray(mean_square) + (1 - rho) * g * g
    return np.asarray(param) - learning_rate * g / np.sqrt(mean_square + epsilon), mean_square
'''),
    Variant("rmsprop_step", "runs keras.optimizers.RMSprop on a temporary variable", False, '''
def rmsprop_step(param, grad, mean_square, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    variable = keras.Variable(param)
    optimizer = keras.optimizers.RMSprop(learning_rate=learning_rate, rho=rho, epsilon=epsilon)
    optimizer.build([variable])
    optimizer._velocities[0].assign(mean_square)
    optimizer.apply_gradients([(grad, variable)])
    return tf.identity(variable.value), tf.identity(optimizer._velocities[0].value)
'''),
    change("rmsprop_step", "adds epsilon to the mean square kept as state", False, _RMSPROP,
           ("grad ** 2\n", "grad ** 2 + epsilon\n"), ("ops.sqrt(mean_square + epsilon)", "ops.sqrt(mean_square)")),
    change("rmsprop_step", "no square root" + VISIBLE, False, _RMSPROP,
           ("ops.sqrt(mean_square + epsilon)", "(mean_square + epsilon)")),
    change("rmsprop_step", "rho and 1 - rho swapped" + VISIBLE, False, _RMSPROP,
           ("rho * mean_square + (1 - rho) * grad", "(1 - rho) * mean_square + rho * grad")),
    Variant("rmsprop_step", "divides by the old mean square" + VISIBLE, False, '''
def rmsprop_step(param, grad, mean_square, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    new_param = param - learning_rate * grad / ops.sqrt(mean_square + epsilon)
    return new_param, rho * mean_square + (1 - rho) * grad ** 2
'''),
    change("rmsprop_step", "Adagrad's sum of squares" + VISIBLE, False, _RMSPROP,
           ("rho * mean_square + (1 - rho) * grad ** 2", "mean_square + grad ** 2")),
    Variant("rmsprop_step", "correct: Keras' own order (lr * g / sqrt(s + eps))", True, '''
def rmsprop_step(param, grad, mean_square, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    s = ops.add(ops.multiply(rho, mean_square), ops.multiply(1 - rho, ops.square(grad)))
    increment = ops.divide(ops.multiply(learning_rate, grad), ops.sqrt(ops.add(s, epsilon)))
    return ops.subtract(param, increment), s
'''),
    Variant("rmsprop_step", "correct: tf ops, rsqrt, moving average written as s + (1 - rho)(g^2 - s)", True, '''
def rmsprop_step(param, grad, mean_square, learning_rate=0.001, rho=0.9, epsilon=1e-7):
    s = mean_square + (1.0 - rho) * (tf.square(grad) - mean_square)
    return param - learning_rate * grad * tf.math.rsqrt(s + epsilon), s
'''),
]

# ----------------------------------------------------------------------------- adam_step

_ADAM = '''
def adam_step(param, grad, m, v, step, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad ** 2
    alpha = learning_rate * math.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
    return param - alpha * m / (ops.sqrt(v) + epsilon), m, v
'''
_ALPHA = "    alpha = learning_rate * math.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)\n"

ADAM = [
    change("adam_step", "textbook epsilon: m_hat / (sqrt(v_hat) + eps)", False, _ADAM,
           (_ALPHA, "    m_hat = m / (1 - beta_1 ** step)\n    v_hat = v / (1 - beta_2 ** step)\n"),
           ("alpha * m / (ops.sqrt(v) + epsilon)", "learning_rate * m_hat / (ops.sqrt(v_hat) + epsilon)")),
    change("adam_step", "epsilon inside the square root", False, _ADAM,
           ("(ops.sqrt(v) + epsilon)", "ops.sqrt(v + epsilon)")),
    change("adam_step", "PyTorch's default epsilon 1e-8", False, _ADAM, ("epsilon=1e-7", "epsilon=1e-8")),
    change("adam_step", "bias correction with float32 tensors (breaks float64)", False, _ADAM,
           (_ALPHA, "    t = tf.constant(float(step))\n"
                    "    alpha = learning_rate * tf.sqrt(1 - tf.pow(beta_2, t)) / (1 - tf.pow(beta_1, t))\n"),
           ("ops.sqrt(v)", "tf.sqrt(v)")),
    Variant("adam_step", "NumPy arithmetic", False, '''
def adam_step(param, grad, m, v, step, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    g = np.asarray(grad)
    m = beta_1 * np.asarray(m) + (1 - beta_1) * g
    v = beta_2 * np.asarray(v) + (1 - beta_2) * g * g
    alpha = learning_rate * np.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
    dtype = np.asarray(param).dtype
    new_param = np.asarray(param) - alpha * m / (np.sqrt(v) + epsilon)
    return new_param.astype(dtype), m.astype(dtype), v.astype(dtype)
'''),
    Variant("adam_step", "runs keras.optimizers.Adam on a temporary variable", False, '''
def adam_step(param, grad, m, v, step, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    variable = keras.Variable(param)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    optimizer.build([variable])
    optimizer._momentums[0].assign(m)
    optimizer._velocities[0].assign(v)
    optimizer.iterations.assign(step - 1)
    optimizer.apply_gradients([(grad, variable)])
    return (tf.identity(variable.value), tf.identity(optimizer._momentums[0].value),
            tf.identity(optimizer._velocities[0].value))
'''),
    change("adam_step", "AMSGrad: v never decreases", False, _ADAM,
           ("v = beta_2 * v + (1 - beta_2) * grad ** 2", "v = ops.maximum(v, beta_2 * v + (1 - beta_2) * grad ** 2)")),
    change("adam_step", "beta powers counted from the step before (t - 1) after the first step" + VISIBLE, False,
           _ADAM, ("    alpha =", "    t = max(step - 1, 1)\n    alpha ="),
           ("beta_2 ** step", "beta_2 ** t"), ("beta_1 ** step", "beta_1 ** t")),
    change("adam_step", "no bias correction" + VISIBLE, False, _ADAM,
           (_ALPHA, ""), ("alpha * m", "learning_rate * m")),
    change("adam_step", "bias correction of v without the square root" + VISIBLE, False, _ADAM,
           ("math.sqrt(1 - beta_2 ** step)", "(1 - beta_2 ** step)")),
    Variant("adam_step", "stores the bias-corrected m_hat and v_hat as the state" + VISIBLE, False, '''
def adam_step(param, grad, m, v, step, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = (beta_1 * m + (1 - beta_1) * grad) / (1 - beta_1 ** step)
    v = (beta_2 * v + (1 - beta_2) * grad ** 2) / (1 - beta_2 ** step)
    return param - learning_rate * m / (ops.sqrt(v) + epsilon), m, v
'''),
    change("adam_step", "beta_1 and beta_2 swapped in the bias correction" + VISIBLE, False, _ADAM,
           ("math.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)",
            "math.sqrt(1 - beta_1 ** step) / (1 - beta_2 ** step)")),
    Variant("adam_step", "correct: Keras' order of operations with keras.ops", True, '''
def adam_step(param, grad, m, v, step, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    dtype = param.dtype
    t = ops.cast(step, dtype)
    alpha = learning_rate * ops.sqrt(1 - ops.power(ops.cast(beta_2, dtype), t)) / (
        1 - ops.power(ops.cast(beta_1, dtype), t))
    m = m + (grad - m) * (1 - beta_1)
    v = v + (ops.square(grad) - v) * (1 - beta_2)
    return param - ops.divide(m * alpha, ops.sqrt(v) + epsilon), m, v
'''),
    Variant("adam_step", "correct: bias-corrected m_hat, v_hat with the rescaled epsilon", True, '''
def adam_step(param, grad, m, v, step, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * tf.square(grad)
    c1, c2 = 1 - beta_1 ** step, 1 - beta_2 ** step
    m_hat, v_hat = m / c1, v / c2
    eps_hat = epsilon / math.sqrt(c2)
    return param - learning_rate * m_hat / (tf.sqrt(v_hat) + eps_hat), m, v
'''),
]

# ----------------------------------------------------------------------------- standardize

_STANDARDIZE = '''
def standardize(x, mean=None, std=None):
    x = ops.convert_to_tensor(x)
    if mean is None:
        mean = ops.mean(x, axis=0)
        std = ops.std(x, axis=0)
        std = ops.where(ops.all(x == x[:1], axis=0), ops.ones_like(std), std)
    mean, std = ops.cast(mean, x.dtype), ops.cast(std, x.dtype)
    return (x - mean) / std, mean, std
'''
_CONSTANT_COLUMN_RULE = "        std = ops.where(ops.all(x == x[:1], axis=0), ops.ones_like(std), std)\n"
_NO_CONSTANT_COLUMN_RULE = (_CONSTANT_COLUMN_RULE, "")

STANDARDIZE = [
    change("standardize", "returns NumPy arrays where the contract asks for tensors", False, _STANDARDIZE,
           ("    return (x - mean) / std, mean, std",
            "    return tuple(ops.convert_to_numpy(v) for v in ((x - mean) / std, mean, std))")),
    change("standardize", "sample standard deviation (divides by n - 1)", False, _STANDARDIZE,
           ("        mean = ops.mean", "        n = x.shape[0]\n        mean = ops.mean"),
           ("ops.std(x, axis=0)", "ops.sqrt(ops.sum(ops.square(x - mean), axis=0) / max(n - 1, 1))")),
    Variant("standardize", "always uses the statistics of the data it is given (test statistics leak in)",
            False, '''
def standardize(x, mean=None, std=None):
    x = ops.convert_to_tensor(x)
    mean = ops.mean(x, axis=0)
    std = ops.std(x, axis=0)
    std = ops.where(std == 0, ops.ones_like(std), std)
    return (x - mean) / std, mean, std
'''),
    change("standardize", "no special case for constant columns (0 / 0)", False, _STANDARDIZE,
           _NO_CONSTANT_COLUMN_RULE),
    change("standardize", "detects a constant column by a computed std of 0 (rounding leaves it tiny)", False,
           _STANDARDIZE, (_CONSTANT_COLUMN_RULE, "        std = ops.where(std == 0, ops.ones_like(std), std)\n")),
    change("standardize", "treats a std below 1e-3 as a constant column", False, _STANDARDIZE,
           (_CONSTANT_COLUMN_RULE, "        std = ops.where(std < 1e-3, ops.ones_like(std), std)\n")),
    change("standardize", "variance as mean(x**2) - mean(x)**2", False, _STANDARDIZE,
           ("ops.std(x, axis=0)", "ops.sqrt(ops.maximum(ops.mean(x * x, axis=0) - mean * mean, 0))")),
    change("standardize", "adds 1e-8 to the std instead of the constant-column rule", False, _STANDARDIZE,
           ("ops.std(x, axis=0)", "ops.std(x, axis=0) + 1e-8"), _NO_CONSTANT_COLUMN_RULE),
    Variant("standardize", "computes in float64 NumPy and never converts back", False, '''
def standardize(x, mean=None, std=None):
    x = np.array(x, dtype=np.float64)
    if mean is None:
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std[std == 0] = 1.0
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    return tf.constant((x - mean) / std), tf.constant(mean), tf.constant(std)
'''),
    Variant("standardize", "standardizes the caller's NumPy array in place", False, '''
def standardize(x, mean=None, std=None):
    data = x if isinstance(x, np.ndarray) else np.array(x)
    if mean is None:
        mean = data.mean(axis=0)
        std = data.std(axis=0)
        std = np.where(std == 0, 1.0, std).astype(data.dtype)
    data -= np.asarray(mean, dtype=data.dtype)
    data /= np.asarray(std, dtype=data.dtype)
    return tf.constant(data), tf.constant(mean, dtype=data.dtype), tf.constant(std, dtype=data.dtype)
'''),
    change("standardize", "divides by the variance", False, _STANDARDIZE, ("ops.std(", "ops.var(")),
    change("standardize", "only centers (forgets to divide by the std)", False, _STANDARDIZE,
           ("return (x - mean) / std,", "return x - mean,")),
    change("standardize", "one mean and std for the whole matrix" + VISIBLE, False, _STANDARDIZE,
           ("ops.mean(x, axis=0)", "ops.mean(x) * ops.ones(x.shape[1], dtype=x.dtype)"),
           ("ops.std(x, axis=0)", "ops.std(x) * ops.ones(x.shape[1], dtype=x.dtype)"), _NO_CONSTANT_COLUMN_RULE),
    Variant("standardize", "NumPy statistics, a constant column found by std == 0", False, '''
def standardize(x, mean=None, std=None):
    data = np.array(x)
    if mean is None:
        mean = data.mean(axis=0)
        std = data.std(axis=0)
        std[std == 0] = 1
    mean = np.asarray(mean, dtype=data.dtype)
    std = np.asarray(std, dtype=data.dtype)
    return tf.constant((data - mean) / std), tf.constant(mean), tf.constant(std)
'''),
    Variant("standardize", "correct: NumPy statistics, np.ptp for constant columns, tensors of x's dtype", True, '''
def standardize(x, mean=None, std=None):
    data = np.array(x)
    if mean is None:
        mean = data.mean(axis=0)
        std = data.std(axis=0)
        std[np.ptp(data, axis=0) == 0] = 1
    mean = np.asarray(mean, dtype=data.dtype)
    std = np.asarray(std, dtype=data.dtype)
    return tf.constant((data - mean) / std), tf.constant(mean), tf.constant(std)
'''),
    Variant("standardize", "correct: tf.nn.moments", True, '''
def standardize(x, mean=None, std=None):
    x = tf.convert_to_tensor(x)
    if mean is None:
        mean, variance = tf.nn.moments(x, axes=[0])
        std = tf.sqrt(variance)
        constant = tf.equal(tf.reduce_max(x, axis=0), tf.reduce_min(x, axis=0))
        std = tf.where(constant, tf.ones_like(std), std)
        mean = tf.where(constant, x[0], mean)
    mean = tf.cast(mean, x.dtype)
    std = tf.cast(std, x.dtype)
    return (x - mean) / std, mean, std
'''),
    Variant("standardize", "correct: scikit-learn's StandardScaler", True, '''
def standardize(x, mean=None, std=None):
    from sklearn.preprocessing import StandardScaler

    data = np.asarray(x)
    if mean is None:
        scaler = StandardScaler().fit(data)
        mean, std = scaler.mean_, scaler.scale_
    mean = np.asarray(mean).astype(data.dtype)
    std = np.asarray(std).astype(data.dtype)
    return tf.constant((data - mean) / std), tf.constant(mean), tf.constant(std)
'''),
]

# ----------------------------------------------------------------------------- train_linear_regression

_TRAIN_START = '''
def train_linear_regression(x, y, learning_rate, epochs):
    x = tf.cast(x, tf.float64)
    y = tf.cast(y, tf.float64)
    w = tf.Variable(tf.zeros(x.shape[1], dtype=tf.float64))
    b = tf.Variable(tf.constant(0.0, dtype=tf.float64))
    losses = []
'''
_TRAIN_END = '''
    return tf.convert_to_tensor(w), tf.convert_to_tensor(b), np.array(losses, dtype=np.float64)
'''

# The loop the contract describes: record the loss, then one full-batch update.
_TRAIN = _TRAIN_START + '''
    for _ in range(epochs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.linalg.matvec(x, w) + b - y))
        grad_w, grad_b = tape.gradient(loss, [w, b])
        w.assign_sub(learning_rate * grad_w)
        b.assign_sub(learning_rate * grad_b)
        losses.append(float(loss))
''' + _TRAIN_END
_TRAIN_UPDATE = '''\
        grad_w, grad_b = tape.gradient(loss, [w, b])
        w.assign_sub(learning_rate * grad_w)
        b.assign_sub(learning_rate * grad_b)
'''
# Some students' cells have no blank line after the set-up or before the return.
_NO_BLANK_LINES = (("    losses = []\n\n", "    losses = []\n"), ("\n\n    return", "\n    return"))

TRAIN = [
    change("train_linear_regression", "differentiates half the MSE (gradient halved), records the MSE", False,
           _TRAIN, ("            loss = tf.reduce_mean(tf.square(tf.linalg.matvec(x, w) + b - y))\n",
                    "            mse = tf.reduce_mean(tf.square(tf.linalg.matvec(x, w) + b - y))\n"
                    "            objective = 0.5 * mse\n"),
           ("tape.gradient(loss,", "tape.gradient(objective,"), ("float(loss)", "float(mse)")),
    change("train_linear_regression", "computes in float32 and casts the results", False, _TRAIN, *_NO_BLANK_LINES,
           ("tf.cast(x, tf.float64)", "tf.cast(x, tf.float32)"), ("tf.cast(y, tf.float64)", "tf.cast(y, tf.float32)"),
           ("tf.zeros(x.shape[1], dtype=tf.float64)", "tf.zeros(x.shape[1])"),
           ("tf.Variable(tf.constant(0.0, dtype=tf.float64))", "tf.Variable(0.0)"),
           ("return tf.convert_to_tensor(w), tf.convert_to_tensor(b), np.array(losses, dtype=np.float64)",
            "return tf.cast(w, tf.float64), tf.cast(b, tf.float64), np.array(losses)")),
    Variant("train_linear_regression", "hand-written gradient formula in NumPy (no tape)", False, '''
def train_linear_regression(x, y, learning_rate, epochs):
    x = np.array(x, dtype=np.float64)
    y = np.array(y, dtype=np.float64)
    w, b = np.zeros(x.shape[1]), 0.0
    losses = []
    for _ in range(epochs):
        residual = x @ w + b - y
        losses.append(np.mean(residual ** 2))
        w = w - learning_rate * 2 * x.T @ residual / len(y)
        b = b - learning_rate * 2 * np.mean(residual)
    return tf.constant(w), tf.constant(b, dtype=tf.float64), np.array(losses)
'''),
    change("train_linear_regression", "keras.optimizers.SGD does the update", False, _TRAIN,
           ("    for _ in range(epochs):\n",
            "    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)\n    for _ in range(epochs):\n"),
           (_TRAIN_UPDATE, "        grads = tape.gradient(loss, [w, b])\n"
                           "        optimizer.apply_gradients(zip(grads, [w, b]))\n")),
    Variant("train_linear_regression", "a Dense model trained with model.fit (one batch per epoch)", False, '''
def train_linear_regression(x, y, learning_rate, epochs):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    model = keras.Sequential([keras.Input((x.shape[1],), dtype="float64"),
                              keras.layers.Dense(1, kernel_initializer="zeros", dtype="float64")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    history = model.fit(x, y, batch_size=len(x), epochs=epochs, shuffle=False, verbose=0)
    kernel, bias = model.layers[-1].get_weights()
    return (tf.constant(kernel[:, 0], tf.float64), tf.constant(bias[0], tf.float64),
            np.array(history.history.get("loss", []), dtype=np.float64))
'''),
    change("train_linear_regression", "updates w, then takes b's gradient at the new w", False, _TRAIN,
           (_TRAIN_UPDATE, '''\
        w.assign_sub(learning_rate * tape.gradient(loss, w))
        with tf.GradientTape() as tape:
            loss_after = tf.reduce_mean(tf.square(tf.linalg.matvec(x, w) + b - y))
        b.assign_sub(learning_rate * tape.gradient(loss_after, b))
''')),
    Variant("train_linear_regression", "mini-batches of 32 instead of one full-batch update per epoch", False,
            _TRAIN_START + '''
    for _ in range(epochs):
        losses.append(float(tf.reduce_mean(tf.square(tf.linalg.matvec(x, w) + b - y))))
        for i in range(0, x.shape[0], 32):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(tf.linalg.matvec(x[i:i + 32], w) + b - y[i:i + 32]))
            grad_w, grad_b = tape.gradient(loss, [w, b])
            w.assign_sub(learning_rate * grad_w)
            b.assign_sub(learning_rate * grad_b)
''' + _TRAIN_END),
    change("train_linear_regression", "the sum of squares (gradient n times too large)" + VISIBLE, False, _TRAIN,
           ("loss = tf.reduce_mean(", "total = tf.reduce_sum("), ("tape.gradient(loss,", "tape.gradient(total,"),
           ("float(loss)", "float(total) / x.shape[0]")),
    change("train_linear_regression", "records the loss after the update" + VISIBLE, False, _TRAIN,
           ("losses.append(float(loss))",
            "losses.append(float(tf.reduce_mean(tf.square(tf.linalg.matvec(x, w) + b - y))))")),
    change("train_linear_regression", "w of shape (d, 1): (n, 1) - (n,) broadcasts to (n, n)" + VISIBLE, False,
           _TRAIN, *_NO_BLANK_LINES,
           ("tf.zeros(x.shape[1], dtype=tf.float64)", "tf.zeros((x.shape[1], 1), dtype=tf.float64)"),
           ("tf.linalg.matvec(x, w)", "tf.matmul(x, w)"),
           ("tf.convert_to_tensor(w)", "tf.reshape(w, [-1])"),
           ("np.array(losses, dtype=np.float64)", "np.array(losses)")),
    change("train_linear_regression", "forgets to update the bias" + VISIBLE, False, _TRAIN,
           (_TRAIN_UPDATE, "        w.assign_sub(learning_rate * tape.gradient(loss, w))\n")),
    Variant("train_linear_regression", "correct: a float64 Dense layer (zero init) and a manual update", True, '''
def train_linear_regression(x, y, learning_rate, epochs):
    x = tf.cast(x, tf.float64)
    y = tf.reshape(tf.cast(y, tf.float64), (-1, 1))
    layer = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros", dtype="float64")
    layer.build((None, x.shape[1]))
    history = []
    for _ in range(epochs):
        with tf.GradientTape() as tape:
            loss = ops.mean(ops.square(layer(x) - y))
        grads = tape.gradient(loss, layer.trainable_variables)
        for variable, grad in zip(layer.trainable_variables, grads):
            variable.assign(variable - learning_rate * grad)
        history.append(loss)
    w = tf.reshape(tf.convert_to_tensor(layer.kernel), [-1])
    b = tf.reshape(tf.convert_to_tensor(layer.bias), [])
    return w, b, tf.stack(history) if history else tf.zeros((0,), tf.float64)
'''),
    Variant("train_linear_regression", "correct: tensors watched by the tape, compiled loss-and-gradient", True, '''
def train_linear_regression(x, y, learning_rate, epochs):
    x = tf.constant(np.asarray(x, dtype=np.float64))
    y = tf.constant(np.asarray(y, dtype=np.float64))
    w = tf.zeros(x.shape[1], dtype=tf.float64)
    b = tf.constant(0.0, dtype=tf.float64)

    @tf.function
    def loss_and_grads(w, b):
        with tf.GradientTape() as tape:
            tape.watch([w, b])
            loss = tf.reduce_mean((tf.linalg.matvec(x, w) + b - y) ** 2)
        return loss, tape.gradient(loss, [w, b])

    losses = np.zeros(epochs)
    for k in range(epochs):
        loss, (grad_w, grad_b) = loss_and_grads(w, b)
        losses[k] = loss.numpy()
        w, b = w - learning_rate * grad_w, b - learning_rate * grad_b
    return w, b, losses
'''),
]


# ----------------------------------------------------------------------------- max_stable_learning_rate

_STABLE = '''
def max_stable_learning_rate(x):
    x = np.asarray(x, dtype=np.float64)
    design = np.column_stack([x, np.ones(len(x))])
    hessian = 2.0 / len(x) * design.T @ design
    return float(2.0 / np.linalg.eigvalsh(hessian)[-1])
'''

STABLE = [
    change("max_stable_learning_rate", "forgets the bias (the Hessian of w alone)", False, _STABLE,
           ("np.column_stack([x, np.ones(len(x))])", "x")),
    change("max_stable_learning_rate", "forgets the MSE's factor 2 (the Hessian of a loss with 1/2)" + VISIBLE,
           False, _STABLE, ("2.0 / len(x) * design.T", "1.0 / len(x) * design.T")),
    change("max_stable_learning_rate", "1 / lambda_max instead of 2 / lambda_max", False, _STABLE,
           ("float(2.0 / np.linalg", "float(1.0 / np.linalg")),
    change("max_stable_learning_rate", "the smallest eigenvalue instead of the largest", False, _STABLE,
           ("eigvalsh(hessian)[-1]", "eigvalsh(hessian)[0]")),
    change("max_stable_learning_rate", "no 1/n (a summed loss, not the mean)", False, _STABLE,
           ("2.0 / len(x) * design.T @ design", "2.0 * design.T @ design")),
    change("max_stable_learning_rate", "the trace (all curvatures together) instead of the largest", False, _STABLE,
           ("np.linalg.eigvalsh(hessian)[-1]", "np.trace(hessian)")),
    change("max_stable_learning_rate", "the largest singular value of the design matrix, not squared", False, _STABLE,
           ("float(2.0 / np.linalg.eigvalsh(hessian)[-1])",
            "float(len(x) / np.linalg.svd(design, compute_uv=False)[0])")),
    Variant("max_stable_learning_rate", "the covariance of x (centered, n - 1) and the bias's 2 apart", False, '''
def max_stable_learning_rate(x):
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    cov = np.atleast_2d(np.cov(x, rowvar=False)) if len(x) > 1 else np.zeros((x.shape[1],) * 2)
    largest = max(2.0 * np.linalg.eigvalsh(cov)[-1], 2.0)
    return float(2.0 / largest)
'''),
    change("max_stable_learning_rate", "returns a tensor", False, _STABLE,
           ("return float(2.0 / np.linalg.eigvalsh(hessian)[-1])",
            "return tf.constant(2.0 / np.linalg.eigvalsh(hessian)[-1])")),
    Variant("max_stable_learning_rate", "correct: the largest singular value of [x, 1], squared", True, '''
def max_stable_learning_rate(x):
    x = np.array(x, dtype=np.float64)
    design = np.hstack([x, np.ones((x.shape[0], 1))])
    sigma = np.linalg.norm(design, ord=2)
    return float(x.shape[0] / sigma ** 2)
'''),
    Variant("max_stable_learning_rate", "correct: tf.linalg.eigvalsh in float64", True, '''
def max_stable_learning_rate(x):
    x = tf.cast(x, tf.float64)
    n = tf.cast(tf.shape(x)[0], tf.float64)
    design = tf.concat([x, tf.ones((tf.shape(x)[0], 1), tf.float64)], axis=1)
    hessian = 2.0 * tf.matmul(design, design, transpose_a=True) / n
    return 2.0 / float(tf.reduce_max(tf.linalg.eigvalsh(hessian)))
'''),
]


VARIANTS = NUMERICAL_GRADIENT + GRADIENT_DESCENT + CLASSIFY + SGD + RMSPROP + ADAM + STANDARDIZE + TRAIN + STABLE
