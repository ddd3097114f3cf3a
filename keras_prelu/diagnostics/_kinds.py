"""Which layers are rectifiers, what their slopes are, where their channels are."""

import dataclasses

import keras
import numpy as np

from keras_prelu import activations
from keras_prelu import layers as prelu_layers

#: Kinds of rectifier: a learnable slope, the plain ReLU (slope 0), a fixed
#: non-zero slope (LeakyReLU, RReLU at inference, ReLU(negative_slope>0)).
PRELU, RELU, LEAKY = "prelu", "relu", "leaky"

#: Layers whose kernel acts linearly on their input (BatchNorm can fold into them).
LINEAR_LAYERS = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)
TRANSPOSED_CONVS = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
DEPTHWISE_CONVS = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)

_RELU_FUNCTIONS = {"relu", "relu6"}
_LEAKY_FUNCTIONS = {"leaky_relu"}


@dataclasses.dataclass(frozen=True)
class Rectifier:
    """How a layer rectifies: its kind, the threshold below which an input counts
    as negative, and the layer that holds the slopes (itself, or the layer an
    `Activation` wraps)."""

    kind: str
    threshold: float
    layer: object


def to_numpy(value, dtype="float64"):
    """A NumPy copy of a tensor or Keras variable, on every backend (a TensorFlow value via
    `.numpy()`: `np.array(tf.Variable)` warns under numpy 2; a PyTorch one detached)."""
    if isinstance(value, keras.Variable):
        value = value.value
    if keras.backend.backend() == "tensorflow" and hasattr(value, "numpy"):
        return np.asarray(value.numpy(), dtype=dtype)
    return np.asarray(keras.ops.convert_to_numpy(value), dtype=dtype)


def _function_name(fn):
    return getattr(fn, "__name__", None)


def rectifier(layer):
    """A `Rectifier` for the layer, or None if it is not a rectifier layer.

    Recognised: keras_prelu PReLU/LeakyReLU/RReLU, keras.layers
    PReLU/LeakyReLU/ReLU, and `keras.layers.Activation` with relu, relu6 or
    leaky_relu (or wrapping one of these layers).
    """
    if isinstance(layer, (prelu_layers.PReLU, keras.layers.PReLU)):
        return Rectifier(PRELU, 0.0, layer)
    if isinstance(layer, (prelu_layers.LeakyReLU, prelu_layers.RReLU, keras.layers.LeakyReLU)):
        return Rectifier(LEAKY, 0.0, layer)
    if isinstance(layer, keras.layers.ReLU):
        kind = RELU if float(layer.negative_slope) == 0.0 else LEAKY
        return Rectifier(kind, float(layer.threshold), layer)
    if isinstance(layer, keras.layers.Activation):
        fn = layer.activation
        if isinstance(fn, keras.layers.Layer):
            inner = rectifier(fn)
            return None if inner is None else Rectifier(inner.kind, inner.threshold, fn)
        name = _function_name(fn)
        if name in _RELU_FUNCTIONS:
            return Rectifier(RELU, 0.0, layer)
        if name in _LEAKY_FUNCTIONS:
            return Rectifier(LEAKY, 0.0, layer)
    return None


def is_rectifier(layer):
    return rectifier(layer) is not None


def has_learnable_slope(layer):
    info = rectifier(layer)
    return info is not None and info.kind == PRELU


def slopes(layer):
    """The layer's negative slopes as a float64 array (learned ones for PReLU).

    ReLU gives [0.], LeakyReLU its slope, RReLU its inference slope
    (lower + upper) / 2, an `Activation("leaky_relu")` Keras's default 0.2.
    """
    info = rectifier(layer)
    if info is None:
        raise ValueError(
            f"Not a rectifier layer. Received: layer={layer.name!r} ({type(layer).__name__})"
        )
    inner = info.layer
    if info.kind == PRELU:
        return to_numpy(inner.alpha).ravel()
    if isinstance(inner, (prelu_layers.RReLU, prelu_layers.LeakyReLU, keras.layers.LeakyReLU,
                          keras.layers.ReLU)):
        return np.array([activations.inference_slope_of(inner)])
    if _function_name(getattr(inner, "activation", None)) in _LEAKY_FUNCTIONS:
        return np.array([0.2])
    return np.array([0.0])


def fused_slope(layer):
    """Negative slope of the activation fused into a Dense/Conv layer (`activation=`).

    1.0 for linear, 0.0 for relu/relu6, 0.2 for leaky_relu, None for any
    other (non-rectifier) activation.
    """
    name = _function_name(getattr(layer, "activation", None))
    if name in (None, "linear"):
        return 1.0
    if name in _RELU_FUNCTIONS:
        return 0.0
    if name in _LEAKY_FUNCTIONS:
        return 0.2
    return None


def channel_axis(layer, rank):
    """The channel axis (non-negative) of a rank-`rank` input to `layer`."""
    if rank <= 2:
        return rank - 1
    data_format = getattr(layer, "data_format", None)
    if data_format is None:
        data_format = keras.config.image_data_format()
    return 1 if data_format == "channels_first" else rank - 1
