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


@pytest.mark.xfail(
    strict=True,
    reason="Keras optimizer configs do not carry exclude_from_weight_decay: an optimizer from "
    "deserialize_keras_object (or a .keras file's compile config) decays slopes again unless passed "
    "through keras_prelu.optimizers.get",
)
def test_deserialized_optimizer_still_exempts_slopes():
    optimizer = optimizers.get("sgd", learning_rate=0.1, weight_decay=0.5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    _, alpha = _train_one_step(restored)
    np.testing.assert_array_equal(alpha, np.full(4, 0.25, "float32"))
