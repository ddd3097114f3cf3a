"""Slope-matched initializers: variances, seeding, and the 30-layer variance test.

Configs and seeded round trips: tests/test_serializable.py.
"""

import keras
import numpy as np
import pytest

from keras_prelu import PReLU, PReLUHeNormal, PReLUHeUniform


@pytest.mark.parametrize("cls", [PReLUHeNormal, PReLUHeUniform])
@pytest.mark.parametrize("slope", [0.0, 0.25, 1.0])
def test_variance_is_two_over_fan_in_times_one_plus_slope_squared(cls, slope):
    fan_in = 400
    w = keras.ops.convert_to_numpy(cls(slope, seed=1)((fan_in, 500)))
    expected = 2.0 / (fan_in * (1 + slope**2))
    assert abs(w.var() / expected - 1) < 0.03


def test_fan_out_mode_uses_fan_out():
    w = keras.ops.convert_to_numpy(PReLUHeNormal(0.25, mode="fan_out", seed=2)((100, 800)))
    assert abs(w.var() / (2.0 / (800 * 1.0625)) - 1) < 0.03


def test_conv_kernel_fan_in_counts_receptive_field():
    w = keras.ops.convert_to_numpy(PReLUHeNormal(0.25, seed=3)((3, 3, 64, 128)))
    assert abs(w.var() / (2.0 / (9 * 64 * 1.0625)) - 1) < 0.03


def test_zero_slope_matches_keras_he_normal():
    ours = keras.ops.convert_to_numpy(PReLUHeNormal(0.0, seed=5)((64, 64)))
    keras_he = keras.ops.convert_to_numpy(keras.initializers.HeNormal(seed=5)((64, 64)))
    np.testing.assert_allclose(ours, keras_he, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"mode": "fan"}, "mode='fan'"), ({"negative_slope": "a"}, "negative_slope='a'"),
     ({"seed": 1.5}, "seed")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PReLUHeNormal(**kwargs)


def _last_to_first_variance_ratio(initializer_factory, depth=30, width=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2048, width)).astype("float32")
    variances = []
    for i in range(depth):
        dense = keras.layers.Dense(width, use_bias=False, kernel_initializer=initializer_factory(i))
        x = keras.ops.convert_to_numpy(dense(x))
        variances.append(x.var())
        x = keras.ops.convert_to_numpy(PReLU()(x))
    return variances[-1] / variances[0]


def test_matched_init_preserves_variance_through_30_prelu_layers():
    ratio = _last_to_first_variance_ratio(lambda i: PReLUHeNormal(0.25, seed=i))
    assert 0.5 < ratio < 2.0


def test_plain_he_init_drifts_by_one_plus_slope_squared_per_layer():
    ratio = _last_to_first_variance_ratio(lambda i: keras.initializers.HeNormal(seed=i))
    expected = 1.0625**29  # 29 layer-to-layer steps between the first and the last
    assert expected / 2 < ratio < expected * 2
    assert ratio > 3.0
