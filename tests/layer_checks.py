"""Shared checks for every layer: config JSON round trip, (de)serialization,
eager and tf.function calls agree, and one fit step runs."""

import json

import keras
import numpy as np
import tensorflow as tf


def check_layer(layer, input_shape, training_call_differs=False):
    """Run the standard checks on `layer` for inputs of `input_shape` (batch included)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(input_shape).astype("float32")

    config = layer.get_config()
    config_again = json.loads(json.dumps(config))
    clone = type(layer).from_config(config_again)
    assert clone.get_config() == config

    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == config

    eager = keras.ops.convert_to_numpy(layer(x))
    graph = tf.function(lambda t: layer(t))(tf.constant(x)).numpy()
    np.testing.assert_allclose(eager, graph, rtol=1e-6, atol=1e-6)
    assert eager.shape == tuple(input_shape)

    inputs = keras.Input(input_shape[1:])
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(type(layer).from_config(config)(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, rng.standard_normal((input_shape[0], 3)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    return eager
