"""What every family shares: argument checks, conv/norm/activation units, residual blocks,
variant registration."""

import keras

import keras_prelu
from keras_prelu.activations import zoo_suffixes
from keras_prelu.normalization import BatchNormalization
from keras_prelu.utils.validation import check_choice, check_int
from zoo import registry
from zoo.layers import ZeroPadShortcut

# Registered name suffix -> keras_prelu activation name (from the one activation table).
ACTIVATION_SUFFIXES = zoo_suffixes()
NORMS = ("batch", "none")
# torchvision's BatchNorm settings (Keras's defaults are momentum 0.99, epsilon 1e-3).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def check_norm(norm):
    return check_choice("norm", norm, NORMS)


def check_input_shape(input_shape, rank=None, spatial_none=False):
    """`input_shape` as a tuple of ints (no batch axis); `None` spatial sizes if allowed."""
    ok = isinstance(input_shape, (tuple, list)) and len(input_shape) >= 1
    if ok and rank is not None:
        ok = len(input_shape) == rank
    if ok:
        for axis, size in enumerate(input_shape):
            if size is None and spatial_none and axis < len(input_shape) - 1:
                continue
            try:
                check_int("input_shape", size, minimum=1)
            except ValueError:
                ok = False  # reported below, naming the whole shape
    if not ok:
        what = f"{rank} positive ints" if rank else "positive ints"
        raise ValueError(
            f"`input_shape` must be a tuple of {what} (no batch axis). "
            f"Received: input_shape={input_shape!r}"
        )
    return tuple(input_shape)


def check_family_arguments(width, num_classes, norm, activation, input_shape, rank=None,
                           spatial_none=False):
    """The checks every family's builder shares; returns `input_shape` as a tuple."""
    check_int("width", width, minimum=1)
    check_int("num_classes", num_classes, minimum=1)
    check_norm(norm)
    check_activation(activation)
    return check_input_shape(input_shape, rank=rank, spatial_none=spatial_none)


def check_activation(activation):
    """Fail early, with the known names, on an activation that has no matching initializer."""
    keras_prelu.kernel_initializer_for(activation)
    return activation


def conv(x, filters, kernel_size, strides, activation, norm, name):
    """A bias-free (under BatchNorm) "same" convolution whose kernel matches `activation`."""
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=norm == "none",
        kernel_initializer=keras_prelu.kernel_initializer_for(activation),
        name=name,
    )(x)


def dense(x, units, activation, norm, name):
    """A Dense layer whose kernel matches `activation` (no bias under BatchNorm)."""
    return keras.layers.Dense(
        units,
        use_bias=norm == "none",
        kernel_initializer=keras_prelu.kernel_initializer_for(activation),
        name=name,
    )(x)


def normalize(x, norm, name):
    if norm == "none":
        return x
    # Keras's BatchNormalization, trained with TensorFlow's fused kernel (keras_prelu.normalization).
    return BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)


def act(x, activation, name):
    return keras_prelu.get_activation(activation, name=name)(x)


def conv_unit(x, filters, kernel_size, strides, activation, norm, name, suffix, with_act=True):
    """conv -> norm (-> activation), named `{name}_conv{suffix}`, `_bn{suffix}`, `_act{suffix}`."""
    x = conv(x, filters, kernel_size, strides, activation, norm, f"{name}_conv{suffix}")
    x = normalize(x, norm, f"{name}_bn{suffix}")
    return act(x, activation, f"{name}_act{suffix}") if with_act else x


def shortcut(x, filters, strides, activation, norm, name, kind):
    """Identity when shapes agree, else option A ("zero_pad") or B ("projection", 1x1 conv)."""
    if x.shape[-1] == filters and strides == 1:
        return x
    if kind == "zero_pad":
        return ZeroPadShortcut(filters, strides=strides, name=f"{name}_shortcut")(x)
    x = conv(x, filters, 1, strides, activation, norm, f"{name}_shortcut_conv")
    return normalize(x, norm, f"{name}_shortcut_bn")


def basic_block(x, filters, strides, activation, norm, name, shortcut_kind):
    """Two 3x3 convolutions plus a shortcut; the last activation follows the addition."""
    y = conv_unit(x, filters, 3, strides, activation, norm, name, 1)
    y = conv_unit(y, filters, 3, 1, activation, norm, name, 2, with_act=False)
    y = keras.layers.Add(name=f"{name}_add")(
        [shortcut(x, filters, strides, activation, norm, name, shortcut_kind), y]
    )
    return act(y, activation, f"{name}_act2")


def bottleneck_block(x, filters, strides, activation, norm, name, shortcut_kind, expansion=4):
    """1x1 -> 3x3 (strided, as in torchvision) -> 1x1 x`expansion`, plus a shortcut."""
    y = conv_unit(x, filters, 1, 1, activation, norm, name, 1)
    y = conv_unit(y, filters, 3, strides, activation, norm, name, 2)
    y = conv_unit(y, filters * expansion, 1, 1, activation, norm, name, 3, with_act=False)
    y = keras.layers.Add(name=f"{name}_add")(
        [shortcut(x, filters * expansion, strides, activation, norm, name, shortcut_kind), y]
    )
    return act(y, activation, f"{name}_act3")


def classifier(x, num_classes, classifier_activation):
    return keras.layers.Dense(num_classes, activation=classifier_activation, name="classifier")(x)


def register_variants(arch, builder, args, paper=None, published=None):
    """Register `arch` once per activation suffix; `args` define it and cannot be overridden."""
    for suffix, activation in ACTIVATION_SUFFIXES.items():
        registry.add_entry(
            f"{arch}_{suffix}",
            builder,
            {**args, "activation": activation},
            fixed=tuple(args),
            family=builder.family,
            arch=arch,
            paper=paper,
            published=published,
        )
