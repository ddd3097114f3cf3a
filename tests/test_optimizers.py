"""Weight decay never touches slopes.

`keras_prelu.optimizers.get("sgd" | "adamw", ...)`: one step and config round trips in
tests/test_serializable.py; here the plain-Keras contrast, the helper and its errors.
"""

import keras
import numpy as np
import pytest

import keras_prelu
from keras_prelu import optimizers
from serializable_checks import one_step_without_gradient as _train_one_step


def test_plain_keras_optimizer_would_decay_slopes():
    _, alpha = _train_one_step(keras.optimizers.SGD(learning_rate=0.1, weight_decay=0.5))
    assert np.all(alpha < 0.25)


def test_helper_keeps_existing_exclusions():
    opt = keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["kernel"])
    keras_prelu.exclude_slopes_from_weight_decay(opt)
    kernel, alpha = _train_one_step(opt)
    np.testing.assert_array_equal(kernel, np.ones((4, 4), "float32"))
    np.testing.assert_array_equal(alpha, np.full(4, 0.25, "float32"))


def test_built_optimizer_is_refused():
    opt = keras.optimizers.SGD()
    opt.build([keras.Variable(np.ones(2))])
    with pytest.raises(ValueError, match="before the optimizer's first step"):
        keras_prelu.exclude_slopes_from_weight_decay(opt)


def test_unknown_optimizer_name():
    with pytest.raises(ValueError, match="optimizer='sgdd'"):
        optimizers.get("sgdd")


def test_deserialized_optimizer_still_exempts_slopes():
    optimizer = optimizers.get("sgd", learning_rate=0.1, weight_decay=0.5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    _, alpha = _train_one_step(restored)
    np.testing.assert_array_equal(alpha, np.full(4, 0.25, "float32"))


def test_the_exemption_survives_a_keras_file_round_trip(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras_prelu.PReLU(name="p")(inputs)))
    model.compile(optimizers.get("adamw", learning_rate=0.1, weight_decay=0.5), "mse")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer).__name__ == "SlopeExemptAdamW"
    assert isinstance(loaded.optimizer, keras.optimizers.AdamW)
    loaded.fit(np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32"), epochs=2, verbose=0)
    # Zero inputs give the slopes no gradient: only weight decay could move them.
    np.testing.assert_array_equal(loaded.get_layer("p").alpha.numpy(), np.full(3, 0.25, "float32"))
