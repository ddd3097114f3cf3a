"""Activation factory: a fresh rectifier layer by name, and the kernel initializer that matches it."""

import difflib

import keras

from keras_prelu import layers
from keras_prelu.initializers import PReLUHeNormal, PReLUHeUniform

_FACTORIES = {
    "relu": lambda **kw: keras.layers.ReLU(**kw),
    "leaky_relu": lambda **kw: layers.LeakyReLU(**kw),
    "prelu": lambda **kw: layers.PReLU(**kw),
    "prelu_shared": lambda **kw: layers.PReLU(channel_shared=True, **kw),
    "rrelu": lambda **kw: layers.RReLU(**kw),
}
_ALIASES = {"leaky": "leaky_relu", "leakyrelu": "leaky_relu"}


def known_activations():
    """The names `get_activation` accepts."""
    return sorted(_FACTORIES)


def _canonical_name(name):
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in _FACTORIES:
        close = difflib.get_close_matches(key, known_activations(), n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"Unknown activation. Known: {known_activations()}.{hint} "
            f"Received: activation={name!r}"
        )
    return key


def get_activation(activation, **kwargs):
    """A new activation layer for a name, a layer class, or (copied) a layer instance.

    Names: "relu", "leaky_relu", "prelu", "prelu_shared", "rrelu". Keyword
    arguments go to the layer's constructor. A layer instance is never handed
    out twice: a fresh copy is built from its config.
    """
    if isinstance(activation, str):
        return _FACTORIES[_canonical_name(activation)](**kwargs)
    if isinstance(activation, type) and issubclass(activation, keras.layers.Layer):
        return activation(**kwargs)
    if isinstance(activation, keras.layers.Layer):
        config = activation.get_config()
        config.pop("name", None)
        config.update(kwargs)
        return type(activation).from_config(config)
    raise ValueError(
        "`activation` must be a name, a Keras layer class or a layer instance. "
        f"Known names: {known_activations()}. Received: activation={activation!r}"
    )


def negative_slope_of(activation):
    """The (initial) negative slope a0 of an activation name or layer.

    RReLU uses the root-mean-square of its random slope, sqrt(E[a**2]), which
    is what sets the variance during training.
    """
    if isinstance(activation, str) or (
        isinstance(activation, type) and issubclass(activation, keras.layers.Layer)
    ):
        activation = get_activation(activation)
    if isinstance(activation, layers.PReLU):
        slope = activation.initial_slope
    elif isinstance(activation, keras.layers.PReLU):
        slope = layers.constant_value(activation.alpha_initializer)
    elif isinstance(activation, layers.RReLU):
        slope = activation.rms_slope
    elif isinstance(activation, (layers.LeakyReLU, keras.layers.LeakyReLU)):
        slope = activation.negative_slope
    elif isinstance(activation, keras.layers.ReLU):
        slope = float(activation.negative_slope)
    else:
        raise ValueError(
            "Cannot tell the negative slope of this activation. Accepted: "
            f"{known_activations()} or their layers. Received: activation={activation!r}"
        )
    if slope is None:
        raise ValueError(
            "The PReLU slopes start from a random initializer, so no single slope "
            "matches them; pass a constant `alpha_initializer`. "
            f"Received: alpha_initializer={activation.alpha_initializer!r}"
        )
    return float(slope)


def kernel_initializer_for(activation, distribution="normal", mode="fan_in", seed=None):
    """A new initializer with Var(W) = 2 / (n * (1 + a0**2)) for the activation's slope a0."""
    initializers = {"normal": PReLUHeNormal, "uniform": PReLUHeUniform}
    if distribution not in initializers:
        raise ValueError(
            f"`distribution` must be one of {sorted(initializers)}. "
            f"Received: distribution={distribution!r}"
        )
    return initializers[distribution](
        negative_slope=negative_slope_of(activation), mode=mode, seed=seed
    )
