"""The activation factory and the matching kernel initializers."""

import keras
import pytest

import keras_prelu
from keras_prelu import LeakyReLU, PReLU, PReLUHeNormal, PReLUHeUniform, RReLU


@pytest.mark.parametrize(
    "name,cls,slope",
    [
        ("relu", keras.layers.ReLU, 0.0),
        ("leaky_relu", LeakyReLU, 0.01),
        ("prelu", PReLU, 0.25),
        ("prelu_shared", PReLU, 0.25),
        ("rrelu", RReLU, ((1 / 64 + 1 / 24 + 1 / 9) / 3) ** 0.5),
    ],
)
def test_names_give_fresh_layers_and_matching_initializers(name, cls, slope):
    first, second = keras_prelu.get_activation(name), keras_prelu.get_activation(name)
    assert isinstance(first, cls) and first is not second
    init = keras_prelu.kernel_initializer_for(name)
    assert isinstance(init, PReLUHeNormal)
    assert init.negative_slope == pytest.approx(slope)
    assert init is not keras_prelu.kernel_initializer_for(name)


def test_prelu_shared_has_one_slope():
    layer = keras_prelu.get_activation("prelu_shared")
    layer.build((None, 8))
    assert tuple(layer.alpha.shape) == (1,)


def test_kwargs_reach_the_layer_and_the_initializer_follows():
    layer = keras_prelu.get_activation("leaky_relu", negative_slope=0.2)
    assert layer.negative_slope == 0.2
    assert keras_prelu.kernel_initializer_for(layer).negative_slope == 0.2
    prelu = keras_prelu.get_activation("prelu", alpha_initializer=0.5)
    assert keras_prelu.kernel_initializer_for(prelu).negative_slope == 0.5


def test_layer_instances_are_copied_not_shared():
    original = PReLU(alpha_initializer=0.1, name="mine")
    copy = keras_prelu.get_activation(original)
    assert copy is not original and isinstance(copy, PReLU)
    assert copy.initial_slope == pytest.approx(0.1)


def test_layer_class_and_keras_layers_are_accepted():
    assert isinstance(keras_prelu.get_activation(RReLU, seed=1), RReLU)
    assert keras_prelu.kernel_initializer_for(keras.layers.LeakyReLU(0.3)).negative_slope == pytest.approx(0.3)
    assert keras_prelu.kernel_initializer_for(keras.layers.PReLU()).negative_slope == 0.0


def test_uniform_distribution_and_seed():
    init = keras_prelu.kernel_initializer_for("prelu", distribution="uniform", seed=3)
    assert isinstance(init, PReLUHeUniform) and init.get_config()["seed"] == 3


def test_unknown_name_lists_known_names_and_suggests():
    with pytest.raises(ValueError, match=r"Known: \['leaky_relu', 'prelu', 'prelu_shared', 'relu', 'rrelu'\].*Did you mean \['prelu'"):
        keras_prelu.get_activation("prelus")


@pytest.mark.parametrize("bad", [3, None, keras.layers.Dense(2)])
def test_unusable_activations_raise(bad):
    with pytest.raises(ValueError):
        keras_prelu.kernel_initializer_for(bad)


def test_random_prelu_initializer_has_no_matching_slope():
    layer = PReLU(alpha_initializer="glorot_uniform")
    with pytest.raises(ValueError, match="constant `alpha_initializer`"):
        keras_prelu.kernel_initializer_for(layer)


def test_bad_distribution():
    with pytest.raises(ValueError, match="distribution='gauss'"):
        keras_prelu.kernel_initializer_for("relu", distribution="gauss")
