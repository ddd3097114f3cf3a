"""ImageNet-style ResNets (He et al. 2016, Table 1; torchvision layout).

Basic blocks for ResNet-18/34, bottlenecks from ResNet-50 on.
"""

import keras

from zoo import blocks

PAPER = "He et al. 2016, Deep Residual Learning for Image Recognition, Table 1 (torchvision layout)"
PUBLISHED = {
    "metric": "ImageNet top-1 accuracy (%)",
    "source": "torchvision IMAGENET1K_V1",
    "activation": "relu",
}

# depth: (block, blocks per stage), like TF Model Garden's RESNET_SPECS.
RESNET_SPECS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}

# name: (depth, published ImageNet top-1 %)
VARIANTS = {
    "resnet18": (18, 69.758),
    "resnet34": (34, 73.314),
    "resnet50": (50, 76.130),
}


def build_imagenet_resnet(
    depth=18,
    activation="relu",
    norm="batch",
    width=64,
    input_shape=(224, 224, 3),
    num_classes=1000,
    classifier_activation=None,
    name=None,
):
    """An ImageNet ResNet (depth in RESNET_SPECS); logits unless `classifier_activation` is set.

    Stem: 7x7/2 convolution and 3x3/2 max pooling; four stages with `width`
    x1, x2, x4, x8 filters (x4 more out of bottlenecks), projection
    shortcuts (option B) where shapes change. "same" padding throughout.
    """
    if depth not in RESNET_SPECS:
        raise ValueError(
            f"`depth` must be one of {sorted(RESNET_SPECS)}. Received: depth={depth!r}"
        )
    input_shape = blocks.check_family_arguments(
        width, num_classes, norm, activation, input_shape, rank=3, spatial_none=True
    )
    block_kind, blocks_per_stage = RESNET_SPECS[depth]
    block_fn = blocks.basic_block if block_kind == "basic" else blocks.bottleneck_block

    inputs = keras.Input(input_shape, name="input")
    x = blocks.conv_unit(inputs, width, 7, 2, activation, norm, "stem", "")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, block_count in enumerate(blocks_per_stage, start=1):
        filters = width * 2 ** (stage - 1)
        for block in range(1, block_count + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = block_fn(
                x, filters, strides, activation, norm, f"stage{stage}_block{block}", "projection"
            )
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = blocks.classifier(x, num_classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name or f"resnet{depth}")


build_imagenet_resnet.family = "imagenet_resnet"

for _arch, (_depth, _top1) in VARIANTS.items():
    blocks.register_variants(
        _arch, build_imagenet_resnet, {"depth": _depth}, PAPER, {**PUBLISHED, "value": _top1}
    )
