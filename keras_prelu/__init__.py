"""keras-prelu: learnable rectifiers for Keras 3.

    import keras_prelu
    act = keras_prelu.get_activation("prelu")          # per-channel, a0 = 0.25
    init = keras_prelu.kernel_initializer_for("prelu")  # Var(W) = 2 / (n * 1.0625)
"""

from keras_prelu.utils import startup

if startup.running_as_command():
    startup.quiet_tensorflow_import()

from keras_prelu import (
    activations,
    constraints,
    initializers,
    layers,
    normalization,
    ops,
    optimizers,
)
from keras_prelu.activations import (
    get_activation,
    kernel_initializer_for,
    known_activations,
    negative_slope_of,
)
from keras_prelu.constraints import PositiveSlope, SlopeRange
from keras_prelu.initializers import PReLUHeNormal, PReLUHeUniform
from keras_prelu.layers import LeakyReLU, PReLU, RReLU
from keras_prelu.optimizers import exclude_slopes_from_weight_decay

__version__ = "0.1.0"

__all__ = [
    "LeakyReLU",
    "PReLU",
    "PReLUHeNormal",
    "PReLUHeUniform",
    "PositiveSlope",
    "RReLU",
    "SlopeRange",
    "activations",
    "constraints",
    "exclude_slopes_from_weight_decay",
    "get_activation",
    "initializers",
    "kernel_initializer_for",
    "known_activations",
    "layers",
    "negative_slope_of",
    "normalization",
    "ops",
    "optimizers",
]
