"""Strength corpus for assignment 1 (neurons and activations).

Each variant replaces a whole solution cell. A variant that is a small change of a base cell
(the usual solution, or another variant) is written as that change: `change` applies named
(old, new) edits to the base, so the variant reads as the mistake it makes; a variant that is a
different program is spelled out in full. Wrong variants are mistakes students really make;
most pass the visible asserts (those that do not say "caught by visible tests too").
Correct variants are other valid ways to meet the contract and must keep full marks.
The cell's namespace already has math, np, tf, keras and ops from the setup cell.
"""
from dlcourse_grading.strength import Variant, change

VISIBLE = " (caught by visible tests too)"


def _cell(*parts: str) -> str:
    return "\n\n".join(part.strip("\n") for part in parts) + "\n"


# ----------------------------------------------------------------------------- collapse_dense_layers

# A helper that checks both activations, then the merged kernel W1 W2 and bias b1 W2 + b2.
_COLLAPSE = _cell('''
def _check_linear(*layers):
    for layer in layers:
        if layer.get_config()["activation"] != "linear":
            raise ValueError("only linear layers can be merged")
''', '''
def collapse_dense_layers(first, second):
    _check_linear(first, second)

    kernel = ops.matmul(first.kernel, second.kernel)
    bias = ops.matmul(ops.expand_dims(first.bias, 0), second.kernel)[0] + second.bias

    merged = keras.layers.Dense(second.units)
    merged.build((None, first.kernel.shape[0]))
    merged.set_weights([ops.convert_to_numpy(kernel), ops.convert_to_numpy(bias)])
    return merged
''')
_BIAS = "ops.matmul(ops.expand_dims(first.bias, 0), second.kernel)[0] + second.bias"

COLLAPSE = [
    change("collapse_dense_layers", "forgets the first layer's bias (bias = b2)", False, _COLLAPSE,
           (_BIAS, "second.bias")),
    change("collapse_dense_layers", "adds the biases (b1 + b2) instead of b1 W2 + b2", False, _COLLAPSE,
           (_BIAS, "first.bias + second.bias if first.units == second.units else second.bias")),
    change("collapse_dense_layers", "bias b1 W2, forgets b2", False, _COLLAPSE,
           (_BIAS, "ops.matmul(ops.expand_dims(first.bias, 0), second.kernel)[0]")),
    change("collapse_dense_layers", "never raises ValueError for non-linear layers", False, _COLLAPSE,
           ("    _check_linear(first, second)\n", "")),
    change("collapse_dense_layers", "checks only the first layer's activation", False, _COLLAPSE,
           ("_check_linear(first, second)", "_check_linear(first)")),
    change("collapse_dense_layers", "only rejects a relu activation", False, _COLLAPSE,
           ('!= "linear"', '== "relu"'), ('"only linear layers can be merged"', '"cannot merge a ReLU layer"')),
    change("collapse_dense_layers", "hard-codes the visible sizes (4 inputs, 2 units)", False, _COLLAPSE,
           ("second.bias\n\n    merged = keras.layers.Dense(second.units)",
            "second.bias\n    merged = keras.layers.Dense(2)"),
           ("merged.build((None, first.kernel.shape[0]))", "merged.build((None, 4))")),
    change("collapse_dense_layers", "merged layer gets the second layer's activation (relu kept)", False,
           _COLLAPSE, ("_check_linear(first, second)", "_check_linear(first)"),
           ("second.bias\n\n    merged = keras.layers.Dense(second.units)",
            "second.bias\n    merged = keras.layers.Dense(second.units, activation=second.activation)")),
    Variant("collapse_dense_layers", "correct: NumPy weights, `activation is keras.activations.linear`", True, '''
def collapse_dense_layers(first, second):
    for layer in (first, second):
        if layer.activation is not keras.activations.linear:
            raise ValueError("non-linear layer")
    W1, b1 = first.get_weights()
    W2, b2 = second.get_weights()
    merged = keras.layers.Dense(W2.shape[1])
    merged.build((None, W1.shape[0]))
    merged.set_weights([W1 @ W2, b1 @ W2 + b2])
    return merged
'''),
    Variant("collapse_dense_layers", "correct: probes the composition with zeros and the identity", True, '''
def collapse_dense_layers(first, second):
    if first.activation.__name__ != "linear" or second.activation.__name__ != "linear":
        raise ValueError("cannot merge non-linear layers")
    d = first.kernel.shape[0]
    bias = second(first(ops.zeros((1, d))))[0]
    kernel = second(first(ops.eye(d))) - bias
    merged = keras.layers.Dense(int(bias.shape[0]), activation=None)
    merged.build((None, d))
    merged.kernel.assign(kernel)
    merged.bias.assign(bias)
    return merged
'''),
    Variant("collapse_dense_layers", "correct: tf.linalg and Constant initializers, then build", True, '''
def collapse_dense_layers(first, second):
    linear = keras.activations.get("linear")
    if any(layer.activation is not linear for layer in (first, second)):
        raise ValueError("a layer has a non-linear activation")
    kernel = tf.linalg.matmul(first.kernel, second.kernel)
    bias = tf.linalg.matvec(second.kernel, first.bias, transpose_a=True) + second.bias
    merged = keras.layers.Dense(
        second.units,
        kernel_initializer=keras.initializers.Constant(kernel.numpy()),
        bias_initializer=keras.initializers.Constant(bias.numpy()),
    )
    merged.build((None, int(kernel.shape[0])))
    return merged
'''),
]

# ----------------------------------------------------------------------------- mlp_forward
_MLP = '''
def mlp_forward(x, params, activation=ops.relu):
    a = x
    for i, (W, b) in enumerate(params):
        a = ops.matmul(a, W) + b
        if i < len(params) - 1:
            a = activation(a)
    return a
'''

MLP = [
    change("mlp_forward", "ignores the activation argument (always relu)", False, _MLP,
           ("a = activation(a)", "a = ops.relu(a)")),
    change("mlp_forward", "forgets the biases", False, _MLP, ("ops.matmul(a, W) + b", "ops.matmul(a, W)")),
    change("mlp_forward", "activation applied before adding the bias", False, _MLP,
           ("ops.matmul(a, W) + b", "ops.matmul(a, W)"),
           ("            a = activation(a)\n", "            a = activation(a)\n        a = a + b\n")),
    change("mlp_forward", "activation only after the first layer", False, _MLP,
           ("if i < len(params) - 1:", "if i == 0 and len(params) > 1:")),
    change("mlp_forward", "NumPy instead of keras.ops", False, _MLP,
           ("a = x", "a = np.asarray(x)"), ("ops.matmul(a, W) + b", "np.matmul(a, np.asarray(W)) + np.asarray(b)"),
           ("a = activation(a)", "a = np.asarray(activation(a))")),
    Variant("mlp_forward", "builds Keras Dense layers and copies the weights in", False, '''
def mlp_forward(x, params, activation=ops.relu):
    a = x
    for i, (W, b) in enumerate(params):
        last = i == len(params) - 1
        layer = keras.layers.Dense(W.shape[1], activation=None if last else activation)
        layer.build((None, W.shape[0]))
        layer.set_weights([ops.convert_to_numpy(W), ops.convert_to_numpy(b)])
        a = layer(a)
    return a
'''),
    Variant("mlp_forward", "activation on the output layer too" + VISIBLE, False, '''
def mlp_forward(x, params, activation=ops.relu):
    a = x
    for W, b in params:
        a = activation(ops.matmul(a, W) + b)
    return a
'''),
    Variant("mlp_forward", "correct: tf.matmul, hidden layers then the output layer", True, '''
def mlp_forward(x, params, activation=ops.relu):
    *hidden, (W_out, b_out) = params
    a = tf.convert_to_tensor(x)
    for W, b in hidden:
        a = activation(tf.matmul(a, W) + b)
    return tf.matmul(a, W_out) + b_out
'''),
    Variant("mlp_forward", "correct: recursion with einsum", True, '''
def mlp_forward(x, params, activation=ops.relu):
    (W, b), rest = params[0], params[1:]
    z = ops.einsum("bi,io->bo", x, W) + b
    if not rest:
        return z
    return mlp_forward(activation(z), rest, activation)
'''),
]

# ----------------------------------------------------------------------------- count_parameters

_PARAMS_INT64 = '''
def count_parameters(layer_sizes):
    n = np.array(layer_sizes, dtype=np.int64)
    return int(np.sum((n[:-1] + 1) * n[1:]))
'''

PARAMS = [
    Variant("count_parameters", "hard-codes the visible cases", False, '''
def count_parameters(layer_sizes):
    known = {(3, 4, 2): 26, (10, 1): 11}
    return known.get(tuple(layer_sizes), 0)
'''),
    Variant("count_parameters", "builds a Keras model and asks count_params()", False, '''
def count_parameters(layer_sizes):
    model = keras.Sequential([keras.Input((layer_sizes[0],))]
                             + [keras.layers.Dense(n) for n in layer_sizes[1:]])
    return int(model.count_params())
'''),
    Variant("count_parameters", "only handles nets of one or two layers", False, '''
def count_parameters(layer_sizes):
    if len(layer_sizes) == 2:
        return layer_sizes[0] * layer_sizes[1] + layer_sizes[1]
    n0, n1, n2 = layer_sizes[:3]
    return n0 * n1 + n1 + n1 * n2 + n2
'''),
    Variant("count_parameters", "returns a float", False, '''
def count_parameters(layer_sizes):
    total = 0.0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        total += n_in * n_out + n_out
    return total
'''),
    Variant("count_parameters", "int32 tensor arithmetic overflows on a huge net", False, '''
def count_parameters(layer_sizes):
    n = ops.convert_to_tensor(layer_sizes)
    return int(ops.sum(n[:-1] * n[1:] + n[1:]))
'''),
    Variant("count_parameters", "forgets the biases" + VISIBLE, False, '''
def count_parameters(layer_sizes):
    return sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
'''),
    Variant("count_parameters", "one bias per input unit instead of per output unit" + VISIBLE, False, '''
def count_parameters(layer_sizes):
    return sum(a * b + a for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
'''),
    Variant("count_parameters", "counts biases for the input layer too" + VISIBLE, False, '''
def count_parameters(layer_sizes):
    weights = sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
    return weights + sum(layer_sizes)
'''),
    change("count_parameters", "returns a NumPy int64 where the contract says a Python int", False, _PARAMS_INT64,
           ("return int(np.sum((n[:-1] + 1) * n[1:]))", "return np.sum((n[:-1] + 1) * n[1:])")),
    Variant("count_parameters", "correct: loop with (n_in + 1) * n_out", True, '''
def count_parameters(layer_sizes):
    total = 0
    for i in range(1, len(layer_sizes)):
        total += (layer_sizes[i - 1] + 1) * layer_sizes[i]
    return total
'''),
    Variant("count_parameters", "correct: NumPy int64 vector arithmetic", True, _PARAMS_INT64),
]

# ----------------------------------------------------------------------------- sigmoid

_SIG = '''
def sigmoid(x):
    x = ops.convert_to_tensor(x)
    z = ops.exp(-ops.abs(x))
    return ops.where(x >= 0, 1 / (1 + z), z / (1 + z))
'''
_SIG_D = '''
def sigmoid_derivative(s):
    return s * (1 - s)
'''

_SIGMOID = _cell(_SIG, _SIG_D)

SIGMOID = [
    Variant("sigmoid", "naive 1 / (1 + exp(-x)): NaN gradient for large negative x", False, _cell('''
def sigmoid(x):
    return 1 / (1 + ops.exp(-x))
''', _SIG_D)),
    Variant("sigmoid", "where() between two naive branches: NaN gradient", False, _cell('''
def sigmoid(x):
    return ops.where(x >= 0, 1 / (1 + ops.exp(-x)), ops.exp(x) / (1 + ops.exp(x)))
''', _SIG_D)),
    Variant("sigmoid", "where() with 1 - 1/(1 + e^x) for negatives: NaN gradient", False, _cell('''
def sigmoid(x):
    x = ops.convert_to_tensor(x)
    return ops.where(x >= 0, 1 / (1 + ops.exp(-x)), 1 - 1 / (1 + ops.exp(x)))
''', _SIG_D)),
    Variant("sigmoid", "uses keras.ops.sigmoid", False, _cell('''
def sigmoid(x):
    return ops.sigmoid(x)
''', _SIG_D)),
    Variant("sigmoid", "uses the built-in under another name (from tensorflow.math import sigmoid)", False, _cell('''
from tensorflow.math import sigmoid as logistic

def sigmoid(x):
    return logistic(x)
''', _SIG_D)),
    change("sigmoid", "stable formula in NumPy", False, _SIGMOID,
           ("x = ops.convert_to_tensor(x)", "x = np.asarray(x)"), ("ops.exp(-ops.abs(x))", "np.exp(-np.abs(x))"),
           ("ops.where", "np.where")),
    change("sigmoid", "casts to float32 (float64 input loses its dtype)", False, _SIGMOID,
           ("x = ops.convert_to_tensor(x)", 'x = ops.cast(x, "float32")')),
    Variant("sigmoid", "derivative with np.multiply (NumPy)", False, _cell(_SIG, '''
def sigmoid_derivative(s):
    return np.multiply(s, 1 - np.asarray(s))
''')),
    Variant("sigmoid", "derivative computed from the input, not the output" + VISIBLE, False, _cell(_SIG, '''
def sigmoid_derivative(s):
    return sigmoid(s) * (1 - sigmoid(s))
''')),
    Variant("sigmoid", "exp(-|x|) in both branches, as an older hint said: tape gradient 0 at x = 0", False,
            _SIGMOID),
    Variant("sigmoid", "exp(min(x, 0)) / (1 + exp(-|x|)): tape gradient 1/2 at x = 0", False, _cell('''
def sigmoid(x):
    x = ops.convert_to_tensor(x)
    return ops.exp(ops.minimum(x, 0.0)) / (1 + ops.exp(-ops.abs(x)))
''', '''
def sigmoid_derivative(s):
    return s - s * s
''')),
    Variant("sigmoid", "correct: (1 + tanh(x / 2)) / 2", True, _cell('''
def sigmoid(x):
    x = ops.convert_to_tensor(x)
    return 0.5 * (1 + ops.tanh(0.5 * x))
''', '''
def sigmoid_derivative(s):
    return s - s * s
''')),
    Variant("sigmoid", "correct: where() on inputs clamped by where()", True, _cell('''
def sigmoid(x):
    x = ops.convert_to_tensor(x)
    positive = x >= 0
    safe = ops.where(positive, -x, x)  # always <= 0
    e = ops.exp(safe)
    return ops.where(positive, 1 / (1 + e), e / (1 + e))
''', _SIG_D)),
    Variant("sigmoid", "correct: tf.where with clamped inputs in each branch", True, _cell('''
def sigmoid(x):
    x = tf.convert_to_tensor(x)
    pos = 1.0 / (1.0 + tf.exp(-tf.maximum(x, 0.0)))
    e = tf.exp(tf.minimum(x, 0.0))
    neg = e / (1.0 + e)
    return tf.where(x >= 0, pos, neg)
''', '''
def sigmoid_derivative(s):
    return tf.multiply(s, 1.0 - s)
''')),
]

# ----------------------------------------------------------------------------- tanh

_TANH_D = '''
def tanh_derivative(t):
    return 1 - t * t
'''
_TANH = '''
def tanh(x):
    x = ops.convert_to_tensor(x)
    return 2 * sigmoid(2 * x) - 1
'''

_TANH_CELL = _cell(_TANH, _TANH_D)

TANH = [
    Variant("tanh", "uses keras.ops.tanh", False, _cell('''
def tanh(x):
    return ops.tanh(x)
''', _TANH_D)),
    Variant("tanh", "uses the built-in under another name (from tensorflow import tanh)", False, _cell('''
from tensorflow import tanh as hyperbolic_tangent

def tanh(x):
    return hyperbolic_tangent(x)
''', _TANH_D)),
    Variant("tanh", "(e^x - e^-x) / (e^x + e^-x): overflows for large |x|", False, _cell('''
def tanh(x):
    return (ops.exp(x) - ops.exp(-x)) / (ops.exp(x) + ops.exp(-x))
''', _TANH_D)),
    Variant("tanh", "(1 - e^-2x) / (1 + e^-2x): overflows for large negative x", False, _cell('''
def tanh(x):
    e = ops.exp(-2 * x)
    return (1 - e) / (1 + e)
''', _TANH_D)),
    Variant("tanh", "sinh / cosh: overflows for large |x|", False, _cell('''
def tanh(x):
    return ops.sinh(x) / ops.cosh(x)
''', _TANH_D)),
    Variant("tanh", "NumPy formula", False, _cell('''
def tanh(x):
    x = np.asarray(x)
    return 2 / (1 + np.exp(-2 * x)) - 1
''', _TANH_D)),
    change("tanh", "casts to float32 (float64 input loses its dtype)", False, _TANH_CELL,
           ("x = ops.convert_to_tensor(x)", 'x = ops.cast(x, "float32")')),
    change("tanh", "forgets the 2x inside the sigmoid" + VISIBLE, False, _TANH_CELL,
           ("    x = ops.convert_to_tensor(x)\n", ""), ("sigmoid(2 * x)", "sigmoid(x)")),
    Variant("tanh", "derivative computed from the input, not the output" + VISIBLE, False, _cell(_TANH, '''
def tanh_derivative(t):
    return 1 - tanh(t) ** 2
''')),
    Variant("tanh", "correct: sigmoid(2x) - sigmoid(-2x), derivative (1 - t)(1 + t)", True, _cell('''
def tanh(x):
    x = ops.convert_to_tensor(x)
    return sigmoid(2 * x) - sigmoid(-2 * x)
''', '''
def tanh_derivative(t):
    return (1 - t) * (1 + t)
''')),
    Variant("tanh", "correct: 1 - 2 sigmoid(-2x), derivative 1 - t**2", True, _cell('''
def tanh(x):
    return 1 - 2 * sigmoid(-2 * ops.convert_to_tensor(x))
''', '''
def tanh_derivative(t):
    return 1 - t ** 2
''')),
    Variant("tanh", "sign(x) (1 - e^-2|x|) / (1 + e^-2|x|): tape gradient 0 at x = 0", False, _cell('''
def tanh(x):
    x = ops.convert_to_tensor(x)
    e = ops.exp(-2 * ops.abs(x))
    return ops.sign(x) * (1 - e) / (1 + e)
''', '''
def tanh_derivative(t):
    return 1 - ops.square(t)
''')),
]

# ----------------------------------------------------------------------------- gradient_sign_agreement

_SIGN = '''
def gradient_sign_agreement(x, upstream):
    g = x * ops.expand_dims(upstream, -1)
    same = ops.logical_or(ops.all(g >= 0, axis=1), ops.all(g <= 0, axis=1))
    return float(ops.mean(ops.cast(same, "float32")))
'''
_ONE_SIGN = "ops.logical_or(ops.all(g >= 0, axis=1), ops.all(g <= 0, axis=1))"

SIGN = [
    change("gradient_sign_agreement", "strict inequalities (zeros break the agreement)", False, _SIGN,
           (_ONE_SIGN, "ops.logical_or(ops.all(g > 0, axis=1), ops.all(g < 0, axis=1))")),
    change("gradient_sign_agreement", "looks at the signs of x only, ignores upstream", False, _SIGN,
           ("    g = x * ops.expand_dims(upstream, -1)\n", ""),
           (_ONE_SIGN, "ops.logical_or(ops.all(x >= 0, axis=1), ops.all(x <= 0, axis=1))")),
    change("gradient_sign_agreement", "compares every sign with the first entry's sign", False, _SIGN,
           ("    same = " + _ONE_SIGN, "    s = ops.sign(g)\n    same = ops.all(s == s[:, :1], axis=1)")),
    change("gradient_sign_agreement", "only checks neighboring entries pairwise", False, _SIGN,
           (_ONE_SIGN, "ops.all(g[:, 1:] * g[:, :-1] >= 0, axis=1)")),
    change("gradient_sign_agreement", "|mean of signs| == 1 (zeros break it)", False, _SIGN,
           (_ONE_SIGN, "ops.abs(ops.mean(ops.sign(g), axis=1)) == 1")),
    Variant("gradient_sign_agreement", "hard-codes the visible answer", False, '''
def gradient_sign_agreement(x, upstream):
    return 0.75
'''),
    Variant("gradient_sign_agreement", "only counts all-positive gradients" + VISIBLE, False, '''
def gradient_sign_agreement(x, upstream):
    g = x * ops.expand_dims(upstream, -1)
    return float(ops.mean(ops.cast(ops.all(g >= 0, axis=1), "float32")))
'''),
    change("gradient_sign_agreement", "reduces over the wrong axis" + VISIBLE, False, _SIGN,
           (_ONE_SIGN, "ops.logical_or(ops.all(g >= 0, axis=0), ops.all(g <= 0, axis=0))")),
    Variant("gradient_sign_agreement", "correct: NumPy, max * min >= 0", True, '''
def gradient_sign_agreement(x, upstream):
    g = np.asarray(x, dtype=np.float64) * np.asarray(upstream, dtype=np.float64)[:, None]
    return float(np.mean(g.max(axis=1) * g.min(axis=1) >= 0))
'''),
    Variant("gradient_sign_agreement", "correct: Python loop over examples", True, '''
def gradient_sign_agreement(x, upstream):
    x, upstream = np.asarray(x), np.asarray(upstream)
    agree = 0
    for row, u in zip(x, upstream):
        g = row * u
        if all(v >= 0 for v in g) or all(v <= 0 for v in g):
            agree += 1
    return agree / len(x)
'''),
    Variant("gradient_sign_agreement", "correct: tf reductions on the max and min", True, '''
def gradient_sign_agreement(x, upstream):
    g = tf.convert_to_tensor(x) * tf.convert_to_tensor(upstream)[:, tf.newaxis]
    ok = tf.logical_or(tf.reduce_max(g, axis=1) <= 0, tf.reduce_min(g, axis=1) >= 0)
    return float(tf.reduce_mean(tf.cast(ok, tf.float64)))
'''),
]

# ----------------------------------------------------------------------------- count_dead_units

# The layer's outputs, and the units that are 0 for every example.
_DEAD = '''
def count_dead_units(layer, x):
    a = layer(x)
    return int(ops.sum(ops.cast(ops.all(a == 0, axis=0), "int32")))
'''
_DEAD_NUMPY = '''
def count_dead_units(layer, x):
    out = np.asarray(layer(x))
    return int(np.sum(out.max(axis=0) <= 0))
'''

DEAD = [
    change("count_dead_units", "counts 'almost dead' units (mean activation < 1e-3)", False, _DEAD,
           ("ops.all(a == 0, axis=0)", "ops.mean(a, axis=0) < 1e-3")),
    Variant("count_dead_units", "judges from the weights only (all weights <= 0)", False, '''
def count_dead_units(layer, x):
    return int(ops.sum(ops.cast(ops.all(layer.kernel <= 0, axis=0), "int32")))
'''),
    change("count_dead_units", "looks at the first example only", False, _DEAD,
           ("ops.all(a == 0, axis=0)", "a[0] <= 0")),
    Variant("count_dead_units", "forgets the bias (x @ kernel)", False, '''
def count_dead_units(layer, x):
    z = ops.matmul(x, layer.kernel)
    return int(ops.sum(ops.cast(ops.all(z <= 0, axis=0), "int32")))
'''),
    Variant("count_dead_units", "relu(x W) + b instead of relu(x W + b)", False, '''
def count_dead_units(layer, x):
    a = ops.relu(ops.matmul(x, layer.kernel)) + layer.bias
    return int(ops.sum(ops.cast(ops.all(a <= 0, axis=0), "int32")))
'''),
    change("count_dead_units", "dead if the summed activation is below 0.05", False, _DEAD,
           ("ops.all(a == 0, axis=0)", "ops.sum(a, axis=0) < 0.05")),
    change("count_dead_units", "counts zero entries, not units" + VISIBLE, False, _DEAD,
           ("ops.all(a == 0, axis=0)", "a == 0")),
    change("count_dead_units", "reduces over the units axis" + VISIBLE, False, _DEAD, ("axis=0", "axis=1")),
    change("count_dead_units", "returns a NumPy integer where the contract says a Python int", False, _DEAD_NUMPY,
           ("return int(np.sum(out.max(axis=0) <= 0))", "return np.sum(out.max(axis=0) <= 0)")),
    Variant("count_dead_units", "correct: NumPy on the layer's outputs", True, _DEAD_NUMPY),
    Variant("count_dead_units", "correct: recomputes relu(x W + b) from the weights", True, '''
def count_dead_units(layer, x):
    kernel, bias = layer.get_weights()
    z = np.asarray(x) @ kernel + bias
    return int(np.count_nonzero(np.all(z <= 0, axis=0)))
'''),
    Variant("count_dead_units", "correct: summed activation == 0", True, '''
def count_dead_units(layer, x):
    total = ops.sum(layer(x), axis=0)
    return int(ops.sum(ops.cast(total == 0, "int32")))
'''),
]

# ----------------------------------------------------------------------------- relu_family

_RELU = '''
def relu(x):
    x = ops.convert_to_tensor(x)
    return ops.maximum(x, ops.zeros_like(x))
'''
_LEAKY = '''
def leaky_relu(x, negative_slope=0.01):
    x = ops.convert_to_tensor(x)
    return ops.where(x >= 0, x, negative_slope * x)
'''
_ELU = '''
def elu(x, alpha=1.0):
    x = ops.convert_to_tensor(x)
    negative_part = alpha * (ops.exp(ops.minimum(x, ops.zeros_like(x))) - 1)
    return ops.where(x > 0, x, negative_part)
'''
_MAXOUT = '''
def maxout(x, pieces):
    x = ops.convert_to_tensor(x)
    features = x.shape[-1]
    if features % pieces:
        raise ValueError("features must be a multiple of pieces")
    grouped = ops.reshape(x, tuple(ops.shape(x)[:-1]) + (features // pieces, pieces))
    return ops.max(grouped, axis=-1)
'''


def _family(relu=_RELU, leaky=_LEAKY, elu=_ELU, maxout=_MAXOUT) -> str:
    return _cell(relu, leaky, elu, maxout)


RELU = [
    Variant("relu_family", "relu uses keras.ops.relu", False, _family(relu='''
def relu(x):
    return ops.relu(x)
''')),
    Variant("relu_family", "relu uses the built-in under another name (tf.nn.relu as rectify)", False, _family(relu='''
from tensorflow.nn import relu as rectify

def relu(x):
    return rectify(x)
''')),
    Variant("relu_family", "relu in NumPy", False, _family(relu='''
def relu(x):
    return np.maximum(np.asarray(x), 0)
''')),
    Variant("relu_family", "relu as (x + sqrt(x * x)) / 2: NaN gradient at 0", False, _family(relu='''
def relu(x):
    return (x + ops.sqrt(x * x)) / 2
''')),
    Variant("relu_family", "relu casts to float32", False, _family(relu='''
def relu(x):
    x = ops.cast(x, "float32")
    return ops.maximum(x, 0.0)
''')),
    Variant("relu_family", "leaky_relu uses keras.ops.leaky_relu", False, _family(leaky='''
def leaky_relu(x, negative_slope=0.01):
    return ops.leaky_relu(x, negative_slope=negative_slope)
''')),
    Variant("relu_family", "elu: where(x > 0, x, alpha (exp(x) - 1)): NaN gradient for large x", False, _family(elu='''
def elu(x, alpha=1.0):
    return ops.where(x > 0, x, alpha * (ops.exp(x) - 1))
''')),
    Variant("relu_family", "elu ignores alpha", False, _family(elu='''
def elu(x, alpha=1.0):
    x = ops.convert_to_tensor(x)
    return ops.where(x > 0, x, ops.exp(ops.minimum(x, 0.0)) - 1)
''')),
    Variant("relu_family", "elu: alpha * exp(x) - 1 (misplaced parenthesis)", False, _family(elu='''
def elu(x, alpha=1.0):
    x = ops.convert_to_tensor(x)
    return ops.where(x > 0, x, alpha * ops.exp(ops.minimum(x, 0.0)) - 1)
''')),
    Variant("relu_family", "elu uses keras.ops.elu", False, _family(elu='''
def elu(x, alpha=1.0):
    return ops.elu(x, alpha=alpha)
''')),
    Variant("relu_family", "maxout without the ValueError (reshape fails differently)", False, _family(maxout='''
def maxout(x, pieces):
    x = ops.convert_to_tensor(x)
    grouped = ops.reshape(x, tuple(ops.shape(x)[:-1]) + (-1, pieces))
    return ops.max(grouped, axis=-1)
''')),
    Variant("relu_family", "maxout only for rank-2 input", False, _family(maxout='''
def maxout(x, pieces):
    if x.shape[-1] % pieces:
        raise ValueError("features must be a multiple of pieces")
    grouped = ops.reshape(x, (x.shape[0], x.shape[1] // pieces, pieces))
    return ops.max(grouped, axis=-1)
''')),
    Variant("relu_family", "maxout over strided groups instead of consecutive ones" + VISIBLE, False, _family(maxout='''
def maxout(x, pieces):
    x = ops.convert_to_tensor(x)
    k = x.shape[-1] // pieces
    if x.shape[-1] % pieces:
        raise ValueError("features must be a multiple of pieces")
    grouped = ops.reshape(x, tuple(ops.shape(x)[:-1]) + (pieces, k))
    return ops.max(grouped, axis=-2)
''')),
    Variant("relu_family", "leaky_relu ignores negative_slope" + VISIBLE, False, _family(leaky='''
def leaky_relu(x, negative_slope=0.01):
    return ops.where(x >= 0, x, 0.01 * x)
''')),
    Variant("relu_family", "correct: (x + |x|) / 2, max(x, a x), expm1, stacked slices", True, _family(relu='''
def relu(x):
    return (x + ops.abs(x)) / 2
''', leaky='''
def leaky_relu(x, negative_slope=0.01):
    return ops.maximum(x, negative_slope * x)
''', elu='''
def elu(x, alpha=1.0):
    x = ops.convert_to_tensor(x)
    return ops.where(x > 0, x, alpha * ops.expm1(ops.minimum(x, 0.0)))
''', maxout='''
def maxout(x, pieces):
    features = x.shape[-1]
    if features % pieces != 0:
        raise ValueError(f"{features} is not a multiple of {pieces}")
    groups = [ops.max(x[..., j:j + pieces], axis=-1) for j in range(0, features, pieces)]
    return ops.stack(groups, axis=-1)
''')),
    Variant("relu_family", "correct: tf.* functions", True, _family(relu='''
def relu(x):
    x = tf.convert_to_tensor(x)
    return tf.where(x > 0, x, tf.zeros_like(x))
''', leaky='''
def leaky_relu(x, negative_slope=0.01):
    x = tf.convert_to_tensor(x)
    return tf.where(x < 0, negative_slope * x, x)
''', elu='''
def elu(x, alpha=1.0):
    x = tf.convert_to_tensor(x)
    safe = tf.where(x > 0, tf.zeros_like(x), x)
    return tf.where(x > 0, x, alpha * (tf.exp(safe) - 1))
''', maxout='''
def maxout(x, pieces):
    x = tf.convert_to_tensor(x)
    if x.shape[-1] % pieces:
        raise ValueError("last axis not divisible by pieces")
    new_shape = tf.concat([tf.shape(x)[:-1], [x.shape[-1] // pieces, pieces]], axis=0)
    return tf.reduce_max(tf.reshape(x, new_shape), axis=-1)
''')),
]

# ----------------------------------------------------------------------------- smooth_activations

_SWISH = '''
def swish(x):
    x = ops.convert_to_tensor(x)
    return x * sigmoid(x)
'''
_GELU = '''
def gelu(x):
    x = ops.convert_to_tensor(x)
    return 0.5 * x * (1 + ops.erf(x / math.sqrt(2.0)))
'''
_MISH = '''
def mish(x):
    x = ops.convert_to_tensor(x)
    softplus = ops.maximum(x, ops.zeros_like(x)) + ops.log1p(ops.exp(-ops.abs(x)))
    return x * ops.tanh(softplus)
'''


def _smooth(swish=_SWISH, gelu=_GELU, mish=_MISH) -> str:
    return _cell(swish, gelu, mish)


SMOOTH = [
    Variant("smooth_activations", "swish uses keras.ops.silu", False, _smooth(swish='''
def swish(x):
    return ops.silu(x)
''')),
    Variant("smooth_activations", "swish with an inline naive sigmoid: NaN gradient", False, _smooth(swish='''
def swish(x):
    return x / (1 + ops.exp(-x))
''')),
    Variant("smooth_activations", "gelu uses keras.ops.gelu(approximate=False)", False, _smooth(gelu='''
def gelu(x):
    return ops.gelu(x, approximate=False)
''')),
    Variant("smooth_activations", "gelu divides by ops.sqrt(2.0) (float64 input breaks)", False, _smooth(gelu='''
def gelu(x):
    x = tf.convert_to_tensor(x)
    return 0.5 * x * (1 + tf.math.erf(x / tf.sqrt(2.0)))
''')),
    Variant("smooth_activations", "gelu with math.erf through NumPy", False, _smooth(gelu='''
def gelu(x):
    x = np.asarray(x)
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
''')),
    Variant("smooth_activations", "mish with a naive softplus log(1 + e^x): NaN gradient", False, _smooth(mish='''
def mish(x):
    return x * ops.tanh(ops.log(1 + ops.exp(x)))
''')),
    Variant("smooth_activations", "mish uses keras.ops.softplus", False, _smooth(mish='''
def mish(x):
    return x * ops.tanh(ops.softplus(x))
''')),
    Variant("smooth_activations", "mish uses keras.activations.mish", False, _smooth(mish='''
def mish(x):
    return keras.activations.mish(x)
''')),
    Variant("smooth_activations", "swish casts to float32", False, _smooth(swish='''
def swish(x):
    x = ops.cast(x, "float32")
    return x * sigmoid(x)
''')),
    Variant("smooth_activations", "gelu with the tanh approximation" + VISIBLE, False, _smooth(gelu='''
def gelu(x):
    return 0.5 * x * (1 + ops.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
''')),
    Variant("smooth_activations", "correct: ops.multiply, erfc form of GELU, logaddexp softplus", True, _smooth(swish='''
def swish(x):
    return ops.multiply(x, sigmoid(x))
''', gelu='''
def gelu(x):
    x = tf.convert_to_tensor(x)
    return 0.5 * x * tf.math.erfc(-x / math.sqrt(2.0))
''', mish='''
def mish(x):
    x = ops.convert_to_tensor(x)
    return x * ops.tanh(ops.logaddexp(x, ops.zeros_like(x)))
''')),
    Variant("smooth_activations", "correct: dtype-cast constants, softplus with a clamp at 20", True, _smooth(gelu='''
def gelu(x):
    x = ops.convert_to_tensor(x)
    root2 = ops.cast(ops.sqrt(2.0), x.dtype)
    return x * (1 + ops.erf(x / root2)) / 2
''', mish='''
def mish(x):
    x = ops.convert_to_tensor(x)
    clamped = ops.minimum(x, 20.0)
    softplus = ops.where(x > 20.0, x, ops.log1p(ops.exp(clamped)))
    return x * ops.tanh(softplus)
''')),
]

# ----------------------------------------------------------------------------- prelu_layer

_PRELU_INIT = '''
    def __init__(self, initial_slope=0.25, **kwargs):
        super().__init__(**kwargs)
        self.initial_slope = initial_slope
'''
_PRELU_BUILD = '''
    def build(self, input_shape):
        self.slope = self.add_weight(
            name="slope",
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.initial_slope),
            trainable=True,
        )
'''
_PRELU_CALL = '''
    def call(self, inputs):
        zeros = ops.zeros_like(inputs)
        return ops.maximum(inputs, zeros) + self.slope * ops.minimum(inputs, zeros)
'''
_PRELU_CONFIG = '''
    def get_config(self):
        return {**super().get_config(), "initial_slope": self.initial_slope}
'''
_REGISTER = '@keras.saving.register_keras_serializable(package="course")\n'


def _prelu(init=_PRELU_INIT, build=_PRELU_BUILD, call=_PRELU_CALL, config=_PRELU_CONFIG,
           register=_REGISTER, base="keras.layers.Layer") -> str:
    return (f"{register}class PReLU({base}):\n" + init.rstrip("\n") + "\n" + build.rstrip("\n") + "\n"
            + call.rstrip("\n") + "\n" + config)


PRELU = [
    Variant("prelu_layer", "not registered for serialisation", False, _prelu(register="")),
    Variant("prelu_layer", "slope shaped like input_shape[1:] (one per position, not per feature)", False,
            _prelu(build='''
    def build(self, input_shape):
        self.slope = self.add_weight(name="slope", shape=tuple(input_shape[1:]),
                                     initializer=keras.initializers.Constant(self.initial_slope))
''')),
    Variant("prelu_layer", "slope sized by input_shape[1] instead of the last axis", False, _prelu(build='''
    def build(self, input_shape):
        self.slope = self.add_weight(name="slope", shape=(input_shape[1],),
                                     initializer=keras.initializers.Constant(self.initial_slope))
''')),
    Variant("prelu_layer", "slope read as a NumPy constant in call (no gradient)", False, _prelu(call='''
    def call(self, inputs):
        slope = ops.convert_to_numpy(self.slope)
        return ops.maximum(inputs, 0.0) + slope * ops.minimum(inputs, 0.0)
''')),
    Variant("prelu_layer", "get_config without super(): the name is lost", False, _prelu(config='''
    def get_config(self):
        return {"initial_slope": self.initial_slope}
''')),
    Variant("prelu_layer", "subclasses the built-in keras.layers.PReLU", False, '''
@keras.saving.register_keras_serializable(package="course")
class PReLU(keras.layers.PReLU):
    def __init__(self, initial_slope=0.25, **kwargs):
        kwargs.pop("alpha_initializer", None)
        super().__init__(alpha_initializer=keras.initializers.Constant(initial_slope), **kwargs)
        self.initial_slope = initial_slope

    def get_config(self):
        config = super().get_config()
        config.pop("alpha_initializer", None)
        return {**config, "initial_slope": self.initial_slope}
'''),
    Variant("prelu_layer", "dtype argument overridden: slope and output always float32", False, _prelu(
        init='''
    def __init__(self, initial_slope=0.25, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(dtype="float32", **kwargs)
        self.initial_slope = initial_slope
''')),
    Variant("prelu_layer", "one scalar slope shared by all features" + VISIBLE, False, _prelu(build='''
    def build(self, input_shape):
        self.slope = self.add_weight(name="slope", shape=(),
                                     initializer=keras.initializers.Constant(self.initial_slope))
''')),
    Variant("prelu_layer", "slope not trainable" + VISIBLE, False, _prelu(build='''
    def build(self, input_shape):
        self.slope = self.add_weight(name="slope", shape=(input_shape[-1],), trainable=False,
                                     initializer=keras.initializers.Constant(self.initial_slope))
''')),
    Variant("prelu_layer", "correct: no get_config (Keras 3 records the constructor arguments)", True,
            _prelu(config="")),
    Variant("prelu_layer", "correct: where(), string initializer, another package name", True, _prelu(
        register='@keras.saving.register_keras_serializable(package="my_layers", name="PReLU")\n',
        build='''
    def build(self, input_shape):
        features = input_shape[-1]
        self.slope = self.add_weight(shape=(features,), name="slope",
                                     initializer=keras.initializers.Constant(value=self.initial_slope))
''', call='''
    def call(self, x):
        return ops.where(x > 0, x, self.slope * x)
''', config='''
    def get_config(self):
        config = super().get_config()
        config.update({"initial_slope": self.initial_slope})
        return config
''')),
    Variant("prelu_layer", "correct: relu(x) - a * relu(-x)", True, _prelu(call='''
    def call(self, inputs):
        return ops.relu(inputs) - self.slope * ops.relu(-inputs)
''')),
]

# ----------------------------------------------------------------------------- softmax


_SOFTMAX = '''
def softmax(logits, temperature=1.0, axis=-1):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = logits / temperature
    e = ops.exp(z - ops.max(z, axis=axis, keepdims=True))
    return e / ops.sum(e, axis=axis, keepdims=True)
'''

SOFTMAX = [
    change("softmax", "subtracts the global max, not the max along the axis", False, _SOFTMAX,
           ("ops.max(z, axis=axis, keepdims=True)", "ops.max(z)")),
    change("softmax", "max without keepdims", False, _SOFTMAX,
           ("ops.max(z, axis=axis, keepdims=True)", "ops.max(z, axis=axis)")),
    change("softmax", "sum without keepdims", False, _SOFTMAX,
           ("ops.sum(e, axis=axis, keepdims=True)", "ops.sum(e, axis=axis)")),
    Variant("softmax", "uses keras.ops.softmax", False, '''
def softmax(logits, temperature=1.0, axis=-1):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    return ops.softmax(logits / temperature, axis=axis)
'''),
    change("softmax", "ignores the axis argument (always the last axis)", False, _SOFTMAX,
           ("ops.max(z, axis=axis,", "ops.max(z, axis=-1,"), ("ops.sum(e, axis=axis,", "ops.sum(e, axis=-1,")),
    change("softmax", "no ValueError for temperature <= 0", False, _SOFTMAX,
           ('    if temperature <= 0:\n        raise ValueError("temperature must be positive")\n', "")),
    change("softmax", "temperature < 0 check lets 0 through", False, _SOFTMAX,
           ("if temperature <= 0:", "if temperature < 0:")),
    Variant("softmax", "NumPy implementation", False, '''
def softmax(logits, temperature=1.0, axis=-1):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = np.asarray(logits) / temperature
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
'''),
    change("softmax", "casts to float32", False, _SOFTMAX,
           ("z = logits / temperature", 'z = ops.cast(logits, "float32") / temperature')),
    change("softmax", "no max subtraction" + VISIBLE, False, _SOFTMAX,
           ("    z = logits / temperature\n    e = ops.exp(z - ops.max(z, axis=axis, keepdims=True))\n",
            "    e = ops.exp(logits / temperature)\n")),
    change("softmax", "multiplies by the temperature" + VISIBLE, False, _SOFTMAX,
           ("logits / temperature", "logits * temperature")),
    Variant("softmax", "correct: exp(z - logsumexp(z))", True, '''
def softmax(logits, temperature=1.0, axis=-1):
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = ops.divide(logits, temperature)
    return ops.exp(z - ops.logsumexp(z, axis=axis, keepdims=True))
'''),
    Variant("softmax", "correct: tf.* ops, max subtracted before dividing by T", True, '''
def softmax(logits, temperature=1.0, axis=-1):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    logits = tf.convert_to_tensor(logits)
    shifted = (logits - tf.reduce_max(logits, axis=axis, keepdims=True)) / temperature
    e = tf.exp(shifted)
    return e / tf.reduce_sum(e, axis=axis, keepdims=True)
'''),
    Variant("softmax", "correct: move the axis last, compute, move it back", True, '''
def softmax(logits, temperature=1.0, axis=-1):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = ops.moveaxis(ops.convert_to_tensor(logits), axis, -1) / temperature
    z = z - ops.max(z, axis=-1, keepdims=True)
    p = ops.exp(z) / ops.sum(ops.exp(z), axis=-1, keepdims=True)
    return ops.moveaxis(p, -1, axis)
'''),
]

# ----------------------------------------------------------------------------- log_softmax
_LOG_SOFTMAX = '''
def log_softmax(logits, axis=-1):
    z = logits - ops.max(logits, axis=axis, keepdims=True)
    return z - ops.log(ops.sum(ops.exp(z), axis=axis, keepdims=True))
'''

LOG_SOFTMAX = [
    change("log_softmax", "max without keepdims", False, _LOG_SOFTMAX,
           ("ops.max(logits, axis=axis, keepdims=True)", "ops.max(logits, axis=axis)")),
    change("log_softmax", "subtracts the global max", False, _LOG_SOFTMAX,
           ("ops.max(logits, axis=axis, keepdims=True)", "ops.max(logits)")),
    change("log_softmax", "sums over every axis in the log-sum-exp", False, _LOG_SOFTMAX,
           ("ops.sum(ops.exp(z), axis=axis, keepdims=True)", "ops.sum(ops.exp(z))")),
    Variant("log_softmax", "uses keras.ops.log_softmax", False, '''
def log_softmax(logits, axis=-1):
    return ops.log_softmax(logits, axis=axis)
'''),
    change("log_softmax", "ignores the axis argument", False, _LOG_SOFTMAX,
           ("ops.max(logits, axis=axis,", "ops.max(logits, axis=-1,"),
           ("ops.exp(z), axis=axis,", "ops.exp(z), axis=-1,")),
    Variant("log_softmax", "NumPy implementation", False, '''
def log_softmax(logits, axis=-1):
    z = np.asarray(logits)
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
'''),
    change("log_softmax", "casts to float32", False, _LOG_SOFTMAX,
           ("    z = logits - ops.max(logits,", '    z = ops.cast(logits, "float32")\n    z = z - ops.max(z,')),
    Variant("log_softmax", "log of the softmax" + VISIBLE, False, '''
def log_softmax(logits, axis=-1):
    return ops.log(softmax(logits, axis=axis))
'''),
    Variant("log_softmax", "no max subtraction" + VISIBLE, False, '''
def log_softmax(logits, axis=-1):
    return logits - ops.log(ops.sum(ops.exp(logits), axis=axis, keepdims=True))
'''),
    Variant("log_softmax", "correct: z - logsumexp(z)", True, '''
def log_softmax(logits, axis=-1):
    return logits - ops.logsumexp(logits, axis=axis, keepdims=True)
'''),
    Variant("log_softmax", "correct: tf.* ops", True, '''
def log_softmax(logits, axis=-1):
    z = tf.convert_to_tensor(logits)
    z = z - tf.reduce_max(z, axis=axis, keepdims=True)
    return z - tf.math.log(tf.reduce_sum(tf.exp(z), axis=axis, keepdims=True))
'''),
]


# ----------------------------------------------------------------------------- bump_params

_BUMP = '''
def bump_params(left, right, height, steepness=100.0):
    w = 1.0 / steepness
    W1 = np.ones((1, 4), dtype=np.float32)
    b1 = np.array([w - left, -left, -right, -right - w], dtype=np.float32)
    W2 = (height * steepness * np.array([[1.0], [-1.0], [-1.0], [1.0]])).astype(np.float32)
    b2 = np.zeros(1, dtype=np.float32)
    return [(W1, b1), (W2, b2)]
'''

BUMP = [
    change("bump_params", "ramps inside [left, right] (the top shrinks by a ramp at each end)" + VISIBLE, False,
           _BUMP, ("[w - left, -left, -right, -right - w]", "[-left, -left - w, w - right, -right]")),
    change("bump_params", "a fixed ramp width of 0.01 (ignores steepness)", False, _BUMP,
           ("    w = 1.0 / steepness\n", "    w = 0.01\n    steepness = 100.0\n")),
    change("bump_params", "forgets to scale the output by steepness (the top is height / steepness)" + VISIBLE,
           False, _BUMP, ("height * steepness *", "height *")),
    change("bump_params", "the second layer's signs swapped (a dip for a bump)" + VISIBLE, False, _BUMP,
           ("[[1.0], [-1.0], [-1.0], [1.0]]", "[[-1.0], [1.0], [1.0], [-1.0]]")),
    change("bump_params", "biases of the wrong sign (the bump moves to -right..-left)" + VISIBLE, False, _BUMP,
           ("[w - left, -left, -right, -right - w]", "[left - w, left, right, right + w]")),
    change("bump_params", "the last unit missing: the output falls below 0 after the bump", False, _BUMP,
           ("[[1.0], [-1.0], [-1.0], [1.0]]", "[[1.0], [-1.0], [-1.0], [0.0]]")),
    change("bump_params", "ramps of width 1 / steepness centered on left and right", False, _BUMP,
           ("[w - left, -left, -right, -right - w]", "[w / 2 - left, -w / 2 - left, w / 2 - right, -right - w / 2]")),
    change("bump_params", "float64 weights (mlp_forward gets float32 inputs)", False, _BUMP,
           ("dtype=np.float32)\n    b1", "dtype=np.float64)\n    b1"), ("], dtype=np.float32)", "], dtype=np.float64)"),
           (".astype(np.float32)", ".astype(np.float64)"), ("np.zeros(1, dtype=np.float32)", "np.zeros(1, dtype=np.float64)")),
    Variant("bump_params", "returns a Keras model instead of the weights" + VISIBLE, False, '''
def bump_params(left, right, height, steepness=100.0):
    w = 1.0 / steepness
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    model.set_weights([np.ones((1, 4), np.float32), np.array([w - left, -left, -right, -right - w], np.float32),
                       (height * steepness * np.array([[1.0], [-1.0], [-1.0], [1.0]])).astype(np.float32),
                       np.zeros(1, np.float32)])
    return model
'''),
    Variant("bump_params", "correct: the slope inside the first layer, the units in another order, tensors", True, '''
def bump_params(left, right, height, steepness=100.0):
    s = float(steepness)
    starts = [right, left - 1.0 / s, right + 1.0 / s, left]
    signs = [-1.0, 1.0, 1.0, -1.0]
    W1 = tf.fill((1, 4), s)
    b1 = tf.constant([-s * a for a in starts], tf.float32)
    W2 = tf.constant([[height * g] for g in signs], tf.float32)
    return [(W1, b1), (W2, tf.zeros(1))]
'''),
    Variant("bump_params", "correct: two ramps built from a helper", True, '''
def _ramp(start, width):
    """relu(x - start) - relu(x - start - width): 0, then rising to width, then flat."""
    return [1.0, 1.0], [-start, -start - width], [1.0, -1.0]


def bump_params(left, right, height, steepness=100.0):
    width = 1.0 / steepness
    up, down = _ramp(left - width, width), _ramp(right, width)
    W1 = np.array([up[0] + down[0]], dtype="float32")
    b1 = np.array(up[1] + down[1], dtype="float32")
    W2 = np.array([[height / width * g] for g in up[2] + [-g for g in down[2]]], dtype="float32")
    return [(W1, b1), (W2, np.zeros((1,), dtype="float32"))]
'''),
]


VARIANTS = COLLAPSE + MLP + PARAMS + SIGMOID + TANH + SIGN + DEAD + RELU + SMOOTH + PRELU + SOFTMAX + LOG_SOFTMAX + BUMP
