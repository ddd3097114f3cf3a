"""The rectifiers by name: one table, a fresh layer per call, and the kernel initializer that matches it.

Every other part of the package (the zoo's name suffixes, the study, the
diagnostics' slope reader) derives its activation names from `ACTIVATIONS`.
"""

import dataclasses

import keras

from keras_prelu import layers
from keras_prelu.initializers import PReLUHeNormal, PReLUHeUniform
from keras_prelu.utils.validation import close_matches


@dataclasses.dataclass(frozen=True)
class ActivationSpec:
    """One rectifier: its name, the other spellings accepted, the zoo's model-name suffix,
    whether its slope is learned, and how to build its layer."""

    name: str
    zoo_suffix: str
    learnable: bool
    factory: object
    aliases: tuple = ()

    def build(self, **kwargs):
        return self.factory(**kwargs)


ACTIVATIONS = (
    ActivationSpec("relu", "relu", False, lambda **kw: keras.layers.ReLU(**kw)),
    ActivationSpec("leaky_relu", "leaky", False, lambda **kw: layers.LeakyReLU(**kw),
                   aliases=("leaky", "leakyrelu")),
    ActivationSpec("prelu", "prelu", True, lambda **kw: layers.PReLU(**kw)),
    ActivationSpec("prelu_shared", "prelu_shared", True,
                   lambda **kw: layers.PReLU(channel_shared=True, **kw)),
    ActivationSpec("rrelu", "rrelu", False, lambda **kw: layers.RReLU(**kw)),
)
_BY_NAME = {spec.name: spec for spec in ACTIVATIONS}
_BY_SPELLING = {alias: spec for spec in ACTIVATIONS for alias in (spec.name, *spec.aliases)}


def known_activations():
    """The names `get_activation` accepts."""
    return sorted(_BY_NAME)


def activation_spec(name):
    """The `ActivationSpec` of a name or alias (any case); unknown names raise a ValueError."""
    spec = _BY_SPELLING.get(name.lower()) if isinstance(name, str) else None
    if spec is None:
        close = close_matches(str(name).lower(), known_activations())
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"Unknown activation. Known: {known_activations()}.{hint} Received: activation={name!r}"
        )
    return spec


def canonical_name(name):
    """The table's name for a name or alias: "Leaky" -> "leaky_relu"."""
    return activation_spec(name).name


def zoo_suffixes():
    """{zoo model-name suffix: activation name}, in table order."""
    return {spec.zoo_suffix: spec.name for spec in ACTIVATIONS}


def inference_slope(name):
    """The negative slope a fixed-slope activation uses at inference; None for learnable ones.

    RReLU uses the mean of its random slope, (lower + upper) / 2.
    """
    spec = activation_spec(name)
    return None if spec.learnable else inference_slope_of(spec.build())


def inference_slope_of(layer):
    """The negative slope a fixed-slope rectifier layer applies at inference (RReLU: its mean)."""
    if isinstance(layer, layers.RReLU):
        return float(layer.mean_slope)
    return negative_slope_of(layer)


def get_activation(activation, **kwargs):
    """A new activation layer for a name, a layer class, or (copied) a layer instance.

    Names: "relu", "leaky_relu", "prelu", "prelu_shared", "rrelu". Keyword
    arguments go to the layer's constructor. A layer instance is never handed
    out twice: a fresh copy is built from its config.
    """
    if isinstance(activation, str):
        return activation_spec(activation).build(**kwargs)
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
