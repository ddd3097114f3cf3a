"""Bad arguments to the Python API: a ValueError naming the argument and the value received."""

import numpy as np
import pytest

import keras_prelu
import zoo
from keras_prelu import ops


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_initial_slope_is_refused(value):
    with pytest.raises(ValueError, match="alpha_initializer"):
        keras_prelu.PReLU(alpha_initializer=value)


def test_alpha_initializer_none_means_the_default_slope():
    layer = keras_prelu.PReLU(alpha_initializer=None)
    layer.build((2, 3))
    np.testing.assert_allclose(layer.alpha.numpy(), 0.25)


@pytest.mark.parametrize("value", ["no", "yes", 1, None])
def test_channel_shared_must_be_a_bool(value):
    with pytest.raises(ValueError, match=f"Received: channel_shared={value!r}"):
        keras_prelu.PReLU(channel_shared=value)


def test_an_unknown_initializer_name_is_a_value_error():
    with pytest.raises(ValueError, match="Received: alpha_initializer='no_such_initializer'"):
        keras_prelu.PReLU(alpha_initializer="no_such_initializer")


def test_prelu_inverse_checks_slopes_in_the_dtype_of_its_input():
    y = np.array([-1.0, 2.0], "float32")
    with pytest.raises(ValueError, match="slope > 0"):
        ops.prelu_inverse(y, 1e-46)  # > 0 as a Python float, 0 in float32
    np.testing.assert_allclose(ops.prelu_inverse(y, 0.5), [-2.0, 2.0])


@pytest.mark.parametrize("alpha", ["abc", b"abc", object()])
def test_prelu_inverse_refuses_a_non_numeric_slope(alpha):
    with pytest.raises(ValueError, match="`alpha` must be numeric"):
        ops.prelu_inverse(np.array([-1.0], "float32"), alpha)


def test_a_slope_shape_that_does_not_broadcast_is_a_value_error():
    with pytest.raises(ValueError, match=r"alpha.shape=\(1, 5\)"):
        ops.prelu(np.ones((2, 3), "float32"), np.full((1, 5), 0.25, "float32"))


@pytest.mark.parametrize("cls", [keras_prelu.PReLUHeNormal, keras_prelu.PReLUHeUniform])
def test_an_absurd_slope_for_the_initializer_is_a_value_error(cls):
    with pytest.raises(ValueError, match="Received: negative_slope=1e\\+200"):
        cls(negative_slope=1e200)


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04garbage"])
def test_garbage_weights_are_a_value_error(tmp_path, content):
    for name in ("w.weights.h5", "m.keras"):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=f"Received: weights='{path}'"):
            zoo.get("mlp3x256_relu", weights=path, input_shape=(4, 4, 1))
