"""Strength corpus for assignment 5 (regularization).

Each variant replaces a whole solution cell. A variant that is a small change of a base cell
(the usual solution, without its docstrings) is written as that change with `change`; a variant
that is a different program is spelled out in full. Wrong variants are mistakes students really
make; correct variants are other valid ways to meet the contract and must keep full marks.
The cell's namespace already has np, tf, keras and ops from the setup cell.
"""
from dlcourse_grading.strength import Variant, change

VISIBLE = " (caught by visible tests too)"

# ----------------------------------------------------------------------------- regularizers

_REG = '''
class L1L2(keras.regularizers.Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        if l1 < 0 or l2 < 0:
            raise ValueError(f"penalty factors must be non-negative, got l1={l1}, l2={l2}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        penalty = ops.zeros((), dtype=x.dtype)
        if self.l1:
            penalty = penalty + ops.cast(self.l1, x.dtype) * ops.sum(ops.abs(x))
        if self.l2:
            penalty = penalty + ops.cast(self.l2, x.dtype) * ops.sum(ops.square(x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(keras.regularizers.Regularizer):
    def __init__(self, l1=0.01):
        self._penalty = L1L2(l1=l1)
        self.l1 = self._penalty.l1

    def __call__(self, x):
        return self._penalty(x)

    def get_config(self):
        return {"l1": self.l1}


class L2(keras.regularizers.Regularizer):
    def __init__(self, l2=0.01):
        self._penalty = L1L2(l2=l2)
        self.l2 = self._penalty.l2

    def __call__(self, x):
        return self._penalty(x)

    def get_config(self):
        return {"l2": self.l2}
'''
_L1_TERM = "ops.sum(ops.abs(x))"
_L2_TERM = "ops.sum(ops.square(x))"

REGULARIZERS = [
    change("regularizers", "L2 with the 1/2 of the textbook convention" + VISIBLE, False, _REG,
           (f"ops.cast(self.l2, x.dtype) * {_L2_TERM}", f"0.5 * ops.cast(self.l2, x.dtype) * {_L2_TERM}")),
    change("regularizers", "the mean of |x| instead of the sum" + VISIBLE, False, _REG,
           (_L1_TERM, "ops.mean(ops.abs(x))")),
    change("regularizers", "L2 as the norm, not the squared norm" + VISIBLE, False, _REG,
           (_L2_TERM, "ops.sqrt(ops.sum(ops.square(x)))")),
    change("regularizers", "the sum of x instead of |x|" + VISIBLE, False, _REG, (_L1_TERM, "ops.sum(x)")),
    change("regularizers", "L2's default factor 0.001", False, _REG, ("def __init__(self, l2=0.01)",
                                                                      "def __init__(self, l2=0.001)")),
    change("regularizers", "accepts negative factors", False, _REG,
           ('        if l1 < 0 or l2 < 0:\n            raise ValueError(f"penalty factors must be non-negative, '
            'got l1={l1}, l2={l2}")\n', "")),
    change("regularizers", "L1's get_config forgets l1 (from_config rebuilds the default)", False, _REG,
           ('return {"l1": self.l1}', "return {}")),
    change("regularizers", "returns a NumPy value (breaks in a traced train step)", False, _REG,
           ("        return penalty\n", "        return ops.convert_to_numpy(penalty)\n")),
    change("regularizers", "always sums in float32" + VISIBLE, False, _REG,
           ("penalty = ops.zeros((), dtype=x.dtype)", 'penalty = ops.zeros((), dtype="float32")'),
           ("if self.l1:\n            penalty = penalty + ops.cast(self.l1, x.dtype) * ops.sum(ops.abs(x))",
            'if self.l1:\n            penalty = penalty + self.l1 * ops.sum(ops.abs(ops.cast(x, "float32")))'),
           ("if self.l2:\n            penalty = penalty + ops.cast(self.l2, x.dtype) * ops.sum(ops.square(x))",
            'if self.l2:\n            penalty = penalty + self.l2 * ops.sum(ops.square(ops.cast(x, "float32")))')),
    Variant("regularizers", "subclasses Keras' own regularizers", False, '''
class L1L2(keras.regularizers.L1L2):
    pass


class L1(keras.regularizers.L1):
    pass


class L2(keras.regularizers.L2):
    pass
'''),
    change("regularizers", "correct: tf.norm(x, ord=1) and tf.reduce_sum(x * x)", True, _REG,
           (_L1_TERM, "tf.norm(x, ord=1)"), (_L2_TERM, "tf.reduce_sum(x * x)")),
    Variant("regularizers", "correct: L1 and L2 as subclasses of L1L2, both terms always computed", True, '''
class L1L2(keras.regularizers.Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        if min(l1, l2) < 0:
            raise ValueError("negative penalty factor")
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, x):
        l1 = ops.convert_to_tensor(self.l1, dtype=x.dtype)
        l2 = ops.convert_to_tensor(self.l2, dtype=x.dtype)
        return l1 * ops.sum(ops.absolute(x)) + l2 * ops.sum(x ** 2)

    def get_config(self):
        return dict(l1=self.l1, l2=self.l2)


class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}
'''),
]

# ----------------------------------------------------------------------------- regularized_mlp

_MLP = '''
def regularized_mlp(input_dim, hidden_units, outputs, regularizer):
    model = keras.Sequential([keras.Input((input_dim,))])
    for units in hidden_units:
        model.add(keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer))
    model.add(keras.layers.Dense(outputs, kernel_regularizer=regularizer))
    return model
'''
_HIDDEN = 'keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer)'
_OUT = "keras.layers.Dense(outputs, kernel_regularizer=regularizer)"

MLP = [
    change("regularized_mlp", "penalizes the hidden biases too" + VISIBLE, False, _MLP,
           (_HIDDEN, 'keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer, '
                     'bias_regularizer=regularizer)')),
    change("regularized_mlp", "penalizes the activations instead of the kernels" + VISIBLE, False, _MLP,
           (_HIDDEN, 'keras.layers.Dense(units, activation="relu", activity_regularizer=regularizer)'),
           (_OUT, "keras.layers.Dense(outputs, activity_regularizer=regularizer)")),
    change("regularized_mlp", "leaves the output layer unpenalized" + VISIBLE, False, _MLP,
           (_OUT, "keras.layers.Dense(outputs)")),
    change("regularized_mlp", "a ReLU on the output layer too", False, _MLP,
           (_OUT, 'keras.layers.Dense(outputs, activation="relu", kernel_regularizer=regularizer)')),
    change("regularized_mlp", "sigmoid hidden layers", False, _MLP, ('activation="relu"', 'activation="sigmoid"')),
    change("regularized_mlp", "its own L2(0.01) instead of the regularizer passed in" + VISIBLE, False, _MLP,
           (_HIDDEN, 'keras.layers.Dense(units, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01))'),
           (_OUT, "keras.layers.Dense(outputs, kernel_regularizer=keras.regularizers.L2(0.01))")),
    change("regularized_mlp", "a default penalty when regularizer is None" + VISIBLE, False, _MLP,
           ("    model = keras.Sequential", "    regularizer = regularizer or keras.regularizers.L2(0.01)\n"
                                           "    model = keras.Sequential")),
    Variant("regularized_mlp", "appends the output width to the caller's list", False, '''
def regularized_mlp(input_dim, hidden_units, outputs, regularizer):
    widths = hidden_units
    widths.append(outputs)
    model = keras.Sequential([keras.Input((input_dim,))])
    for i, units in enumerate(widths):
        last = i == len(widths) - 1
        model.add(keras.layers.Dense(units, activation=None if last else "relu", kernel_regularizer=regularizer))
    return model
'''),
    Variant("regularized_mlp", "correct: one list, tf.nn.relu", True, '''
def regularized_mlp(input_dim, hidden_units, outputs, regularizer):
    layers = [keras.Input(shape=(input_dim,))]
    layers += [keras.layers.Dense(u, activation=tf.nn.relu, kernel_regularizer=regularizer) for u in hidden_units]
    layers.append(keras.layers.Dense(outputs, activation=None, kernel_regularizer=regularizer,
                                     bias_regularizer=None))
    return keras.Sequential(layers)
'''),
    change("regularized_mlp", "correct: keras.activations.relu and a copy of the widths", True, _MLP,
           ("    for units in hidden_units:", "    for units in list(hidden_units):"),
           ('activation="relu"', "activation=keras.activations.relu")),
]

# ----------------------------------------------------------------------------- inverted_dropout

_DROPOUT = '''
class InvertedDropout(keras.layers.Layer):
    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) >= self.rate
        return ops.where(keep, inputs / (1.0 - self.rate), ops.zeros_like(inputs))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
'''
_KEEP = "keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) >= self.rate"
_WHERE = "return ops.where(keep, inputs / (1.0 - self.rate), ops.zeros_like(inputs))"

DROPOUT = [
    change("inverted_dropout", "forgets to rescale the kept entries" + VISIBLE, False, _DROPOUT,
           (_WHERE, "return ops.where(keep, inputs, ops.zeros_like(inputs))")),
    change("inverted_dropout", "multiplies by 1 - rate instead of dividing" + VISIBLE, False, _DROPOUT,
           (_WHERE, "return ops.where(keep, inputs * (1.0 - self.rate), ops.zeros_like(inputs))")),
    change("inverted_dropout", "keeps an entry with probability rate" + VISIBLE, False, _DROPOUT,
           (">= self.rate", "< self.rate")),
    change("inverted_dropout", "training defaults to True (a direct call drops)" + VISIBLE, False, _DROPOUT,
           ("def call(self, inputs, training=False)", "def call(self, inputs, training=True)")),
    change("inverted_dropout", "ignores training (drops at inference too)" + VISIBLE, False, _DROPOUT,
           ("if not training or self.rate == 0.0:", "if self.rate == 0.0:")),
    change("inverted_dropout", "a seeded NumPy mask (frozen into a compiled graph)", False, _DROPOUT,
           ("self.seed_generator = keras.random.SeedGenerator(seed)", "self.rng = np.random.default_rng(seed)"),
           (_KEEP, "keep = self.rng.random(tuple(inputs.shape)) >= self.rate")),
    change("inverted_dropout", "an integer seed in every call (the same mask every time)" + VISIBLE, False, _DROPOUT,
           ("seed=self.seed_generator)", "seed=self.seed)")),
    change("inverted_dropout", "one mask for the whole batch", False, _DROPOUT,
           ("keras.random.uniform(ops.shape(inputs), seed", "keras.random.uniform(ops.shape(inputs)[1:], seed")),
    change("inverted_dropout", "accepts rate 1.0 (divides by zero)" + VISIBLE, False, _DROPOUT,
           ("if not 0.0 <= rate < 1.0:", "if not 0.0 <= rate <= 1.0:")),
    change("inverted_dropout", "get_config forgets the seed", False, _DROPOUT,
           ('"rate": self.rate, "seed": self.seed}', '"rate": self.rate}')),
    change("inverted_dropout", "a float32 mask times the inputs (breaks float64 layers)", False, _DROPOUT,
           (_WHERE, 'return ops.cast(keep, "float32") * inputs / (1.0 - self.rate)')),
    change("inverted_dropout", "calls keras.random.dropout", False, _DROPOUT,
           (_KEEP + "\n        " + _WHERE,
            "return keras.random.dropout(inputs, self.rate, seed=self.seed_generator)")),
    change("inverted_dropout", "correct: a cast mask, kept where uniform < 1 - rate, scaled after", True, _DROPOUT,
           (_KEEP, "keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) < 1.0 - self.rate"),
           (_WHERE, "return ops.cast(keep, inputs.dtype) * inputs * (1.0 / (1.0 - self.rate))")),
    change("inverted_dropout", "correct: a Bernoulli mask from keras.random.binomial", True, _DROPOUT,
           (_KEEP + "\n        " + _WHERE,
            "mask = keras.random.binomial(ops.shape(inputs), counts=1.0, probabilities=1.0 - self.rate,\n"
            "                                     seed=self.seed_generator, dtype=inputs.dtype)\n"
            "        return inputs * mask / (1.0 - self.rate)")),
]

# ----------------------------------------------------------------------------- gaussian_noise

_NOISE = '''
class GaussianNoise(keras.layers.Layer):
    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if stddev < 0:
            raise ValueError(f"stddev must be non-negative, got {stddev}")
        self.stddev = float(stddev)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        noise = keras.random.normal(ops.shape(inputs), stddev=self.stddev, dtype=inputs.dtype,
                                    seed=self.seed_generator)
        return inputs + noise

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
'''
_NORMAL = ("noise = keras.random.normal(ops.shape(inputs), stddev=self.stddev, dtype=inputs.dtype,\n"
           "                                    seed=self.seed_generator)")

NOISE = [
    change("gaussian_noise", "multiplicative noise x * (1 + e)", False, _NOISE,
           ("return inputs + noise", "return inputs * (1.0 + noise)")),
    change("gaussian_noise", "uniform noise of the right standard deviation", False, _NOISE,
           (_NORMAL, "width = self.stddev * 3.0 ** 0.5\n        noise = keras.random.uniform(ops.shape(inputs), "
                     "minval=-width, maxval=width, dtype=inputs.dtype, seed=self.seed_generator)")),
    change("gaussian_noise", "stddev used as the variance" + VISIBLE, False, _NOISE,
           ("stddev=self.stddev, dtype", "stddev=self.stddev ** 0.5, dtype")),
    change("gaussian_noise", "noise at inference too" + VISIBLE, False, _NOISE,
           ("        if not training:\n            return inputs\n", "")),
    change("gaussian_noise", "seeded NumPy noise (frozen into a compiled graph)", False, _NOISE,
           ("self.seed_generator = keras.random.SeedGenerator(seed)", "self.rng = np.random.default_rng(seed)"),
           (_NORMAL, "noise = ops.cast(self.rng.normal(0.0, self.stddev, tuple(inputs.shape)), inputs.dtype)")),
    change("gaussian_noise", "one noise value per example", False, _NOISE,
           ("keras.random.normal(ops.shape(inputs), stddev", "keras.random.normal((ops.shape(inputs)[0], 1), stddev")),
    change("gaussian_noise", "accepts a negative stddev", False, _NOISE,
           ('        if stddev < 0:\n            raise ValueError(f"stddev must be non-negative, got {stddev}")\n', "")),
    change("gaussian_noise", "float32 noise on float64 inputs" + VISIBLE, False, _NOISE,
           ("stddev=self.stddev, dtype=inputs.dtype,", "stddev=self.stddev,")),
    change("gaussian_noise", "get_config forgets the seed", False, _NOISE,
           ('"stddev": self.stddev, "seed": self.seed}', '"stddev": self.stddev}')),
    change("gaussian_noise", "correct: unit normal noise scaled, written with if training", True, _NOISE,
           ("        if not training:\n            return inputs\n" + "        " + _NORMAL + "\n        return inputs + noise",
            "        if training:\n            unit = keras.random.normal(ops.shape(inputs), mean=0.0, stddev=1.0, "
            "dtype=inputs.dtype, seed=self.seed_generator)\n            return inputs + self.stddev * unit\n"
            "        return inputs")),
    change("gaussian_noise", "correct: ops.add and the dtype of the layer's compute", True, _NOISE,
           ("dtype=inputs.dtype,", "dtype=self.compute_dtype,"), ("return inputs + noise", "return ops.add(inputs, noise)")),
]

# ----------------------------------------------------------------------------- early_stopping

_ES = '''
class EarlyStopping(keras.callbacks.Callback):
    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", restore_best_weights=False):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.best = None
        self.best_epoch = None
        self.best_weights = None
        self.stopped_epoch = None

    def _improves(self, value):
        if np.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        if self._improves(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
'''

EARLY_STOPPING = [
    change("early_stopping", "a tie counts as an improvement" + VISIBLE, False, _ES,
           ("value < self.best - self.min_delta", "value <= self.best - self.min_delta")),
    change("early_stopping", "patience off by one" + VISIBLE, False, _ES,
           ("if self.wait >= self.patience:", "if self.wait > self.patience:")),
    change("early_stopping", "keeps the variables, not a copy of their values" + VISIBLE, False, _ES,
           ("self.best_weights = self.model.get_weights()", "self.best_weights = list(self.model.weights)")),
    Variant("early_stopping", "never resets in on_train_begin (a second fit inherits the first)", False,
            _ES.replace('''        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
''', '''        self.restore_best_weights = restore_best_weights
        self.reset()

    def on_train_begin(self, logs=None):
        pass

    def reset(self):
''')),
    change("early_stopping", "a NaN first epoch becomes the best (NaN not excluded)", False, _ES,
           ("        if np.isnan(value):\n            return False\n", "")),
    change("early_stopping", "ignores min_delta" + VISIBLE, False, _ES,
           ("self.min_delta = abs(float(min_delta))", "self.min_delta = 0.0")),
    change("early_stopping", "mode 'auto' always minimizes" + VISIBLE, False, _ES,
           ('("max" if "acc" in monitor else "min") if mode == "auto" else mode', '"min" if mode == "auto" else mode')),
    change("early_stopping", "min_delta with the wrong sign in max mode", False, _ES,
           ("value > self.best + self.min_delta", "value > self.best - self.min_delta")),
    change("early_stopping", "restores only when training was stopped early", False, _ES,
           ("if self.restore_best_weights and self.best_weights is not None:",
            "if self.restore_best_weights and self.best_weights is not None and self.stopped_epoch is not None:")),
    change("early_stopping", "an epoch without the value counts as no improvement", False, _ES,
           ("        if value is None:\n            return\n", "        if value is None:\n            value = float('nan')\n")),
    change("early_stopping", "stopped_epoch 0 when it never stopped (Keras' convention)" + VISIBLE, False, _ES,
           ("        self.stopped_epoch = None\n", "        self.stopped_epoch = 0\n")),
    change("early_stopping", "saves the weights at every epoch" + VISIBLE, False, _ES,
           ("        self.wait += 1\n", "        self.wait += 1\n        if self.restore_best_weights:\n"
                                      "            self.best_weights = self.model.get_weights()\n")),
    change("early_stopping", "a KeyError when the logs lack the value", False, _ES,
           ("value = (logs or {}).get(self.monitor)", "value = logs[self.monitor]")),
    Variant("early_stopping", "correct: a sign for the mode, infinity as the starting best", True, '''
class EarlyStopping(keras.callbacks.Callback):
    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", restore_best_weights=False):
        super().__init__()
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        elif mode not in ("min", "max"):
            raise ValueError(mode)
        self.monitor, self.patience, self.restore_best_weights = monitor, patience, restore_best_weights
        self.sign = 1.0 if mode == "max" else -1.0
        self.min_delta = abs(min_delta)

    def on_train_begin(self, logs=None):
        self._score = -np.inf
        self.best = self.best_epoch = self.stopped_epoch = self._weights = None
        self.wait = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            return
        value = float(logs[self.monitor])
        score = self.sign * value
        if score - self._score > self.min_delta or (self.best is None and not np.isnan(value)):
            self._score, self.best, self.best_epoch, self.wait = score, value, epoch, 0
            if self.restore_best_weights:
                self._weights = [np.copy(w) for w in self.model.get_weights()]
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True
                self.stopped_epoch = epoch

    def on_train_end(self, logs=None):
        if self._weights is not None:
            self.model.set_weights(self._weights)
'''),
    change("early_stopping", "correct: math.isnan, weights copied with .numpy()", True, _ES,
           ("        if np.isnan(value):", "        import math\n        if math.isnan(value):"),
           ("self.best_weights = self.model.get_weights()", "self.best_weights = [w.numpy().copy() for w in self.model.weights]"),
           ("self.model.set_weights(self.best_weights)",
            "for variable, value in zip(self.model.weights, self.best_weights):\n                variable.assign(value)")),
]

VARIANTS = REGULARIZERS + MLP + DROPOUT + NOISE + EARLY_STOPPING
