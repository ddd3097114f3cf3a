"""zoo.layers.ZeroPadShortcut: the option-A shortcut against NumPy, config and saving."""

import keras
import numpy as np
import pytest

from serializable_checks import check_config, check_keras_file
from zoo.layers import ZeroPadShortcut


def _reference(x, channels, strides, channels_first=False):
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    y = x[:, ::strides, ::strides, :]
    extra = channels - y.shape[-1]
    y = np.pad(y, [(0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)])
    return np.moveaxis(y, -1, 1) if channels_first else y


@pytest.mark.parametrize(
    "shape, channels, strides",
    [((2, 8, 8, 16), 32, 2), ((2, 7, 5, 3), 8, 2), ((1, 6, 6, 4), 4, 3), ((1, 4, 4, 2), 5, 1)],
)
def test_matches_numpy(shape, channels, strides):
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    layer = ZeroPadShortcut(channels, strides=strides)
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(y, _reference(x, channels, strides))
    assert tuple(layer.compute_output_shape(shape)) == y.shape
    assert not layer.weights


def test_channels_first():
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype("float32")
    layer = ZeroPadShortcut(6, strides=2, data_format="channels_first")
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(y, _reference(x, 6, 2, channels_first=True))
    assert layer.compute_output_shape((None, 3, 6, None)) == (None, 6, 3, None)


def test_config_holds_the_arguments():
    layer = ZeroPadShortcut(32, strides=2, name="shortcut")
    config = layer.get_config()
    assert {k: config[k] for k in ("channels", "strides", "data_format")} == {
        "channels": 32,
        "strides": 2,
        "data_format": "channels_last",
    }
    check_config(layer)  # round trips; the rest of the harness: tests/test_serializable.py


def test_in_a_model_with_unknown_spatial_size_and_saved():
    inputs = keras.Input((None, None, 4))
    model = keras.Model(inputs, ZeroPadShortcut(8)(inputs))
    assert model.output_shape == (None, None, None, 8)
    check_keras_file(model, np.ones((1, 5, 5, 4), "float32"))


def test_errors():
    with pytest.raises(ValueError, match="Received: channels=0"):
        ZeroPadShortcut(0)
    with pytest.raises(ValueError, match="Received: strides=1.5"):
        ZeroPadShortcut(8, strides=1.5)
    with pytest.raises(ValueError, match="Received: data_format='nhwc'"):
        ZeroPadShortcut(8, data_format="nhwc")
    with pytest.raises(ValueError, match="channels=4"):
        ZeroPadShortcut(4)(np.zeros((1, 2, 2, 8), "float32"))
