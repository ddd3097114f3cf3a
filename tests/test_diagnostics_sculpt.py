"""sculpt: identity PReLUs removed, adjacent linear layers merged, outputs unchanged."""

import keras
import numpy as np
import pytest

from keras_prelu import LeakyReLU, PReLU
from keras_prelu.diagnostics import sculpt


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _dense_count(model):
    return sum(isinstance(layer, keras.layers.Dense) for layer in model.layers)


def test_prelu_with_slope_one_is_removed_and_dense_layers_merge():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, name="d1")(inputs)
    x = PReLU(alpha_initializer=1.0, name="p1")(x)
    outputs = keras.layers.Dense(3, name="d2")(x)
    model = keras.Model(inputs, outputs)
    x = _x((32, 6))
    result = sculpt(model, tol=0.0, x=x)
    new = result.model
    assert [name for name, _ in result.removed] == ["p1"]
    assert result.merged == [(["d1", "d2"], "d1_merged")]
    assert _dense_count(new) == 1 and not any(isinstance(layer, PReLU) for layer in new.layers)
    assert result.parameters_after == 6 * 3 + 3 < result.parameters_before
    np.testing.assert_allclose(new(x).numpy(), model(x).numpy(), atol=1e-4)
    assert result.max_abs_error < 1e-4
    assert "removed p1" in str(result)


def test_slopes_away_from_one_are_kept():
    inputs = keras.Input((4,))
    x = PReLU(name="quarter")(keras.layers.Dense(4)(inputs))
    x = keras.layers.ReLU()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    result = sculpt(model, tol=0.1)
    assert result.removed == [] and result.merged == []
    assert result.parameters_after == result.parameters_before
    x = _x((5, 4))
    np.testing.assert_allclose(result.model(x).numpy(), model(x).numpy(), atol=1e-6)


def test_chain_merges_and_activation_of_the_last_layer_is_kept():
    inputs = keras.Input((5,))
    x = PReLU(alpha_initializer=1.0)(keras.layers.Dense(7, name="a")(inputs))
    x = LeakyReLU(negative_slope=1.0)(keras.layers.Dense(7, name="b")(x))
    x = keras.layers.Dense(4, activation="relu", name="c")(x)
    x = PReLU(name="kept")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    x = _x((16, 5), seed=1)
    result = sculpt(model, x=x)
    assert result.merged == [(["a", "b", "c"], "a_merged")]
    merged = result.model.get_layer("a_merged")
    assert merged.activation is keras.activations.relu
    assert [type(layer).__name__ for layer in result.model.layers[1:]] == [
        "Dense",
        "PReLU",
        "Dense",
    ]
    np.testing.assert_allclose(result.model(x).numpy(), model(x).numpy(), atol=1e-4)


def test_convolution_then_pointwise_convolution_and_dense_merge():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="conv")(inputs)
    x = PReLU(alpha_initializer=1.0)(x)
    x = keras.layers.Conv2D(4, 1, name="pointwise")(x)
    x = PReLU(alpha_initializer=1.0)(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(x))
    x = _x((3, 8, 8, 3), seed=2)
    result = sculpt(model, x=x)
    assert result.merged == [(["conv", "pointwise", "dense"], "conv_merged")]
    assert [type(layer).__name__ for layer in result.model.layers[1:]] == ["Conv2D"]
    np.testing.assert_allclose(result.model(x).numpy(), model(x).numpy(), atol=1e-4)


def test_bottleneck_is_not_merged_because_it_would_add_parameters():
    inputs = keras.Input((20,))
    x = PReLU(alpha_initializer=1.0)(keras.layers.Dense(2, name="narrow")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(20, name="wide")(x))
    result = sculpt(model)
    assert len(result.removed) == 1 and result.merged == []
    assert result.skipped and "grow parameters" in result.skipped[0][1]
    x = _x((4, 20), seed=3)
    np.testing.assert_allclose(result.model(x).numpy(), model(x).numpy(), atol=1e-5)


def test_merge_false_only_removes():
    inputs = keras.Input((3,))
    x = PReLU(alpha_initializer=1.0)(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    result = sculpt(model, merge=False)
    assert len(result.removed) == 1 and result.merged == [] and _dense_count(result.model) == 2


def test_slopes_within_tol_are_removed_with_the_documented_error_bound():
    tol = 0.01
    inputs = keras.Input((6,))
    d1, d2 = keras.layers.Dense(8, name="d1"), keras.layers.Dense(3, name="d2")
    prelu = PReLU(name="near_one")
    model = keras.Model(inputs, d2(prelu(d1(inputs))))
    prelu.alpha.assign(1.0 + np.random.default_rng(4).uniform(-tol, tol, 8).astype("float32"))
    assert sculpt(model, tol=tol / 10).removed == []
    x = _x((64, 6), seed=5)
    result = sculpt(model, tol=tol, x=x)
    assert result.removed[0][1] <= tol
    # |change_j| <= tol * sum_i |W2_ij| * |min(z_i, 0)|, z = the PReLU's input.
    z = x @ d1.get_weights()[0] + d1.get_weights()[1]
    bound = tol * np.abs(np.minimum(z, 0)) @ np.abs(d2.get_weights()[0])
    change = np.abs(result.model(x).numpy() - model(x).numpy())
    assert np.all(change <= bound + 1e-5)
    assert 0 < result.max_abs_error <= bound.max() + 1e-5


def test_sequential_and_shared_layers():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(4),
            PReLU(alpha_initializer=1.0),
            keras.layers.Dense(2),
        ]
    )
    x = _x((3, 4), seed=6)
    result = sculpt(model, x=x)
    assert len(result.merged) == 1 and result.max_abs_error < 1e-5

    inputs = keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    x1 = PReLU(alpha_initializer=1.0)(shared(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(shared(x1)))  # called twice: never merged
    result = sculpt(model)
    assert len(result.removed) == 1 and result.merged == []


def test_bad_tol_raises():
    inputs = keras.Input((2,))
    with pytest.raises(ValueError, match="Received: tol=-1"):
        sculpt(keras.Model(inputs, PReLU()(inputs)), tol=-1)
