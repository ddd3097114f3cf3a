"""BatchNorm/PReLU coupling: pair detection and inference-mode folding parity."""

import keras
import numpy as np
import pytest

from keras_prelu import PReLU
from keras_prelu.diagnostics import find_bn_prelu_pairs, fold_batchnorm, foldable_batchnorms


def _randomize_batchnorms(model, seed=0):
    """Non-trivial statistics: gamma of both signs, beta, mean and variance far from (0, 1)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.moving_mean.shape[0]
            weights = {
                "gamma": rng.normal(1.0, 0.8, c),
                "beta": rng.normal(0.0, 1.0, c),
                "moving_mean": rng.normal(0.0, 2.0, c),
                "moving_variance": rng.uniform(0.1, 4.0, c),
            }
            for variable in layer.weights:
                variable.assign(weights[variable.name].astype("float32"))


def _has_batchnorm(model):
    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def _assert_parity(model, folded, x, atol=1e-5):
    expected = model(x, training=False).numpy()
    np.testing.assert_allclose(folded(x).numpy(), expected, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("use_bias", [True, False])
def test_fold_dense_parity(use_bias):
    inputs = keras.Input((6,))
    x = keras.layers.Dense(5, use_bias=use_bias, name="d1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = PReLU(name="p1")(x)
    x = keras.layers.Dense(3, name="d2")(x)
    x = keras.layers.BatchNormalization(name="bn2", center=False)(x)
    model = keras.Model(inputs, x)
    _randomize_batchnorms(model)
    folded = fold_batchnorm(model)
    assert not _has_batchnorm(folded)
    assert [layer.name for layer in folded.layers[1:]] == ["d1", "p1", "d2"]
    assert folded.get_layer("d1").use_bias
    x = np.random.default_rng(1).normal(size=(16, 6)).astype("float32")
    _assert_parity(model, folded, x)
    assert _has_batchnorm(model)  # the input model is untouched


def test_fold_conv2d_parity():
    inputs = keras.Input((9, 9, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.Conv2D(5, 1, use_bias=False, name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn3", scale=False)(x)
    model = keras.Model(inputs, x)
    _randomize_batchnorms(model, seed=2)
    assert foldable_batchnorms(model) == [("c1", "bn1"), ("dw", "bn2"), ("c2", "bn3")]
    folded = fold_batchnorm(model)
    assert not _has_batchnorm(folded)
    x = np.random.default_rng(3).normal(size=(4, 9, 9, 3)).astype("float32")
    _assert_parity(model, folded, x)


def test_batchnorms_that_cannot_be_folded_are_kept():
    inputs = keras.Input((4,))
    a = keras.layers.Dense(4, activation="relu", name="fused")(inputs)  # activation before BN
    a = keras.layers.BatchNormalization(name="after_relu")(a)
    b = keras.layers.Dense(4, name="shared_out")(inputs)  # output also read elsewhere
    c = keras.layers.BatchNormalization(name="bn_b")(b)
    d = keras.layers.BatchNormalization(name="input_bn")(inputs)  # no linear layer before
    model = keras.Model(inputs, keras.layers.Concatenate()([a, c, b, d]))
    _randomize_batchnorms(model, seed=4)
    assert foldable_batchnorms(model) == []
    folded = fold_batchnorm(model)
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers) == 3
    _assert_parity(model, folded, np.random.default_rng(5).normal(size=(8, 4)).astype("float32"))


def test_fold_inside_a_nested_model():
    inner_in = keras.Input((3,))
    inner_out = keras.layers.BatchNormalization(name="bn")(
        keras.layers.Dense(3, name="d")(inner_in)
    )
    inner = keras.Model(inner_in, inner_out, name="block")
    _randomize_batchnorms(inner, seed=6)
    outer_in = keras.Input((3,))
    model = keras.Model(outer_in, keras.layers.Dense(2, name="head")(inner(outer_in)))
    assert foldable_batchnorms(model) == [("block/d", "block/bn")]
    folded = fold_batchnorm(model)
    assert not _has_batchnorm(folded)
    _assert_parity(model, folded, np.random.default_rng(7).normal(size=(5, 3)).astype("float32"))


def test_find_bn_prelu_pairs_reports_scale_and_slope():
    inputs = keras.Input((4,))
    x = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(3)(inputs))
    x = PReLU(name="p")(x)
    y = keras.layers.BatchNormalization(name="bn_relu")(keras.layers.Dense(3)(x))
    y = keras.layers.ReLU()(y)
    model = keras.Model(inputs, y)
    model.get_layer("bn").gamma.assign([2.0, -1.0, 0.5])
    model.get_layer("p").alpha.assign([0.1, 0.2, 0.6])
    (pair,) = find_bn_prelu_pairs(model)
    assert (pair.batchnorm, pair.prelu, pair.channels) == ("bn", "p", 3)
    assert (pair.gamma_min, pair.gamma_max) == pytest.approx((-1.0, 2.0))
    assert pair.slope_mean == pytest.approx(0.3)
    assert pair.negative_scale_channels == 1
    assert not pair.shared_output
    assert "bn -> p" in str(pair) and "1/a" in str(pair)


def test_no_pairs_without_prelu_after_batchnorm():
    inputs = keras.Input((4,))
    x = PReLU()(keras.layers.BatchNormalization()(inputs))  # BN on the input, then PReLU: a pair
    model = keras.Model(inputs, keras.layers.ReLU()(keras.layers.BatchNormalization()(x)))
    assert len(find_bn_prelu_pairs(model)) == 1
    plain = keras.Model(inputs, keras.layers.ReLU()(keras.layers.BatchNormalization()(inputs)))
    assert find_bn_prelu_pairs(plain) == []
