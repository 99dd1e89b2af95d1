"""Strength corpus for assignment 4 (losses).

Each variant replaces a whole solution cell. A variant that is a small change of a base cell
(the usual solution, without its docstrings) is written as that change with `change`; a variant
that is a different program is spelled out in full. Wrong variants are mistakes students really
make; correct variants are other valid ways to meet the contract and must keep full marks.
The cell's namespace already has np, tf, keras and ops from the setup cell.
"""
from dlcourse_grading.strength import Variant, change

VISIBLE = " (caught by visible tests too)"

# ----------------------------------------------------------------------------- huber_loss

_HUBER = '''
class HuberLoss(keras.losses.Loss):
    def __init__(self, delta=1.0, name="huber_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        error = ops.abs(y_pred - y_true)
        quadratic = ops.minimum(error, self.delta)
        linear = error - quadratic
        return ops.mean(0.5 * ops.square(quadratic) + self.delta * linear, axis=-1)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}
'''
_HUBER_RETURN = "        return ops.mean(0.5 * ops.square(quadratic) + self.delta * linear, axis=-1)"

HUBER = [
    change("huber_loss", "call() averages over the batch too (sample weights and reductions break)" + VISIBLE,
           False, _HUBER, (_HUBER_RETURN, "        return ops.mean(0.5 * ops.square(quadratic) + self.delta * linear)")),
    change("huber_loss", "forgets the 1/2 of the quadratic piece" + VISIBLE, False, _HUBER,
           ("0.5 * ops.square(quadratic)", "ops.square(quadratic)")),
    change("huber_loss", "linear piece delta * e without the - delta**2 / 2 (a jump at delta)", False, _HUBER,
           ("        quadratic = ops.minimum(error, self.delta)\n        linear = error - quadratic\n"
            "        return ops.mean(0.5 * ops.square(quadratic) + self.delta * linear, axis=-1)",
            "        return ops.mean(ops.where(error <= self.delta, 0.5 * ops.square(error), self.delta * error), "
            "axis=-1)")),
    change("huber_loss", "ignores delta (threshold fixed at 1)", False, _HUBER,
           ("ops.minimum(error, self.delta)", "ops.minimum(error, 1.0)"), ("self.delta * linear", "linear")),
    change("huber_loss", "sums over the last axis instead of averaging", False, _HUBER,
           (_HUBER_RETURN, "        return ops.sum(0.5 * ops.square(quadratic) + self.delta * linear, axis=-1)")),
    change("huber_loss", "get_config without super().get_config() (loses name and reduction)", False, _HUBER,
           ('return {**super().get_config(), "delta": self.delta}', 'return {"delta": self.delta}')),
    change("huber_loss", "drops **kwargs (reduction and dtype never reach the base class)", False, _HUBER,
           ("super().__init__(name=name, **kwargs)", "super().__init__(name=name)")),
    Variant("huber_loss", "subclasses the built-in keras.losses.Huber", False, '''
class HuberLoss(keras.losses.Huber):
    pass
'''),
    change("huber_loss", "squares relative to delta: 0.5 e**2 / delta (the smooth-L1 variant)", False, _HUBER,
           ("0.5 * ops.square(quadratic)", "0.5 * ops.square(quadratic) / self.delta")),
    change("huber_loss", "correct: ops.where with the two pieces written out", True, _HUBER,
           ("        quadratic = ops.minimum(error, self.delta)\n        linear = error - quadratic\n"
            "        return ops.mean(0.5 * ops.square(quadratic) + self.delta * linear, axis=-1)",
            "        small = 0.5 * error * error\n        large = self.delta * (error - 0.5 * self.delta)\n"
            "        return ops.mean(ops.where(error <= self.delta, small, large), axis=-1)")),
    change("huber_loss", "correct: strict < at the threshold (the pieces meet there)", True, _HUBER,
           ("        quadratic = ops.minimum(error, self.delta)\n        linear = error - quadratic\n"
            "        return ops.mean(0.5 * ops.square(quadratic) + self.delta * linear, axis=-1)",
            "        loss = ops.where(error < self.delta, 0.5 * ops.square(error),\n"
            "                         self.delta * error - 0.5 * self.delta ** 2)\n"
            "        return ops.mean(loss, axis=-1)")),
]

# ----------------------------------------------------------------------------- binary_cross_entropy

_BCE = '''
class BinaryCrossEntropy(keras.losses.Loss):
    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            z = y_pred
            per_entry = ops.maximum(z, 0.0) - z * y_true + ops.log1p(ops.exp(-ops.abs(z)))
        else:
            eps = keras.config.epsilon()
            p = ops.clip(y_pred, eps, 1.0 - eps)
            per_entry = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        return ops.mean(per_entry, axis=-1)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}
'''
_BCE_STABLE = "            per_entry = ops.maximum(z, 0.0) - z * y_true + ops.log1p(ops.exp(-ops.abs(z)))"

BCE = [
    change("binary_cross_entropy", "no clipping: log(0) for probabilities of exactly 0 or 1" + VISIBLE, False, _BCE,
           ("            p = ops.clip(y_pred, eps, 1.0 - eps)\n", "            p = y_pred\n")),
    change("binary_cross_entropy", "from logits through log(sigmoid(z)) (overflows at 1e4)" + VISIBLE, False, _BCE,
           (_BCE_STABLE, "            p = ops.sigmoid(z)\n"
                         "            per_entry = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))")),
    change("binary_cross_entropy", "label smoothing towards s instead of s / 2", False, _BCE,
           ("+ 0.5 * self.label_smoothing", "+ self.label_smoothing")),
    change("binary_cross_entropy", "label smoothing only for probabilities, not for logits", False, _BCE,
           ("        if self.label_smoothing:\n", "        if self.label_smoothing and not self.from_logits:\n")),
    change("binary_cross_entropy", "clips with 1e-12 instead of Keras' epsilon", False, _BCE,
           ("eps = keras.config.epsilon()", "eps = 1e-12")),
    change("binary_cross_entropy", "sums over the last axis instead of averaging", False, _BCE,
           ("        return ops.mean(per_entry, axis=-1)", "        return ops.sum(per_entry, axis=-1)")),
    change("binary_cross_entropy", "stable form with the sign of z * y flipped", False, _BCE,
           ("ops.maximum(z, 0.0) - z * y_true", "ops.maximum(z, 0.0) + z * y_true")),
    change("binary_cross_entropy", "get_config forgets label_smoothing", False, _BCE,
           (', "label_smoothing": self.label_smoothing}', "}")),
    change("binary_cross_entropy", "calls keras.ops.binary_crossentropy", False, _BCE,
           ("        if self.from_logits:\n            z = y_pred\n", "        if True:\n"),
           (_BCE_STABLE, "            per_entry = ops.binary_crossentropy(y_true, y_pred, from_logits=self.from_logits)")),
    change("binary_cross_entropy", "correct: log_sigmoid of z and of -z", True, _BCE,
           (_BCE_STABLE, "            per_entry = -(y_true * ops.log_sigmoid(z) + (1.0 - y_true) * ops.log_sigmoid(-z))")),
    change("binary_cross_entropy", "correct: softplus(z) - z * y", True, _BCE,
           (_BCE_STABLE, "            per_entry = ops.softplus(z) - z * y_true")),
]

# ----------------------------------------------------------------------------- categorical_cross_entropy

_CCE = '''
class CategoricalCrossEntropy(keras.losses.Loss):
    def __init__(self, from_logits=False, label_smoothing=0.0, name="categorical_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        if self.label_smoothing:
            classes = ops.cast(ops.shape(y_pred)[-1], y_pred.dtype)
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        if self.from_logits:
            log_p = y_pred - ops.logsumexp(y_pred, axis=-1, keepdims=True)
        else:
            eps = keras.config.epsilon()
            p = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
            log_p = ops.log(ops.clip(p, eps, 1.0 - eps))
        return -ops.sum(y_true * log_p, axis=-1)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}
'''
_CCE_LOGITS = "            log_p = y_pred - ops.logsumexp(y_pred, axis=-1, keepdims=True)"

CCE = [
    change("categorical_cross_entropy", "from logits through log(softmax(z)) (log 0 at 1e4)" + VISIBLE, False, _CCE,
           (_CCE_LOGITS, "            log_p = ops.log(ops.softmax(y_pred, axis=-1))")),
    change("categorical_cross_entropy", "log-sum-exp without subtracting the max (overflows at 1e4)" + VISIBLE,
           False, _CCE,
           (_CCE_LOGITS, "            log_p = y_pred - ops.log(ops.sum(ops.exp(y_pred), axis=-1, keepdims=True))")),
    change("categorical_cross_entropy", "probabilities not rescaled to sum to 1", False, _CCE,
           ("            p = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)\n", "            p = y_pred\n")),
    change("categorical_cross_entropy", "no clipping: 0 * log(0) is NaN" + VISIBLE, False, _CCE,
           ("ops.log(ops.clip(p, eps, 1.0 - eps))", "ops.log(p)")),
    change("categorical_cross_entropy", "label smoothing by s / (K - 1)", False, _CCE,
           ("self.label_smoothing / classes", "self.label_smoothing / (classes - 1.0)")),
    change("categorical_cross_entropy", "averages over the classes instead of summing", False, _CCE,
           ("        return -ops.sum(y_true * log_p, axis=-1)", "        return -ops.mean(y_true * log_p, axis=-1)")),
    change("categorical_cross_entropy", "calls tf.nn.softmax_cross_entropy_with_logits", False, _CCE,
           ("        if self.from_logits:\n" + _CCE_LOGITS + "\n",
            "        if self.from_logits:\n            return tf.nn.softmax_cross_entropy_with_logits(y_true, y_pred)\n")),
    change("categorical_cross_entropy", "ignores from_logits=False (always treats y_pred as logits)", False, _CCE,
           ("        if self.from_logits:\n", "        if True:\n")),
    change("categorical_cross_entropy", "drops **kwargs (reduction and dtype never reach the base class)", False, _CCE,
           ("super().__init__(name=name, **kwargs)", "super().__init__(name=name)")),
    change("categorical_cross_entropy", "correct: the max subtracted by hand", True, _CCE,
           (_CCE_LOGITS, "            shifted = y_pred - ops.max(y_pred, axis=-1, keepdims=True)\n"
                         "            log_p = shifted - ops.log(ops.sum(ops.exp(shifted), axis=-1, keepdims=True))")),
    change("categorical_cross_entropy", "correct: keras.ops.log_softmax", True, _CCE,
           (_CCE_LOGITS, "            log_p = ops.log_softmax(y_pred, axis=-1)")),
]

# ----------------------------------------------------------------------------- sparse_categorical_cross_entropy

_SPARSE = '''
class SparseCategoricalCrossEntropy(keras.losses.Loss):
    def __init__(self, from_logits=False, name="sparse_categorical_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true, "int32")
        if self.from_logits:
            log_p = y_pred - ops.logsumexp(y_pred, axis=-1, keepdims=True)
        else:
            eps = keras.config.epsilon()
            p = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
            log_p = ops.log(ops.clip(p, eps, 1.0 - eps))
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return -ops.sum(one_hot * log_p, axis=-1)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
'''
_SPARSE_LOGITS = "            log_p = y_pred - ops.logsumexp(y_pred, axis=-1, keepdims=True)"

SPARSE = [
    change("sparse_categorical_cross_entropy", "from logits through log(softmax(z))" + VISIBLE, False, _SPARSE,
           (_SPARSE_LOGITS, "            log_p = ops.log(ops.softmax(y_pred, axis=-1))")),
    change("sparse_categorical_cross_entropy", "no clipping: -log(0) where the right class has probability 0",
           False, _SPARSE, ("ops.log(ops.clip(p, eps, 1.0 - eps))", "ops.log(p)")),
    change("sparse_categorical_cross_entropy", "ignores from_logits=True (always probabilities)" + VISIBLE, False,
           _SPARSE, ("        if self.from_logits:\n", "        if False:\n")),
    change("sparse_categorical_cross_entropy", "call() averages over the batch", False, _SPARSE,
           ("        return -ops.sum(one_hot * log_p, axis=-1)", "        return -ops.sum(one_hot * log_p) / ops.cast("
            "ops.shape(y_pred)[0], y_pred.dtype)")),
    change("sparse_categorical_cross_entropy", "get_config forgets from_logits", False, _SPARSE,
           ('return {**super().get_config(), "from_logits": self.from_logits}', "return super().get_config()")),
    change("sparse_categorical_cross_entropy", "the one-hot of the labels shifted by one class", False, _SPARSE,
           ("ops.one_hot(labels, ", "ops.one_hot((labels + 1) % ops.shape(y_pred)[-1], ")),
    change("sparse_categorical_cross_entropy", "calls keras.ops.sparse_categorical_crossentropy", False, _SPARSE,
           ("        return -ops.sum(one_hot * log_p, axis=-1)",
            "        return ops.sparse_categorical_crossentropy(labels, y_pred, from_logits=self.from_logits)")),
    change("sparse_categorical_cross_entropy", "correct: take_along_axis of the log-probabilities", True, _SPARSE,
           ("        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)\n"
            "        return -ops.sum(one_hot * log_p, axis=-1)",
            "        picked = ops.take_along_axis(log_p, ops.expand_dims(labels, -1), axis=-1)\n"
            "        return -ops.squeeze(picked, -1)")),
    change("sparse_categorical_cross_entropy", "correct: keras.ops.log_softmax", True, _SPARSE,
           (_SPARSE_LOGITS, "            log_p = ops.log_softmax(y_pred, axis=-1)")),
]

# ----------------------------------------------------------------------------- hinge_losses

_HINGE = '''
class Hinge(keras.losses.Loss):
    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        binary = ops.all(ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0)))
        y_true = ops.where(binary, 2.0 * y_true - 1.0, y_true)
        return ops.mean(ops.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


class MulticlassHinge(keras.losses.Loss):
    def __init__(self, margin=1.0, name="multiclass_hinge", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        correct = ops.sum(y_true * y_pred, axis=-1)
        wrong = ops.max(ops.where(y_true > 0.5, ops.full_like(y_pred, -np.inf), y_pred), axis=-1)
        return ops.maximum(self.margin + wrong - correct, 0.0)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
'''
_WRONG = "        wrong = ops.max(ops.where(y_true > 0.5, ops.full_like(y_pred, -np.inf), y_pred), axis=-1)"

HINGE = [
    change("hinge_losses", "Hinge does not map {0, 1} labels to {-1, +1}" + VISIBLE, False, _HINGE,
           ("        y_true = ops.where(binary, 2.0 * y_true - 1.0, y_true)\n", "")),
    change("hinge_losses", "Hinge without the margin: max(0, -y f)", False, _HINGE,
           ("ops.maximum(1.0 - y_true * y_pred, 0.0)", "ops.maximum(-y_true * y_pred, 0.0)")),
    change("hinge_losses", "Hinge sums over the last axis", False, _HINGE,
           ("        return ops.mean(ops.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)",
            "        return ops.sum(ops.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)")),
    change("hinge_losses", "multi-class: Keras' CategoricalHinge (a 0 for the right class joins the max)", False,
           _HINGE, (_WRONG, "        wrong = ops.max((1.0 - y_true) * y_pred, axis=-1)")),
    change("hinge_losses", "multi-class: sums the margins of every wrong class (Weston-Watkins)", False, _HINGE,
           (_WRONG + "\n        return ops.maximum(self.margin + wrong - correct, 0.0)",
            "        margins = ops.maximum(self.margin + y_pred - ops.expand_dims(correct, -1), 0.0)\n"
            "        return ops.sum(margins * (1.0 - y_true), axis=-1)")),
    change("hinge_losses", "multi-class: the right class competes too (loss never below the margin)" + VISIBLE,
           False, _HINGE, (_WRONG, "        wrong = ops.max(y_pred, axis=-1)")),
    change("hinge_losses", "multi-class ignores margin" + VISIBLE, False, _HINGE,
           ("ops.maximum(self.margin + wrong - correct, 0.0)", "ops.maximum(1.0 + wrong - correct, 0.0)")),
    change("hinge_losses", "multi-class get_config forgets margin", False, _HINGE,
           ('return {**super().get_config(), "margin": self.margin}', "return super().get_config()")),
    change("hinge_losses", "correct: relu for the hinge, a large negative offset for the right class", True, _HINGE,
           ("ops.maximum(1.0 - y_true * y_pred, 0.0)", "ops.relu(1.0 - y_true * y_pred)"),
           (_WRONG, "        wrong = ops.max(y_pred - 1e9 * y_true, axis=-1)")),
    change("hinge_losses", "correct: the right class masked out with the smallest float", True, _HINGE,
           (_WRONG, "        lowest = ops.full_like(y_pred, np.finfo(y_pred.dtype.name).min)\n"
                    "        wrong = ops.max(ops.where(y_true > 0.5, lowest, y_pred), axis=-1)")),
]

# ----------------------------------------------------------------------------- output_activation_and_loss

_OUTPUT = '''
def output_activation_and_loss(task):
    table = {
        "regression": ("linear", "mean_squared_error"),
        "binary": ("sigmoid", "binary_crossentropy"),
        "multi-label": ("sigmoid", "binary_crossentropy"),
        "multi-class": ("softmax", "categorical_crossentropy"),
        "multi-class-sparse": ("softmax", "sparse_categorical_crossentropy"),
    }
    if task not in table:
        raise ValueError(f"unknown task {task!r}")
    return table[task]
'''

OUTPUT = [
    change("output_activation_and_loss", "multi-label with softmax and categorical cross-entropy", False, _OUTPUT,
           ('"multi-label": ("sigmoid", "binary_crossentropy")', '"multi-label": ("softmax", "categorical_crossentropy")')),
    change("output_activation_and_loss", "regression with a relu output", False, _OUTPUT,
           ('("linear", "mean_squared_error")', '("relu", "mean_squared_error")')),
    change("output_activation_and_loss", "binary with softmax" + VISIBLE, False, _OUTPUT,
           ('"binary": ("sigmoid",', '"binary": ("softmax",')),
    change("output_activation_and_loss", "integer labels with categorical cross-entropy", False, _OUTPUT,
           ('("softmax", "sparse_categorical_crossentropy")', '("softmax", "categorical_crossentropy")')),
    change("output_activation_and_loss", "an unknown task returns None instead of raising", False, _OUTPUT,
           ('        raise ValueError(f"unknown task {task!r}")', "        return None")),
    change("output_activation_and_loss", "returns a list instead of a tuple", False, _OUTPUT,
           ("    return table[task]", "    return list(table[task])")),
    change("output_activation_and_loss", "multi-class with hinge (scores, not probabilities)", False, _OUTPUT,
           ('"multi-class": ("softmax", "categorical_crossentropy")', '"multi-class": ("linear", "categorical_hinge")')),
    change("output_activation_and_loss", "correct: Keras' short aliases", True, _OUTPUT,
           ('"mean_squared_error"', '"mse"'), ('"binary": ("sigmoid", "binary_crossentropy")', '"binary": ("sigmoid", "bce")')),
    Variant("output_activation_and_loss", "correct: if/elif chain and class names of the losses", True, '''
def output_activation_and_loss(task):
    if task == "regression":
        return "linear", "MeanSquaredError"
    if task in ("binary", "multi-label"):
        return "sigmoid", "BinaryCrossentropy"
    if task == "multi-class":
        return "softmax", "CategoricalCrossentropy"
    if task == "multi-class-sparse":
        return "softmax", "SparseCategoricalCrossentropy"
    raise ValueError(task)
'''),
]

VARIANTS = HUBER + BCE + CCE + SPARSE + HINGE + OUTPUT
