"""CIFAR ResNets (He et al. 2016, section 4.2): 6n+2 layers, 16/32/64 filters, option A."""

import keras

from keras_prelu.utils.validation import check_int
from zoo import blocks

PAPER = "He et al. 2016, Deep Residual Learning for Image Recognition, section 4.2"
PUBLISHED = {
    "metric": "CIFAR-10 test error (%)",
    "source": "He et al. 2016, Table 6",
    "activation": "relu",
}

# name: (depth, published CIFAR-10 test error %)
VARIANTS = {
    "resnet20": (20, 8.75),
    "resnet32": (32, 7.51),
    "resnet44": (44, 7.17),
    "resnet56": (56, 6.97),
    "resnet110": (110, 6.43),
}


def build_cifar_resnet(
    depth=20,
    activation="relu",
    norm="batch",
    width=16,
    input_shape=(32, 32, 3),
    num_classes=10,
    classifier_activation=None,
    name=None,
):
    """A CIFAR ResNet of `depth` = 6n + 2 layers; logits unless `classifier_activation` is set.

    Three stages of n basic blocks with `width`, 2x and 4x filters; the first
    block of stages 2 and 3 halves the resolution, its shortcut subsamples
    and zero-pads the channels (option A, parameter-free).
    """
    check_int("depth", depth, minimum=8)
    if (depth - 2) % 6:
        raise ValueError(
            f"`depth` must be 6n + 2 (20, 32, 44, 56, 110, ...). Received: depth={depth}"
        )
    input_shape = blocks.check_family_arguments(
        width, num_classes, norm, activation, input_shape, rank=3, spatial_none=True
    )

    inputs = keras.Input(input_shape, name="input")
    x = blocks.conv_unit(inputs, width, 3, 1, activation, norm, "stem", "")
    for stage, filters in enumerate((width, 2 * width, 4 * width), start=1):
        for block in range(1, (depth - 2) // 6 + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = blocks.basic_block(
                x, filters, strides, activation, norm, f"stage{stage}_block{block}", "zero_pad"
            )
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = blocks.classifier(x, num_classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name or f"cifar_resnet{depth}")


build_cifar_resnet.family = "cifar_resnet"

for _arch, (_depth, _error) in VARIANTS.items():
    blocks.register_variants(
        _arch, build_cifar_resnet, {"depth": _depth}, PAPER, {**PUBLISHED, "value": _error}
    )
