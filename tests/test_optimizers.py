"""Weight decay never touches slopes."""

import keras
import numpy as np
import pytest

import keras_prelu
from keras_prelu import optimizers


def _train_one_step(optimizer):
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(4, kernel_initializer="ones", use_bias=False)
    prelu = keras_prelu.PReLU()
    model = keras.Model(inputs, prelu(dense(inputs)))
    model.compile(optimizer=optimizer, loss="mse")
    # Zero gradients everywhere (outputs equal targets on positive inputs): only decay moves weights.
    x = np.ones((2, 4), "float32")
    model.fit(x, model.predict(x, verbose=0), epochs=1, verbose=0)
    return dense.kernel.numpy(), prelu.alpha.numpy()


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_project_optimizers_decay_kernels_but_not_slopes(name):
    kernel, alpha = _train_one_step(optimizers.get(name, learning_rate=0.1, weight_decay=0.5))
    assert np.all(kernel < 1.0)
    np.testing.assert_array_equal(alpha, np.full(4, 0.25, "float32"))


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
