"""keras_prelu.normalization.BatchNormalization: Keras's layer, run as TensorFlow's fused kernel.

Against `keras.layers.BatchNormalization` with the same weights: the same training outputs,
gradients (input, gamma, beta) and moving statistics, over steps, and the same inference outputs,
for NHWC and dense inputs, with and without center/scale, under XLA and mixed precision, after a
convolution and ReLU (where TensorFlow folds the op into the convolution); the cases it leaves to
Keras unchanged; training and inference graphs hold one FusedBatchNormV3 op.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_prelu.normalization import BatchNormalization


def _pair(shape, **kwargs):
    rng = np.random.default_rng(0)
    ours, theirs = BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    ours.build(shape)
    theirs.build(shape)
    for a, b in zip(ours.weights, theirs.weights):
        value = rng.uniform(0.5, 1.5, a.shape).astype("float32")
        a.assign(value)
        b.assign(value)
    return ours, theirs


def _step(layer, x, upstream, jit=False):
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
        return [y] + tape.gradient(loss, [x] + layer.trainable_weights)

    outputs = tf.function(run, jit_compile=True)(x) if jit else run(x)
    return [np.asarray(o, np.float32) for o in outputs]


@pytest.mark.parametrize("shape", [(8, 5, 5, 6), (16, 7)])
@pytest.mark.parametrize("options", [{}, {"center": False}, {"scale": False}, {"momentum": 0.5}])
@pytest.mark.parametrize("jit", [False, True])
def test_training_equals_keras(shape, options, jit):
    ours, theirs = _pair(shape, epsilon=1e-3, **options)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = tf.constant(rng.normal(2.0, 3.0, shape).astype("float32"))
        upstream = tf.constant(rng.normal(size=shape).astype("float32"))
        for a, b in zip(_step(ours, x, upstream, jit), _step(theirs, x, upstream, jit)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        for a, b in zip(ours.non_trainable_weights, theirs.non_trainable_weights):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    x = tf.constant(rng.normal(size=shape).astype("float32"))
    np.testing.assert_allclose(ours(x, training=False).numpy(), theirs(x, training=False).numpy(),
                               rtol=1e-5, atol=1e-5)  # moving statistics 1 ulp apart


@pytest.mark.parametrize("shape", [(8, 5, 5, 6), (16, 7)])
@pytest.mark.parametrize("options", [{}, {"center": False}, {"scale": False}])
@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_inference_equals_keras(shape, options, mode):
    ours, theirs = _pair(shape, epsilon=1e-3, **options)
    x = tf.constant(np.random.default_rng(3).normal(2.0, 3.0, shape).astype("float32"))

    def infer(layer):
        run = lambda x: layer(x, training=False)  # noqa: E731
        if mode != "eager":
            run = tf.function(run, jit_compile=mode == "xla")
        return run(x).numpy()

    np.testing.assert_allclose(infer(ours), infer(theirs), rtol=1e-5, atol=1e-5)
    ours.trainable = theirs.trainable = False  # a frozen layer normalises with its statistics
    np.testing.assert_allclose(ours(x, training=True).numpy(), theirs(x, training=True).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_inference_after_a_convolution_equals_keras():
    """In a graph, TensorFlow folds the op into the convolution (and the ReLU after it)."""
    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(size=(4, 9, 9, 3)).astype("float32"))
    outputs = []
    for layer_type in (BatchNormalization, keras.layers.BatchNormalization):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((9, 9, 3))
        y = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
        y = layer_type(epsilon=1e-5)(y)
        model = keras.Model(inputs, keras.layers.ReLU()(y))
        stats = np.random.default_rng(5)
        for variable in model.non_trainable_weights:
            variable.assign(stats.uniform(0.5, 1.5, variable.shape).astype("float32"))
        outputs.append(tf.function(lambda x, model=model: model(x, training=False))(x).numpy())
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_mixed_precision_keeps_statistics_in_float32(training):
    ours, theirs = _pair((4, 3, 3, 2), dtype="mixed_float16")
    x = tf.constant(np.random.default_rng(2).normal(size=(4, 3, 3, 2)).astype("float16"))
    a, b = ours(x, training=training), theirs(x, training=training)
    assert a.dtype == b.dtype == tf.float16
    np.testing.assert_allclose(a.numpy().astype("float32"), b.numpy().astype("float32"), atol=2e-3)
    assert ours.moving_mean.dtype == "float32"


def test_one_fused_op_in_training_and_inference_and_keras_code_elsewhere():
    layer = BatchNormalization()
    layer.build((2, 4, 4, 3))
    graph = tf.function(lambda x: layer(x, training=True)).get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3))).graph
    kinds = [op.type for op in graph.get_operations()]
    assert kinds.count("FusedBatchNormV3") == 1
    inference = tf.function(lambda x: layer(x, training=False)).get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3))).graph
    assert [op.type for op in inference.get_operations()].count("FusedBatchNormV3") == 1
    # Channels-first, ranks other than 2 and 4, masks: Keras's own code.
    assert not BatchNormalization(axis=1)._fusable(tf.zeros((2, 3, 4, 4)), None)
    assert not BatchNormalization()._fusable(tf.zeros((2, 3, 4)), None)
    assert not BatchNormalization()._fusable(tf.zeros((2, 3)), tf.ones((2,)))
