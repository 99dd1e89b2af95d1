"""Facts the hidden checks rely on, measured against the libraries they stand in for."""
import numpy as np
import pytest

from dlcourse_grading.checks import gradient_descent as gd

OPTIMIZERS = [gd._SGD, gd._RMSPROP, gd._ADAM]
# Keras' variables warn about NumPy 2's copy keyword on every conversion; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: o.name)
def test_optimizer_reference_is_keras_update_rule(opt):
    """The float64 update rule the optimizer checks compare against follows keras.optimizers step
    for step, on every trajectory the checks use, within a tenth of the grading tolerance (measured: at most 5%)."""
    rng = np.random.default_rng(0)
    for shape, dtype, scale, steps, kwargs in gd._TRAJECTORIES[opt.name]:
        p0, grads = gd._trajectory_inputs(rng, shape, dtype, scale, steps)
        want_params, want_states = gd._reference_run(opt, p0, grads, kwargs)
        keras_params, keras_states = gd._keras_run(opt, p0, grads, dtype, kwargs)
        worst = np.max(np.abs(keras_params - want_params) / gd._parameter_tolerance(p0, want_params, dtype))
        assert worst < 0.1, (shape, dtype, kwargs, worst)
        for want, got in zip(want_states, keras_states):
            if got is not None:  # Keras' SGD keeps no velocity without momentum
                assert np.max(np.abs(got - want) / gd._state_tolerance(want)) < 0.1, (shape, dtype, kwargs)
