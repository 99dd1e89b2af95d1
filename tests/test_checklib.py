"""The check library's own behavior, each piece on a small case that would break if it were wrong."""
from __future__ import annotations

import numpy as np
import pytest

import dlcourse  # noqa: F401
import keras
import tensorflow as tf

from dlcourse_grading import checklib as lib
from dlcourse_grading.checklib import keras_contract, references

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# --------------------------------------------------------------------------- call: crashes and inputs

def test_call_turns_a_crash_into_a_message_that_names_the_call():
    with pytest.raises(AssertionError, match=r"f\(x\) raised ZeroDivisionError: division by zero"):
        lib.call(lambda x: 1 / 0, 3, what="f(x)")


def _scale_in_place(x):
    x *= 2
    return x


def _perturb_and_restore_by_arithmetic(x):
    x[0] += 0.1
    x[0] -= 0.1
    return 0.0


@pytest.mark.parametrize("fn, value, message", [
    (_scale_in_place, np.arange(3.0), "changed the NumPy array"),
    (_perturb_and_restore_by_arithmetic, np.array([0.3, 1.0]), "by rounding"),  # 0.3 + 0.1 - 0.1 != 0.3
    (lambda v: v.append(1.0), [1.0, 2.0], "changed the list"),
    (lambda v: v.__setitem__("a", np.zeros(2)), {"a": np.ones(2)}, "changed the dict"),
    (lambda v: v.assign([5.0, 6.0]), tf.Variable([1.0, 2.0]), "changed the ResourceVariable"),
])
def test_call_fails_when_an_input_comes_back_changed(fn, value, message):
    with pytest.raises(AssertionError, match=message):
        lib.call(fn, value, what="f(x)")


def test_call_accepts_inputs_that_come_back_bit_for_bit_even_with_nan():
    x = np.array([np.nan, 1.0, -0.0])
    lib.call(lambda v: v.copy() * 2, x, what="f(x)")
    lib.call(lambda v: list(v) + [3], [np.nan, 2.0], what="f(x)")


def test_call_fails_when_a_layer_handed_over_comes_back_with_other_weights():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))

    def tamper(first):
        first.kernel.assign(first.kernel * 0)
        return first

    with pytest.raises(AssertionError, match="changed the weights of the Dense layer"):
        lib.call(tamper, layer, what="collapse(first)")


# --------------------------------------------------------------------------- types and tuples

@pytest.mark.parametrize("check, good, bad", [
    (lib.assert_python_int, 3, [np.int64(3), True, 3.0]),
    (lib.assert_python_bool, False, [np.bool_(False), 0]),
    (lib.assert_python_float, np.float64(0.5), [np.float32(0.5), tf.constant(0.5), 1]),
])
def test_python_types_as_the_contracts_state_them(check, good, bad):
    check(good, "value")
    for value in bad:
        with pytest.raises(AssertionError):
            check(value, "value")


def test_unpack_names_the_expected_tuple():
    assert lib.unpack((1, 2), ("loss", "grad"), "f") == (1, 2)
    with pytest.raises(AssertionError, match=r"return a tuple \(loss, grad\), got tuple of length 3"):
        lib.unpack((1, 2, 3), ("loss", "grad"), "f")
    with pytest.raises(AssertionError):
        lib.unpack([1, 2], ("loss", "grad"), "f")
    assert lib.unpack([1, 2], ("loss", "grad"), "f", lists_too=True) == (1, 2)


# --------------------------------------------------------------------------- policies

SPEC = (tf.TensorSpec((3, 4), tf.float32),)


def test_assert_no_ops_finds_a_builtin_however_it_was_called_and_passes_hand_written_code():
    forbidden = lib.builtins("Softmax", "gelu")
    for fn in (tf.nn.softmax, keras.ops.softmax, keras.activations.gelu):
        with pytest.raises(AssertionError, match="uses a built-in"):
            lib.assert_no_ops(fn, SPEC, "f", forbidden)

    def by_hand(z):
        e = keras.ops.exp(z - keras.ops.max(z, axis=-1, keepdims=True))
        return e / keras.ops.sum(e, axis=-1, keepdims=True)

    lib.assert_no_ops(by_hand, SPEC, "f", forbidden)


def test_assert_no_ops_rejects_numpy_code_that_cannot_be_traced():
    with pytest.raises(AssertionError, match="does not work on symbolic TensorFlow tensors"):
        lib.assert_no_ops(lambda z: np.exp(z.numpy()), SPEC, "f", {})


class _Base:
    def tool(self):
        return "tool"


class _Child(_Base):
    pass


def test_blocked_refuses_inherited_methods_and_a_swallowed_refusal_still_fails():
    def swallow():
        try:
            _Child().tool()
        except AssertionError:
            pass

    with pytest.raises(AssertionError, match="no tools"):
        with lib.blocked([(_Base, "tool")], "no tools"):
            swallow()
    assert _Child().tool() == "tool" and "tool" not in vars(_Child)  # restored exactly


def test_blocked_restores_an_attribute_the_owner_only_inherited():
    with pytest.raises(AssertionError, match="no tools"):
        with lib.blocked([(_Child, "tool")], "no tools"):
            _Child().tool()
    assert "tool" not in vars(_Child) and _Child().tool() == "tool"


def test_no_autodiff_blocks_every_kind_of_tape():
    x = tf.constant(2.0)
    attempts = [lambda: tf.GradientTape(), lambda: tf.autodiff.ForwardAccumulator(x, tf.constant(1.0)),
                lambda: tf.gradients(x, x)]
    for attempt in attempts:
        with pytest.raises(AssertionError, match="automatic differentiation"):
            with lib.no_autodiff("f"):
                attempt()
    with tf.GradientTape() as tape:  # and everything is back afterwards
        tape.watch(x)
        y = x * x
    assert float(tape.gradient(y, x)) == 4.0


def test_counting_calls_counts_every_target_together():
    x = tf.constant([1.0, 2.0])
    with lib.counting_calls(*lib.TAPE_GRADIENTS) as tapes:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x * x
        tape.gradient(y, x)
        tape.jacobian(y, x)
    assert tapes.count >= 2


# --------------------------------------------------------------------------- comparisons and references

def test_diagnose_names_the_kind_of_mistake_and_nothing_else():
    want = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert "batch size" in lib.diagnose(want / 4, want, batch=4)
    assert "sign" in lib.diagnose(-want, want)
    assert "transpose" in lib.diagnose(want.T, want)
    assert lib.diagnose(want + 1, want) == ""


def test_first_bad_row_finds_nan_too():
    want = np.zeros((4, 2))
    got = want.copy()
    got[2, 1] = np.nan
    assert lib.first_bad_row(got, want, 1e-9) == 2
    assert lib.first_bad_row(want, want, 1e-9) is None


def test_references_agree_with_closed_forms():
    x = np.array([0.3, -1.2, 2.0])
    grad = references.central_differences(lambda v: float(np.sum(v ** 3)), x, 1e-5)
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-9)
    z = np.array([[1e4, 0.0, -1e4]])
    np.testing.assert_allclose(references.softmax(z), [[1.0, 0.0, 0.0]])
    assert np.isfinite(references.cross_entropy(z, np.array([[0.0, 0.0, 1.0]]))).all()
    # eps is a floor: below it the denominator is eps, above it eps plays no part
    assert references.relative_error([0.1], [0.2], eps=1.0) == pytest.approx(0.1)
    assert references.relative_error([0.1], [0.2], eps=0.2) == pytest.approx(1 / 3)


# --------------------------------------------------------------------------- Keras contracts

class _Ignores(keras.layers.Layer):
    def call(self, x, training=None):
        return x


class _Always(keras.layers.Layer):
    def call(self, x, training=None):
        return x * 2.0


def test_training_flag_contract_tells_dropout_from_layers_that_ignore_the_flag():
    x = np.ones((64, 8), np.float32)
    keras_contract.assert_identity_at_inference(keras.layers.Dropout(0.5, seed=1), x, (8,), "Dropout")
    for layer, message in ((_Ignores(), "returns its input unchanged"), (_Always(), "outside training")):
        with pytest.raises(AssertionError, match=message):
            keras_contract.assert_identity_at_inference(layer, x, (8,), "layer")


class _Scaled(keras.layers.Layer):
    def __init__(self, factor=1.0, keep_name=True, **kwargs):
        super().__init__(**kwargs)
        self.factor, self.keep_name = factor, keep_name

    def get_config(self):
        base = super().get_config() if self.keep_name else {}
        return {**base, "factor": self.factor}


def test_config_round_trip_needs_the_arguments_and_the_base_config():
    keras_contract.assert_config_round_trip(_Scaled(0.5, name="s"), _Scaled, {"factor": 0.5}, "Scaled")
    with pytest.raises(AssertionError, match="must contain 'factor'"):
        keras_contract.assert_config_round_trip(_Scaled(0.5), _Scaled, {"factor": 0.7}, "Scaled")
    with pytest.raises(AssertionError, match="loses the layer's name"):
        keras_contract.assert_config_round_trip(_Scaled(0.5, keep_name=False, name="s"), _Scaled,
                                                {"factor": 0.5}, "Scaled")


def test_extends_refuses_a_subclass_of_the_builtin_it_replaces():
    class Mine(keras.layers.Layer):
        pass

    class Lazy(keras.layers.PReLU):
        pass

    keras_contract.assert_extends(Mine, keras.layers.Layer, "PReLU", (keras.layers.PReLU,))
    for cls in (Lazy, int, "PReLU"):
        with pytest.raises(AssertionError):
            keras_contract.assert_extends(cls, keras.layers.Layer, "PReLU", (keras.layers.PReLU,))


def test_construct_names_the_constructor_call_when_it_crashes():
    from dlcourse_grading.checklib import construct

    class Broken:
        def __init__(self, rate, seed=None):
            raise TypeError("no")

    with pytest.raises(AssertionError, match=r"InvertedDropout\(0\.5, seed=3\) raised TypeError: no"):
        construct(Broken, "InvertedDropout", 0.5, seed=3)
    assert construct(dict, "dict", a=1) == {"a": 1}
