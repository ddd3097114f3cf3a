"""PReLU, LeakyReLU and RReLU layers: NumPy references, shapes, precision, XLA, bad input.

Configs, saving, eager vs graph and a fit step: tests/test_serializable.py.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_prelu
from keras_prelu import LeakyReLU, PositiveSlope, PReLU, RReLU, SlopeRange


def test_prelu_defaults_are_per_channel_quarter():
    layer = PReLU()
    layer.build((None, None, None, 16))
    assert tuple(layer.alpha.shape) == (16,)
    np.testing.assert_array_equal(layer.alpha.numpy(), np.full(16, 0.25, "float32"))
    assert layer.alpha.name == "alpha"


@pytest.mark.parametrize(
    "kwargs,input_shape,alpha_shape",
    [
        ({}, (None, 10), (10,)),
        ({}, (None, None, 8), (8,)),
        ({}, (None, None, None, None, 4), (4,)),
        ({"channel_shared": True}, (None, None, None, 8), (1,)),
        ({"data_format": "channels_first"}, (None, 8, None, None), (8, 1, 1)),
        ({"shared_axes": [1, 2]}, (None, 5, 6, 8), (1, 1, 8)),
        ({"shared_axes": 1}, (None, 5, 8), (1, 8)),
    ],
)
def test_prelu_slope_shapes(kwargs, input_shape, alpha_shape):
    layer = PReLU(**kwargs)
    layer.build(input_shape)
    assert tuple(layer.alpha.shape) == alpha_shape


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_prelu_layer_matches_numpy_including_gradients(data_format):
    rng = np.random.default_rng(0)
    shape = (3, 5, 6, 4) if data_format == "channels_last" else (3, 4, 5, 6)
    x = rng.standard_normal(shape).astype("float32")
    upstream = rng.standard_normal(shape).astype("float32")
    layer = PReLU(alpha_initializer=keras.initializers.RandomUniform(0.1, 0.9, seed=1),
                  data_format=data_format)
    layer.build(shape)
    alpha = layer.alpha.numpy().astype("float64")
    a = alpha if data_format == "channels_last" else alpha.reshape(4, 1, 1)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
    dx, dalpha = tape.gradient(y, [xt, layer.alpha], output_gradients=tf.constant(upstream))
    x64, g64 = x.astype("float64"), upstream.astype("float64")
    np.testing.assert_allclose(y.numpy(), np.where(x64 >= 0, x64, a * x64), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx.numpy(), np.where(x64 >= 0, g64, a * g64), rtol=1e-6, atol=1e-6)
    axes = (0, 1, 2) if data_format == "channels_last" else (0, 2, 3)
    expected = np.where(x64 < 0, x64 * g64, 0.0).sum(axis=axes).reshape(alpha.shape)
    np.testing.assert_allclose(dalpha.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_prelu_with_unknown_spatial_dims_in_a_model():
    inputs = keras.Input((None, None, 3))
    outputs = PReLU()(keras.layers.Conv2D(3, 3, padding="same")(inputs))
    model = keras.Model(inputs, outputs)
    for size in [(5, 7), (9, 4)]:
        assert model(np.zeros((2,) + size + (3,), "float32")).shape == (2,) + size + (3,)


def test_keras_arguments_mean_the_same_as_keras_prelu():
    x = np.random.default_rng(5).standard_normal((2, 4, 4, 3)).astype("float32")
    ours = PReLU(alpha_initializer="zeros", shared_axes=[1, 2])
    theirs = keras.layers.PReLU(alpha_initializer="zeros", shared_axes=[1, 2])
    np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy())
    assert tuple(ours.alpha.shape) == tuple(theirs.alpha.shape)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_without_dtype_errors(policy):
    keras.config.set_dtype_policy(policy)
    try:
        inputs = keras.Input((6, 6, 3))
        h = keras.layers.Conv2D(4, 3)(inputs)
        prelu = PReLU(name="act")
        h = prelu(h)
        h = RReLU(seed=1)(h)
        h = LeakyReLU()(h)
        outputs = keras.layers.Dense(2, dtype="float32")(keras.layers.Flatten()(h))
        model = keras.Model(inputs, outputs)
        assert prelu.alpha.dtype == "float32"
        assert prelu.compute_dtype == policy.split("_")[1]
        model.compile(optimizer="sgd", loss="mse", jit_compile=False)
        loss = model.fit(np.ones((4, 6, 6, 3)), np.ones((4, 2)), epochs=1, verbose=0).history["loss"][0]
        assert np.isfinite(loss)
        assert keras.backend.standardize_dtype(prelu(np.ones((1, 4, 4, 4), "float32")).dtype) == policy.split("_")[1]
    finally:
        keras.config.set_dtype_policy("float32")


def test_layers_train_under_xla():
    inputs = keras.Input((4, 4, 2))
    h = PReLU()(keras.layers.Conv2D(3, 3, padding="same")(inputs))
    h = RReLU(seed=0)(h)
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(LeakyReLU()(h)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    rng = np.random.default_rng(0)
    loss = model.fit(rng.standard_normal((8, 4, 4, 2)), rng.standard_normal((8, 1)),
                     epochs=2, verbose=0).history["loss"]
    assert all(np.isfinite(loss))


def test_rrelu_draws_slopes_in_range_when_training_and_uses_mean_otherwise():
    layer = RReLU(lower=0.1, upper=0.3, seed=7)
    x = -np.ones((64, 50), "float32")
    slopes = -layer(x, training=True).numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert slopes.std() > 0.03  # one draw per element, not one per layer
    np.testing.assert_allclose(layer(x, training=False).numpy(), -0.2 * np.ones_like(x), rtol=1e-6)
    positive = np.abs(x)
    np.testing.assert_array_equal(layer(positive, training=True).numpy(), positive)


def test_rrelu_is_seedable():
    x = -np.ones((4, 10), "float32")
    first = RReLU(seed=11)(x, training=True).numpy()
    second = RReLU(seed=11)(x, training=True).numpy()
    np.testing.assert_array_equal(first, second)


def test_rrelu_default_bounds_follow_xu_et_al():
    layer = RReLU()
    assert (layer.lower, layer.upper) == (1 / 8, 1 / 3)


def test_leaky_relu_default_slope_is_maas():
    assert LeakyReLU().negative_slope == 0.01


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: PReLU(alpha_initializer=2.0, alpha_constraint=SlopeRange(0, 1)), "alpha_initializer=2.0"),
        (lambda: PReLU(alpha_initializer=0.0, alpha_constraint=PositiveSlope()), "alpha_initializer=0.0"),
        (lambda: PReLU(alpha_initializer=-0.5, alpha_constraint="slope_range"), "alpha_initializer=-0.5"),
        (lambda: PReLU(shared_axes=[0]), "shared_axes=\\[0\\]"),
        (lambda: PReLU(shared_axes=[1], channel_shared=True), "channel_shared=True"),
        (lambda: PReLU(data_format="NHWC"), "data_format='NHWC'"),
        (lambda: RReLU(lower=0.5, upper=0.1), "lower=0.5, upper=0.1"),
        (lambda: RReLU(lower=-0.1), "lower=-0.1"),
        (lambda: LeakyReLU(negative_slope=-1), "negative_slope=-1"),
        (lambda: PReLU(alpha_constraint="no_such_constraint"), "no_such_constraint"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_shared_axes_out_of_range_raises_at_build():
    with pytest.raises(ValueError, match="shared_axes=\\[3\\]"):
        PReLU(shared_axes=[3]).build((None, 4, 4))


@pytest.mark.parametrize("layer_cls", [PReLU, LeakyReLU, RReLU])
def test_rank_one_inputs_work_as_in_keras(layer_cls):
    x = np.array([-2.0, -1.0, 0.0, 3.0], "float32")
    layer = layer_cls()
    y = keras.ops.convert_to_numpy(layer(x))
    slope = {PReLU: 0.25, LeakyReLU: 0.01, RReLU: (1 / 8 + 1 / 3) / 2}[layer_cls]
    np.testing.assert_allclose(y, np.where(x < 0, slope * x, x), rtol=1e-6)
    if layer_cls is PReLU:
        assert tuple(layer.alpha.shape) == (1,)  # one slope, as keras.layers.PReLU here


@pytest.mark.parametrize("layer_cls", [LeakyReLU, RReLU])
def test_weightless_layers_are_built_at_construction_like_keras(layer_cls):
    assert layer_cls().built and keras.layers.LeakyReLU().built


@pytest.mark.parametrize("layer_cls", [PReLU, LeakyReLU, RReLU])
def test_integer_inputs_raise(layer_cls):
    with pytest.raises(ValueError, match="floating-point.*int32"):
        layer_cls()(keras.Input((4,), dtype="int32"))


def test_wrong_channel_count_after_build_raises():
    layer = PReLU()
    layer(np.ones((1, 4), "float32"))
    with pytest.raises(ValueError, match="expected axis -1|expected axis 1"):
        layer(np.ones((1, 3), "float32"))


def test_unknown_channel_dimension_raises():
    with pytest.raises(ValueError, match="known channel dimension"):
        PReLU().build((None, 4, None))


def test_constraint_keeps_slopes_in_range_during_training():
    inputs = keras.Input((4,))
    prelu = PReLU(alpha_constraint=SlopeRange(0.1, 0.3))
    model = keras.Model(inputs, prelu(inputs))
    model.compile(optimizer=keras.optimizers.SGD(10.0), loss="mse")
    model.fit(-np.ones((8, 4)), np.full((8, 4), -5.0), epochs=3, verbose=0)
    np.testing.assert_allclose(prelu.alpha.numpy(), np.full(4, 0.3), rtol=1e-6)


def test_public_api_exports():
    for name in ["PReLU", "LeakyReLU", "RReLU", "SlopeRange", "PositiveSlope",
                 "PReLUHeNormal", "PReLUHeUniform", "get_activation", "kernel_initializer_for",
                 "exclude_slopes_from_weight_decay"]:
        assert hasattr(keras_prelu, name)


def test_keras_own_expectations_for_leaky_relu_and_prelu():
    """What Keras's leaky_relu_test.py and prelu_test.py ask of their layers, asked of ours."""
    x = np.array([[-10.0, -5.0, 0.0, 5.0, 10.0]], "float32")
    np.testing.assert_allclose(LeakyReLU(negative_slope=0.5)(x), [[-5.0, -2.5, 0.0, 5.0, 10.0]])
    layer = LeakyReLU(negative_slope=1.0)
    assert layer.built and layer(np.ones((2, 3, 4), "float32")).shape == (2, 3, 4)
    assert layer.supports_masking
    with pytest.raises(ValueError):
        LeakyReLU(negative_slope=None)
    with pytest.raises(ValueError):
        LeakyReLU(negative_slope=-10)
    prelu = PReLU(alpha_initializer="zeros", alpha_regularizer="L1", alpha_constraint="MaxNorm",
                  shared_axes=1)
    y = prelu(np.ones((2, 3, 4), "float32"))
    assert y.shape == (2, 3, 4) and len(prelu.trainable_weights) == 1 and len(prelu.losses) == 1
    assert tuple(prelu.alpha.shape) == (1, 4)
    np.testing.assert_allclose(PReLU(alpha_initializer=0.5)(x), [[-5.0, -2.5, 0.0, 5.0, 10.0]])
