"""Contracts every Keras extension point shares: the class, its config, saving, training mode.

An exercise that extends Keras (a Layer, Loss, Regularizer, Initializer, Callback or schedule) is
only right if it also works where Keras uses it: built from its config, saved in a .keras file and
loaded back, and told apart in training and inference. These checks say so in the student's terms.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

import dlcourse  # noqa: F401  (quiet TensorFlow before it is imported)
import keras

from dlcourse.testing import assert_close
from dlcourse_grading.checklib.calls import call


def assert_extends(cls: Any, base: type, name: str, not_built_on: tuple[type, ...] = ()) -> None:
    """``cls`` is a class derived from ``base`` and from none of the built-ins it must replace."""
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise AssertionError(f"{name} must be a class derived from {base.__module__.split('.src')[0]}."
                             f"{base.__qualname__}")
    for builtin in not_built_on:
        if issubclass(cls, builtin):
            raise AssertionError(f"{name} must not build on the built-in {builtin.__module__.split('.src')[0]}."
                                 f"{builtin.__name__}")


def assert_config_round_trip(instance: Any, cls: type, expected: dict, name: str) -> Any:
    """get_config() holds ``expected`` as plain JSON values; from_config rebuilds an equal object
    (for a layer: with the same name, which only super().get_config() carries). Returns the clone."""
    config = call(instance.get_config, what=f"{name}(...).get_config()")
    if not isinstance(config, dict):
        raise AssertionError(f"{name}.get_config() must return a dict, got {type(config).__name__}")
    for key, value in expected.items():
        if config.get(key) != value:
            raise AssertionError(f"{name}({key}={value!r}).get_config() must contain {key!r}: {value!r}")
    try:
        json.dumps(config)
    except (TypeError, ValueError):
        raise AssertionError(f"{name}.get_config() must return plain Python values (JSON-serializable)") from None
    clone = call(cls.from_config, config, what=f"{name}.from_config(layer.get_config())")
    if isinstance(instance, keras.layers.Layer) and getattr(clone, "name", None) != instance.name:
        raise AssertionError(f"{name}.from_config(layer.get_config()) loses the layer's name: start get_config() "
                             "from super().get_config()")
    return clone


def save_and_load(model: keras.Model, name: str) -> keras.Model:
    """The model after a round trip through a .keras file (what model.save and load_model need:
    a registered class whose get_config returns its constructor arguments)."""
    what = f"saving a model with your {name} to a .keras file and loading it with keras.saving.load_model"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        call(model.save, path, what=what)
        return call(keras.saving.load_model, path,
                    what=f"{what} (register the class with keras.saving.register_keras_serializable and "
                         "return the constructor arguments from get_config)")


def assert_loaded_layer(loaded: keras.Model, layer_name: str, cls: type, name: str) -> Any:
    """The loaded model still holds a layer of the student's own class under its name."""
    what = f"saving a model with your {name} to a .keras file and loading it with keras.saving.load_model"
    try:
        restored = loaded.get_layer(layer_name)
    except ValueError:
        raise AssertionError(f"{what}: the {name} layer is missing from the loaded model") from None
    if not isinstance(restored, cls):
        raise AssertionError(f"{what}: the loaded layer is a {type(restored).__name__}, not your {name} "
                             "(register the class with keras.saving.register_keras_serializable)")
    return restored


def outputs_by_mode(layer: keras.layers.Layer, x: Any, input_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The layer's output on x when called directly (no flag, training=False, training=True) and
    inside a model (predict, which runs in inference mode). Keras passes ``training`` down from
    fit/evaluate/predict; a layer that ignores it behaves the same in all five."""
    model = keras.Sequential([keras.Input(input_shape), layer])
    return {
        "layer(x)": np.array(call(layer, x, what="layer(x)")),
        "layer(x, training=False)": np.array(call(layer, x, training=False, what="layer(x, training=False)")),
        "layer(x, training=True)": np.array(call(layer, x, training=True, what="layer(x, training=True)")),
        "model.predict(x)": np.array(call(model.predict, x, verbose=0, what="model.predict(x)")),
    }


def assert_identity_at_inference(layer: keras.layers.Layer, x: Any, input_shape: tuple[int, ...], name: str) -> dict:
    """Outside training the layer passes x through unchanged (direct call and predict); returns the
    outputs by mode for further checks of the training-mode output."""
    outputs = outputs_by_mode(layer, x, input_shape)
    for mode in ("layer(x)", "layer(x, training=False)", "model.predict(x)"):
        assert_close(outputs[mode], np.array(x), f"{name}: {mode} (outside training the layer must return its "
                     "input unchanged)", rtol=0, atol=1e-7)
    if np.array_equal(outputs["layer(x, training=True)"], np.array(x)):
        raise AssertionError(f"{name}: layer(x, training=True) returns its input unchanged; in training the "
                             "layer must act (is `training` honored?)")
    return outputs
