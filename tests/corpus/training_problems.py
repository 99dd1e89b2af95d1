"""Strength corpus for assignment 6 (training problems).

Each variant replaces a whole solution cell. A variant that is a small change of a base cell
(the usual solution, without its docstrings) is written as that change with `change`; a variant
that is a different program is spelled out in full. Wrong variants are mistakes students really
make; correct variants are other valid ways to meet the contract and must keep full marks.
The cell's namespace already has math, np, tf, keras and ops from the setup cell.
"""
from dlcourse_grading.strength import Variant, change

VISIBLE = " (caught by visible tests too)"

# ----------------------------------------------------------------------------- gradient_norms

_NORMS = '''
def layer_gradient_norms(model, x, y, loss_fn):
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x))
    gradients = tape.gradient(loss, kernels)
    return [float(ops.sqrt(ops.sum(ops.square(g)))) for g in gradients]


def diagnose_gradients(norms, ratio=100.0):
    norms = [float(n) for n in norms]
    if any(math.isnan(n) or math.isinf(n) for n in norms):
        return "exploding"
    first, last = norms[0], norms[-1]
    if not any(norms):
        return "vanishing"
    if last == 0.0:
        return "exploding"
    r = first / last
    if r < 1.0 / ratio:
        return "vanishing"
    if r > ratio:
        return "exploding"
    return "healthy"
'''
_RETURN_NORMS = "    return [float(ops.sqrt(ops.sum(ops.square(g)))) for g in gradients]"

NORMS = [
    change("gradient_norms", "loss_fn(y_pred, y_true): the arguments swapped", False, _NORMS,
           ("loss = loss_fn(y, model(x))", "loss = loss_fn(model(x), y)")),
    change("gradient_norms", "the forward pass in training mode (dropout active)", False, _NORMS,
           ("loss_fn(y, model(x))", "loss_fn(y, model(x, training=True))")),
    change("gradient_norms", "each layer's norm counts its bias too" + VISIBLE, False, _NORMS,
           ("    kernels = [layer.kernel for layer in model.layers if isinstance(layer, keras.layers.Dense)]\n",
            "    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]\n"
            "    kernels = [[layer.kernel, layer.bias] for layer in dense]\n"),
           (_RETURN_NORMS, "    return [float(ops.sqrt(sum(ops.sum(ops.square(g)) for g in pair))) for pair in gradients]")),
    change("gradient_norms", "returns tensors, not Python floats" + VISIBLE, False, _NORMS,
           (_RETURN_NORMS, "    return [ops.sqrt(ops.sum(ops.square(g))) for g in gradients]")),
    change("gradient_norms", "the root mean square instead of the norm" + VISIBLE, False, _NORMS,
           (_RETURN_NORMS, "    return [float(ops.sqrt(ops.mean(ops.square(g)))) for g in gradients]")),
    change("gradient_norms", "the output layer first" + VISIBLE, False, _NORMS,
           (_RETURN_NORMS, "    return [float(ops.sqrt(ops.sum(ops.square(g)))) for g in gradients][::-1]")),
    change("gradient_norms", "the thresholds themselves count as vanishing and exploding", False, _NORMS,
           ("if r < 1.0 / ratio:", "if r <= 1.0 / ratio:"), ("if r > ratio:", "if r >= ratio:")),
    change("gradient_norms", "ratio ignored (always 100)" + VISIBLE, False, _NORMS,
           ("if r < 1.0 / ratio:", "if r < 0.01:"), ("if r > ratio:", "if r > 100.0:")),
    change("gradient_norms", "the ratio upside down (last over first)" + VISIBLE, False, _NORMS,
           ("r = first / last", "r = last / first")),
    change("gradient_norms", "NaN not treated (a NaN comparison is never true)" + VISIBLE, False, _NORMS,
           ("    if any(math.isnan(n) or math.isinf(n) for n in norms):\n        return \"exploding\"\n", "")),
    change("gradient_norms", "zero norms divide by zero", False, _NORMS,
           ('    if not any(norms):\n        return "vanishing"\n    if last == 0.0:\n        return "exploding"\n', "")),
    change("gradient_norms", "the first layer against the largest norm" + VISIBLE, False, _NORMS,
           ("r = first / last", "r = first / max(norms)")),
    Variant("gradient_norms", "correct: NumPy norms, a cross-multiplied diagnosis", True, '''
def layer_gradient_norms(model, x, y, loss_fn):
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    with tf.GradientTape(persistent=True) as tape:
        loss = loss_fn(y, model(x))
    norms = [float(np.linalg.norm(tape.gradient(loss, layer.kernel).numpy())) for layer in dense]
    del tape
    return norms


def diagnose_gradients(norms, ratio=100.0):
    first, last = float(norms[0]), float(norms[-1])
    if not all(math.isfinite(float(n)) for n in norms):
        return "exploding"
    if first == 0.0 and last == 0.0:
        return "vanishing"
    if first * ratio < last:
        return "vanishing"
    if first > last * ratio:
        return "exploding"
    return "healthy"
'''),
    change("gradient_norms", "correct: tf.norm and a list of kernels from trainable_weights", True, _NORMS,
           ("    kernels = [layer.kernel for layer in model.layers if isinstance(layer, keras.layers.Dense)]",
            "    kernels = [l.trainable_weights[0] for l in model.layers if isinstance(l, keras.layers.Dense)]"),
           (_RETURN_NORMS, "    return [float(tf.norm(g)) for g in gradients]")),
]

# ----------------------------------------------------------------------------- initializers

_INIT = '''
def fans(shape):
    shape = tuple(int(d) for d in shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class GlorotUniform(keras.initializers.Initializer):
    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = fans(shape)
        limit = math.sqrt(3.0 * 2.0 / (fan_in + fan_out))
        return keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotNormal(keras.initializers.Initializer):
    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = fans(shape)
        stddev = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978
        return keras.random.truncated_normal(shape, stddev=stddev, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"seed": self.seed}


class HeUniform(keras.initializers.Initializer):
    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, _ = fans(shape)
        limit = math.sqrt(3.0 * 2.0 / fan_in)
        return keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"seed": self.seed}


class HeNormal(keras.initializers.Initializer):
    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, _ = fans(shape)
        stddev = math.sqrt(2.0 / fan_in) / 0.87962566103423978
        return keras.random.truncated_normal(shape, stddev=stddev, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"seed": self.seed}
'''

INITIALIZERS = [
    change("initializers", "Glorot uniform with He's variance 2 / fan_in" + VISIBLE, False, _INIT,
           ("        limit = math.sqrt(3.0 * 2.0 / (fan_in + fan_out))", "        limit = math.sqrt(3.0 * 2.0 / fan_in)")),
    change("initializers", "He normal without the truncation correction" + VISIBLE, False, _INIT,
           ("stddev = math.sqrt(2.0 / fan_in) / 0.87962566103423978", "stddev = math.sqrt(2.0 / fan_in)")),
    change("initializers", "Glorot normal untruncated", False, _INIT,
           ("        stddev = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978\n"
            "        return keras.random.truncated_normal(",
            "        stddev = math.sqrt(2.0 / (fan_in + fan_out))\n        return keras.random.normal(")),
    change("initializers", "He uniform's limit sqrt(variance), not sqrt(3 variance)", False, _INIT,
           ("        limit = math.sqrt(3.0 * 2.0 / fan_in)", "        limit = math.sqrt(2.0 / fan_in)")),
    change("initializers", "fans without the receptive field" + VISIBLE, False, _INIT,
           ("    return shape[-2] * receptive_field, shape[-1] * receptive_field", "    return shape[-2], shape[-1]")),
    Variant("initializers", "the seed is never passed to keras.random" + VISIBLE, False,
            _INIT.replace(", seed=self.seed)", ")")),
    change("initializers", "He uniform ignores dtype", False, _INIT,
           ("        limit = math.sqrt(3.0 * 2.0 / fan_in)\n"
            "        return keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=self.seed)",
            "        limit = math.sqrt(3.0 * 2.0 / fan_in)\n"
            "        return keras.random.uniform(shape, minval=-limit, maxval=limit, seed=self.seed)")),
    change("initializers", "fans as NumPy numbers (np.prod)", False, _INIT,
           ("receptive_field = math.prod(shape[:-2])", "receptive_field = np.prod(shape[:-2])")),
    change("initializers", "a scalar's fans are 0", False, _INIT, ("    if not shape:\n        return 1, 1", "    if not shape:\n        return 0, 0")),
    change("initializers", "get_config returns nothing of the seed" + VISIBLE, False, _INIT,
           ('''        return {"seed": self.seed}


class HeUniform''', '''        return {}


class HeUniform'''), ),
    Variant("initializers", "subclasses Keras' own initializers", False, _INIT.split("class GlorotUniform")[0] + '''
class GlorotUniform(keras.initializers.GlorotUniform):
    pass


class GlorotNormal(keras.initializers.GlorotNormal):
    pass


class HeUniform(keras.initializers.HeUniform):
    pass


class HeNormal(keras.initializers.HeNormal):
    pass
'''),
    Variant("initializers", "correct: one variance-scaling base class", True, '''
def fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    field = 1
    for size in shape[:-2]:
        field *= int(size)
    return int(shape[-2]) * field, int(shape[-1]) * field


class _Scaled(keras.initializers.Initializer):
    average_fans, uniform = True, True

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = fans(shape)
        variance = 2.0 / ((fan_in + fan_out) if self.average_fans else fan_in)
        if self.uniform:
            unit = keras.random.uniform(shape, dtype=dtype, seed=self.seed)
            return (2.0 * unit - 1.0) * math.sqrt(3.0 * variance)
        return keras.random.truncated_normal(shape, mean=0.0, stddev=math.sqrt(variance) / 0.87962566103423978,
                                             dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_Scaled):
    pass


class GlorotNormal(_Scaled):
    uniform = False


class HeUniform(_Scaled):
    average_fans = False


class HeNormal(_Scaled):
    average_fans, uniform = False, False
'''),
    change("initializers", "correct: the variance written as 6 / (fan_in + fan_out) under the root", True, _INIT,
           ("        limit = math.sqrt(3.0 * 2.0 / (fan_in + fan_out))", "        limit = (6.0 / (fan_in + fan_out)) ** 0.5")),
]

# ----------------------------------------------------------------------------- activation_variances

_VAR = '''
def activation_variances(kernel_initializer, activation, depth, width=128, batch=256, seed=0):
    h = tf.constant(np.random.default_rng(seed).normal(size=(batch, width)).astype("float32"))
    variances = []
    for _ in range(depth):
        h = keras.layers.Dense(width, activation=activation, kernel_initializer=kernel_initializer)(h)
        variances.append(np.var(h.numpy().astype(np.float64)))
    return np.array(variances)
'''
_DENSE = "        h = keras.layers.Dense(width, activation=activation, kernel_initializer=kernel_initializer)(h)"

VARIANCES = [
    change("activation_variances", "the variance before the activation", False, _VAR,
           (_DENSE + "\n        variances.append(np.var(h.numpy().astype(np.float64)))",
            "        z = keras.layers.Dense(width, kernel_initializer=kernel_initializer)(h)\n"
            "        variances.append(np.var(z.numpy().astype(np.float64)))\n"
            "        h = keras.activations.get(activation)(z)")),
    change("activation_variances", "float32 variances" + VISIBLE, False, _VAR,
           ("np.var(h.numpy().astype(np.float64))", "np.var(h.numpy())")),
    change("activation_variances", "unseeded inputs", False, _VAR,
           ("np.random.default_rng(seed).normal", "np.random.default_rng().normal")),
    change("activation_variances", "width fixed at 128", False, _VAR,
           ("size=(batch, width)", "size=(batch, 128)"), ("Dense(width,", "Dense(128,")),
    change("activation_variances", "the mean of each unit's variance over the batch", False, _VAR,
           ("np.var(h.numpy().astype(np.float64))", "np.var(h.numpy().astype(np.float64), axis=0).mean()")),
    change("activation_variances", "the standard deviation instead of the variance", False, _VAR,
           ("np.var(h.numpy().astype(np.float64))", "np.std(h.numpy().astype(np.float64))")),
    change("activation_variances", "the input's variance first, the last layer's missing", False, _VAR,
           ("    variances = []\n    for _ in range(depth):", "    variances = [np.var(h.numpy().astype(np.float64))]\n"
                                                         "    for _ in range(depth - 1):")),
    change("activation_variances", "He initialization whatever the argument" + VISIBLE, False, _VAR,
           ("kernel_initializer=kernel_initializer", 'kernel_initializer="he_normal"')),
    Variant("activation_variances", "correct: NumPy matrix products with the initializer's draws", True, '''
def activation_variances(kernel_initializer, activation, depth, width=128, batch=256, seed=0):
    act = keras.activations.get(activation)
    h = np.random.default_rng(seed).normal(size=(batch, width)).astype("float32")
    out = np.empty(depth)
    for layer in range(depth):
        w = np.asarray(kernel_initializer((width, width), dtype="float32"))
        h = np.asarray(act(tf.constant(h @ w)))
        out[layer] = h.astype(np.float64).var()
    return out
'''),
    change("activation_variances", "correct: tf.math.reduce_variance in float64", True, _VAR,
           ("np.var(h.numpy().astype(np.float64))", "float(tf.math.reduce_variance(tf.cast(h, tf.float64)))")),
]

# ----------------------------------------------------------------------------- clipping

_CLIP = '''
def clip_by_value(gradients, clip_value):
    if not isinstance(gradients, list):
        return ops.clip(gradients, -clip_value, clip_value)
    return [None if g is None else ops.clip(g, -clip_value, clip_value) for g in gradients]


def clip_by_norm(gradients, clip_norm):
    def clip(g):
        return g * clip_norm / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), clip_norm)

    if not isinstance(gradients, list):
        return clip(gradients)
    return [None if g is None else clip(g) for g in gradients]


def clip_by_global_norm(gradients, clip_norm):
    present = [g for g in gradients if g is not None]
    global_norm = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(g)) for g in present])))
    scale = ops.where(ops.isfinite(global_norm), clip_norm / ops.maximum(global_norm, clip_norm), float("nan"))
    return [None if g is None else g * ops.cast(scale, g.dtype) for g in gradients], global_norm
'''

CLIPPING = [
    change("clipping", "by norm scales small tensors up too" + VISIBLE, False, _CLIP,
           ("return g * clip_norm / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), clip_norm)",
            "return g * clip_norm / ops.sqrt(ops.sum(ops.square(g)))")),
    change("clipping", "the global norm as the sum of the norms" + VISIBLE, False, _CLIP,
           ("global_norm = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(g)) for g in present])))",
            "global_norm = ops.sum(ops.stack([ops.sqrt(ops.sum(ops.square(g))) for g in present]))")),
    change("clipping", "global clipping tensor by tensor" + VISIBLE, False, _CLIP,
           ("    return [None if g is None else g * ops.cast(scale, g.dtype) for g in gradients], global_norm",
            "    return clip_by_norm(gradients, clip_norm), global_norm")),
    change("clipping", "None entries dropped" + VISIBLE, False, _CLIP,
           ("    return [None if g is None else ops.clip(g, -clip_value, clip_value) for g in gradients]",
            "    return [ops.clip(g, -clip_value, clip_value) for g in gradients if g is not None]")),
    change("clipping", "by value iterates over a single tensor's rows", False, _CLIP,
           ("    if not isinstance(gradients, list):\n        return ops.clip(gradients, -clip_value, clip_value)\n", "")),
    change("clipping", "a non-finite global norm clips everything to zero", False, _CLIP,
           ('scale = ops.where(ops.isfinite(global_norm), clip_norm / ops.maximum(global_norm, clip_norm), float("nan"))',
            "scale = clip_norm / ops.maximum(global_norm, clip_norm)")),
    change("clipping", "by value with an upper bound only" + VISIBLE, False, _CLIP,
           ("[None if g is None else ops.clip(g, -clip_value, clip_value) for g in gradients]",
            "[None if g is None else ops.minimum(g, clip_value) for g in gradients]")),
    change("clipping", "the global norm as a Python float", False, _CLIP,
           ("for g in gradients], global_norm", "for g in gradients], float(global_norm)")),
    change("clipping", "calls tf.clip_by_global_norm", False, _CLIP,
           ("    present = [g for g in gradients if g is not None]\n", "    return tf.clip_by_global_norm(gradients, clip_norm)\n")),
    change("clipping", "by norm in float32 whatever the gradient's dtype", False, _CLIP,
           ("        return g * clip_norm / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), clip_norm)",
            '        g32 = ops.cast(g, "float32")\n'
            "        return g32 * clip_norm / ops.maximum(ops.sqrt(ops.sum(ops.square(g32))), clip_norm)")),
    Variant("clipping", "correct: tf.norm, tf.maximum and a where for small tensors", True, '''
def clip_by_value(gradients, clip_value):
    def clip(g):
        return tf.maximum(tf.minimum(g, clip_value), -clip_value)
    return [None if g is None else clip(g) for g in gradients] if isinstance(gradients, list) else clip(gradients)


def clip_by_norm(gradients, clip_norm):
    def clip(g):
        norm = tf.norm(g)
        return tf.where(norm > clip_norm, g * (clip_norm / norm), g)
    return [None if g is None else clip(g) for g in gradients] if isinstance(gradients, list) else clip(gradients)


def clip_by_global_norm(gradients, clip_norm):
    squares = [tf.reduce_sum(g * g) for g in gradients if g is not None]
    global_norm = tf.sqrt(tf.add_n(squares))
    if not bool(tf.math.is_finite(global_norm)):
        return [None if g is None else g * np.nan for g in gradients], global_norm
    factor = clip_norm / tf.maximum(global_norm, clip_norm)
    return [None if g is None else g * tf.cast(factor, g.dtype) for g in gradients], global_norm
'''),
    change("clipping", "correct: ops.minimum for the scale", True, _CLIP,
           ("return g * clip_norm / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), clip_norm)",
            "return g * ops.minimum(1.0, clip_norm / ops.sqrt(ops.sum(ops.square(g))))")),
]

# ----------------------------------------------------------------------------- batch_norm

_BN = '''
@keras.saving.register_keras_serializable(package="course")
class BatchNorm(keras.layers.Layer):
    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def build(self, input_shape):
        rank = len(input_shape)
        axis = self.axis % rank
        features = (input_shape[axis],)
        self.gamma = self.add_weight(shape=features, initializer="ones", name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=features, initializer="zeros", name="beta") if self.center else None
        self.moving_mean = self.add_weight(shape=features, initializer="zeros", trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape=features, initializer="ones", trainable=False,
                                               name="moving_variance")
        self._reduction_axes = [i for i in range(rank) if i != axis]
        self._broadcast_shape = [input_shape[axis] if i == axis else 1 for i in range(rank)]

    def call(self, inputs, training=False):
        if training:
            mean = ops.mean(inputs, axis=self._reduction_axes)
            variance = ops.var(inputs, axis=self._reduction_axes)
            self.moving_mean.assign(self.momentum * self.moving_mean + (1.0 - self.momentum) * mean)
            self.moving_variance.assign(self.momentum * self.moving_variance + (1.0 - self.momentum) * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        shape = self._broadcast_shape
        out = (inputs - ops.reshape(mean, shape)) / ops.sqrt(ops.reshape(variance, shape) + self.epsilon)
        if self.gamma is not None:
            out = out * ops.reshape(self.gamma, shape)
        if self.beta is not None:
            out = out + ops.reshape(self.beta, shape)
        return out

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}
'''
_VARIANCE = "            variance = ops.var(inputs, axis=self._reduction_axes)"

BATCH_NORM = [
    change("batch_norm", "the unbiased (N - 1) batch variance" + VISIBLE, False, _BN,
           (_VARIANCE, _VARIANCE + "\n            count = math.prod(inputs.shape[i] for i in self._reduction_axes)\n"
                                   "            variance = variance * count / (count - 1)")),
    change("batch_norm", "batch statistics at inference too" + VISIBLE, False, _BN,
           ("        if training:\n", "        if True:\n")),
    change("batch_norm", "the running average's weights swapped" + VISIBLE, False, _BN,
           ("self.momentum * self.moving_mean + (1.0 - self.momentum) * mean",
            "(1.0 - self.momentum) * self.moving_mean + self.momentum * mean"),
           ("self.momentum * self.moving_variance + (1.0 - self.momentum) * variance",
            "(1.0 - self.momentum) * self.moving_variance + self.momentum * variance")),
    change("batch_norm", "epsilon added after the square root", False, _BN,
           ("ops.sqrt(ops.reshape(variance, shape) + self.epsilon)", "(ops.sqrt(ops.reshape(variance, shape)) + self.epsilon)")),
    change("batch_norm", "always the last axis" + VISIBLE, False, _BN,
           ("        axis = self.axis % rank\n", "        axis = rank - 1\n")),
    change("batch_norm", "gamma and beta created even when scale / center are off", False, _BN,
           ('name="gamma") if self.scale else None', 'name="gamma")'), ('name="beta") if self.center else None', 'name="beta")'),
           ("        if self.gamma is not None:", "        if self.scale:"), ("        if self.beta is not None:", "        if self.center:")),
    change("batch_norm", "trainable running averages" + VISIBLE, False, _BN,
           ('initializer="zeros", trainable=False, name="moving_mean"', 'initializer="zeros", name="moving_mean"'),
           ('initializer="ones", trainable=False,\n', 'initializer="ones",\n')),
    change("batch_norm", "no gradient through the batch statistics", False, _BN,
           ("            mean = ops.mean(inputs, axis=self._reduction_axes)\n" + _VARIANCE,
            "            mean = ops.stop_gradient(ops.mean(inputs, axis=self._reduction_axes))\n"
            "            variance = ops.stop_gradient(ops.var(inputs, axis=self._reduction_axes))")),
    change("batch_norm", "not registered (a saved model cannot be loaded)", False, _BN,
           ('@keras.saving.register_keras_serializable(package="course")\n', "")),
    change("batch_norm", "training=None read as training" + VISIBLE, False, _BN,
           ("    def call(self, inputs, training=False):\n        if training:",
            "    def call(self, inputs, training=None):\n        if training is not False:")),
    change("batch_norm", "get_config without epsilon", False, _BN, ('"epsilon": self.epsilon,\n                ', "\n                ")),
    change("batch_norm", "correct: ops.moments and keepdims broadcasting", True, _BN,
           ("            mean = ops.mean(inputs, axis=self._reduction_axes)\n" + _VARIANCE,
            "            mean, variance = ops.moments(inputs, axes=self._reduction_axes)")),
    change("batch_norm", "correct: tf.nn.moments and a rsqrt", True, _BN,
           ("            mean = ops.mean(inputs, axis=self._reduction_axes)\n" + _VARIANCE,
            "            mean, variance = tf.nn.moments(inputs, axes=self._reduction_axes)"),
           ("out = (inputs - ops.reshape(mean, shape)) / ops.sqrt(ops.reshape(variance, shape) + self.epsilon)",
            "out = (inputs - ops.reshape(mean, shape)) * ops.rsqrt(ops.reshape(variance, shape) + self.epsilon)")),
]

# ----------------------------------------------------------------------------- residual

_RES = '''
@keras.saving.register_keras_serializable(package="course")
class ResidualBlock(keras.layers.Layer):
    def __init__(self, hidden_units, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.hidden_units, self.activation = int(hidden_units), activation

    def build(self, input_shape):
        self.first = keras.layers.Dense(self.hidden_units, activation=self.activation)
        self.second = keras.layers.Dense(input_shape[-1], kernel_initializer="zeros")
        self.first.build(input_shape)
        self.second.build((*input_shape[:-1], self.hidden_units))

    def call(self, inputs):
        return inputs + self.second(self.first(inputs))

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units, "activation": self.activation}


def deep_mlp(input_dim, width, blocks, residual):
    layers = [keras.Input((input_dim,)), keras.layers.Dense(width, activation="relu")]
    for _ in range(blocks):
        if residual:
            layers.append(ResidualBlock(width))
        else:
            layers += [keras.layers.Dense(width, activation="relu"), keras.layers.Dense(width)]
    layers.append(keras.layers.Dense(1))
    return keras.Sequential(layers)
'''
_CALL = "        return inputs + self.second(self.first(inputs))"

RESIDUAL = [
    change("residual", "no skip connection" + VISIBLE, False, _RES, (_CALL, "        return self.second(self.first(inputs))")),
    change("residual", "a ReLU after the sum" + VISIBLE, False, _RES,
           (_CALL, "        return ops.relu(inputs + self.second(self.first(inputs)))")),
    change("residual", "second with a ReLU too", False, _RES,
           ("self.second = keras.layers.Dense(input_shape[-1],", 'self.second = keras.layers.Dense(input_shape[-1], activation="relu",')),
    change("residual", "second with Keras' default initializer (a new block is not the identity)" + VISIBLE, False, _RES,
           ('self.second = keras.layers.Dense(input_shape[-1], kernel_initializer="zeros")',
            "self.second = keras.layers.Dense(input_shape[-1])")),
    change("residual", "the sum averaged" + VISIBLE, False, _RES,
           (_CALL, "        return 0.5 * (inputs + self.second(self.first(inputs)))")),
    change("residual", "a plain block of one layer" + VISIBLE, False, _RES,
           ('layers += [keras.layers.Dense(width, activation="relu"), keras.layers.Dense(width)]',
            'layers.append(keras.layers.Dense(width, activation="relu"))')),
    change("residual", "He initialization in the nets (the plain one then trains)", False, _RES,
           ('layers += [keras.layers.Dense(width, activation="relu"), keras.layers.Dense(width)]',
            'layers += [keras.layers.Dense(width, activation="relu", kernel_initializer="he_normal"),\n'
            '                       keras.layers.Dense(width, kernel_initializer="he_normal")]')),
    change("residual", "the activation argument ignored", False, _RES,
           ("keras.layers.Dense(self.hidden_units, activation=self.activation)",
            'keras.layers.Dense(self.hidden_units, activation="relu")')),
    change("residual", "get_config without hidden_units (a saved model cannot be rebuilt)", False, _RES,
           ('"hidden_units": self.hidden_units, ', "")),
    change("residual", "residual blocks whatever the flag" + VISIBLE, False, _RES, ("        if residual:", "        if True:")),
    change("residual", "no first Dense layer before the blocks" + VISIBLE, False, _RES,
           ('layers = [keras.Input((input_dim,)), keras.layers.Dense(width, activation="relu")]',
            "layers = [keras.Input((input_dim,))]")),
    change("residual", "first as wide as the inputs" + VISIBLE, False, _RES,
           ("self.first = keras.layers.Dense(self.hidden_units,", "self.first = keras.layers.Dense(input_shape[-1],")),
    change("residual", "correct: first made in __init__, ops.add", True, _RES,
           ("        self.hidden_units, self.activation = int(hidden_units), activation\n",
            "        self.hidden_units, self.activation = int(hidden_units), activation\n"
            "        self.first = keras.layers.Dense(self.hidden_units, activation=self.activation)\n"),
           ("        self.first = keras.layers.Dense(self.hidden_units, activation=self.activation)\n"
            '        self.second = keras.layers.Dense(input_shape[-1], kernel_initializer="zeros")',
            '        self.second = keras.layers.Dense(input_shape[-1], kernel_initializer="zeros")'),
           (_CALL, "        return ops.add(inputs, self.second(self.first(inputs)))")),
    Variant("residual", "correct: the activation resolved by keras.activations.get, Sequential.add", True,
            _RES.split("def deep_mlp")[0].replace(
                "        self.first = keras.layers.Dense(self.hidden_units, activation=self.activation)",
                "        self.first = keras.layers.Dense(self.hidden_units, activation=keras.activations.get(self.activation))")
            + '''def deep_mlp(input_dim, width, blocks, residual):
    model = keras.Sequential()
    model.add(keras.Input(shape=(input_dim,)))
    model.add(keras.layers.Dense(width, activation="relu"))
    for _ in range(blocks):
        if residual:
            model.add(ResidualBlock(width))
            continue
        model.add(keras.layers.Dense(width, activation="relu"))
        model.add(keras.layers.Dense(width, activation=None))
    model.add(keras.layers.Dense(1, activation="linear"))
    return model
'''),
]

# ----------------------------------------------------------------------------- schedules

_SCHED = '''
@keras.saving.register_keras_serializable(package="course")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, initial_learning_rate, drop, steps_per_drop):
        self.initial_learning_rate, self.drop = float(initial_learning_rate), float(drop)
        self.steps_per_drop = int(steps_per_drop)

    def __call__(self, step):
        drops = ops.floor(ops.cast(step, "float32") / self.steps_per_drop)
        return self.initial_learning_rate * ops.power(self.drop, drops)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "drop": self.drop,
                "steps_per_drop": self.steps_per_drop}


@keras.saving.register_keras_serializable(package="course")
class CosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0):
        self.initial_learning_rate, self.decay_steps, self.alpha = float(initial_learning_rate), int(decay_steps), float(alpha)

    def __call__(self, step):
        progress = ops.minimum(ops.cast(step, "float32"), self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="course")
class WarmUpCosine(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak_learning_rate, warmup_steps, decay_steps, alpha=0.0):
        self.peak_learning_rate, self.warmup_steps = float(peak_learning_rate), int(warmup_steps)
        self.decay_steps, self.alpha = int(decay_steps), float(alpha)
        self._decay = CosineDecay(peak_learning_rate, decay_steps, alpha)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak_learning_rate * step / max(self.warmup_steps, 1)
        return ops.where(step < self.warmup_steps, warm, self._decay(step - self.warmup_steps))

    def get_config(self):
        return {"peak_learning_rate": self.peak_learning_rate, "warmup_steps": self.warmup_steps,
                "decay_steps": self.decay_steps, "alpha": self.alpha}
'''
_DROPS = 'drops = ops.floor(ops.cast(step, "float32") / self.steps_per_drop)'

SCHEDULES = [
    change("schedules", "round instead of floor" + VISIBLE, False, _SCHED,
           (_DROPS, 'drops = ops.round(ops.cast(step, "float32") / self.steps_per_drop)')),
    change("schedules", "the first drop one step early" + VISIBLE, False, _SCHED,
           (_DROPS, 'drops = ops.floor((ops.cast(step, "float32") + 1.0) / self.steps_per_drop)')),
    change("schedules", "cosine keeps going after decay_steps" + VISIBLE, False, _SCHED,
           ('progress = ops.minimum(ops.cast(step, "float32"), self.decay_steps) / self.decay_steps',
            'progress = ops.cast(step, "float32") / self.decay_steps')),
    change("schedules", "alpha added on top instead of a floor" + VISIBLE, False, _SCHED,
           ("return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)",
            "return self.initial_learning_rate * cosine + self.alpha")),
    change("schedules", "the cosine after warm-up starts at step, not step - warmup_steps" + VISIBLE, False, _SCHED,
           ("self._decay(step - self.warmup_steps)", "self._decay(step)")),
    change("schedules", "warm-up counted from step 1" + VISIBLE, False, _SCHED,
           ("warm = self.peak_learning_rate * step / max(self.warmup_steps, 1)",
            "warm = self.peak_learning_rate * (step + 1.0) / max(self.warmup_steps, 1)")),
    change("schedules", "a Python if on the step (fails in a compiled step)" + VISIBLE, False, _SCHED,
           ("        return ops.where(step < self.warmup_steps, warm, self._decay(step - self.warmup_steps))",
            "        if step < self.warmup_steps:\n            return warm\n        return self._decay(step - self.warmup_steps)")),
    change("schedules", "get_config without alpha", False, _SCHED,
           ('''        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha}''', '''        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps}''')),
    change("schedules", "StepDecay not registered", False, _SCHED,
           ('@keras.saving.register_keras_serializable(package="course")\nclass StepDecay',
            "class StepDecay")),
    change("schedules", "drop ** step (every step a drop)" + VISIBLE, False, _SCHED,
           (_DROPS, 'drops = ops.cast(step, "float32")')),
    change("schedules", "cosine in float64", False, _SCHED,
           ('progress = ops.minimum(ops.cast(step, "float32"), self.decay_steps) / self.decay_steps',
            'progress = ops.minimum(ops.cast(step, "float64"), self.decay_steps) / self.decay_steps')),
    change("schedules", "correct: integer floor division, tf.where for the warm-up", True, _SCHED,
           (_DROPS, 'drops = ops.cast(ops.floor_divide(ops.cast(step, "int64"), self.steps_per_drop), "float32")'),
           ("        return ops.where(step < self.warmup_steps, warm, self._decay(step - self.warmup_steps))",
            "        return tf.where(tf.less(step, float(self.warmup_steps)), warm, self._decay(step - self.warmup_steps))")),
    change("schedules", "correct: the cosine written out again in the warm-up schedule", True, _SCHED,
           ("        return ops.where(step < self.warmup_steps, warm, self._decay(step - self.warmup_steps))",
            "        t = ops.minimum(ops.maximum(step - self.warmup_steps, 0.0), self.decay_steps) / self.decay_steps\n"
            "        decayed = self.peak_learning_rate * ((1 - self.alpha) * 0.5 * (1 + ops.cos(math.pi * t)) + self.alpha)\n"
            "        return ops.where(step < self.warmup_steps, warm, decayed)")),
]

# ----------------------------------------------------------------------------- repaired_training

_REPAIR = '''
def repaired_training(x_train, y_train):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Rescaling(1.0 / 16.0),
                              keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=20, batch_size=100, verbose=0)
    return model
'''
_HIDDEN_LAYER = 'keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal")'

REPAIR = [
    change("repaired_training", "some faults fixed: scaled, Adam, cross-entropy, but zero weights" + VISIBLE, False, _REPAIR,
           (_HIDDEN_LAYER, 'keras.layers.Dense(64, activation="relu", kernel_initializer="zeros")')),
    Variant("repaired_training", "some faults fixed: scaled inputs and more epochs, the rest as it was" + VISIBLE, False, '''
def repaired_training(x_train, y_train):
    keras.utils.set_random_seed(0)
    layers = [keras.layers.Dense(64, activation="sigmoid", kernel_initializer="zeros") for _ in range(6)]
    model = keras.Sequential([keras.Input((64,)), keras.layers.Rescaling(1.0 / 16.0), *layers,
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=20.0), loss="mse")
    model.fit(x_train, keras.utils.to_categorical(y_train, 10), epochs=30, batch_size=100, verbose=0)
    return model
'''),
    Variant("repaired_training", "memorizes the visible images (a lookup of exact matches)", False, '''
class _Lookup(keras.layers.Layer):
    def __init__(self, images, labels, **kwargs):
        super().__init__(**kwargs)
        self.images = tf.constant(images)
        self.targets = tf.one_hot(labels, 10)

    def call(self, x):
        same = tf.reduce_all(tf.equal(x[:, None, :], self.images[None, :, :]), axis=-1)
        found = tf.matmul(tf.cast(same, tf.float32), self.targets)
        return tf.where(tf.reduce_sum(found, axis=1, keepdims=True) > 0, found, tf.fill(tf.shape(found), 0.1))


def repaired_training(x_train, y_train):
    images = np.concatenate([x_train, x_val])
    labels = np.concatenate([y_train, y_val])
    found = _Lookup(images, labels)
    model = keras.Sequential([keras.Input((64,)), found, keras.layers.Lambda(lambda p: p / tf.reduce_sum(p, 1, keepdims=True))])
    return model
'''),
    change("repaired_training", "returns logits (no softmax)" + VISIBLE, False, _REPAIR,
           ('keras.layers.Dense(10, activation="softmax")', "keras.layers.Dense(10)"),
           ('loss="sparse_categorical_crossentropy"', "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)")),
    change("repaired_training", "one epoch of plain SGD" + VISIBLE, False, _REPAIR,
           ("keras.optimizers.Adam(learning_rate=1e-2)", "keras.optimizers.SGD(learning_rate=0.01)"),
           ("epochs=20", "epochs=1")),
    change("repaired_training", "a learning rate far too large" + VISIBLE, False, _REPAIR,
           ("keras.optimizers.Adam(learning_rate=1e-2)", "keras.optimizers.Adam(learning_rate=5.0)")),
    change("repaired_training", "deep sigmoid net kept, the rest fixed" + VISIBLE, False, _REPAIR,
           ("                              " + _HIDDEN_LAYER + ",\n",
            "                              *[keras.layers.Dense(64, activation=\"sigmoid\") for _ in range(6)],\n"),
           ("keras.optimizers.Adam(learning_rate=1e-2)", "keras.optimizers.SGD(learning_rate=0.5)"),
           ("epochs=20", "epochs=5")),
    Variant("repaired_training", "correct: standardized inputs, two tanh layers, a few more epochs", True, '''
def repaired_training(x_train, y_train):
    keras.utils.set_random_seed(1)
    normalize = keras.layers.Normalization()
    normalize.adapt(x_train)
    model = keras.Sequential([keras.Input((64,)), normalize,
                              keras.layers.Dense(48, activation="tanh"), keras.layers.Dense(48, activation="tanh"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=25, batch_size=64, verbose=0)
    return model
'''),
    change("repaired_training", "correct: one-hot targets and categorical cross-entropy, batch norm", True, _REPAIR,
           (_HIDDEN_LAYER + ",", _HIDDEN_LAYER + ", keras.layers.BatchNormalization(),"),
           ('loss="sparse_categorical_crossentropy"', 'loss="categorical_crossentropy"'),
           ("model.fit(x_train, y_train,", "model.fit(x_train, keras.utils.to_categorical(y_train, 10),")),
]

VARIANTS = NORMS + INITIALIZERS + VARIANCES + CLIPPING + BATCH_NORM + RESIDUAL + SCHEDULES + REPAIR
