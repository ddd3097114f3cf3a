"""Multi-layer perceptrons: `depth` hidden layers of `width` units, optional BatchNorm, dropout."""

import keras

from keras_prelu.utils.validation import check_int, check_number
from zoo import blocks

# name: (hidden layers, units per layer); mlp30x128 is deep enough to show (in)stability at init.
VARIANTS = {
    "mlp3x256": (3, 256),
    "mlp6x256": (6, 256),
    "mlp3x1024": (3, 1024),
    "mlp30x128": (30, 128),
}


def build_mlp(
    depth=3,
    width=256,
    activation="relu",
    norm="none",
    dropout=0.0,
    input_shape=(28, 28, 1),
    num_classes=10,
    classifier_activation=None,
    name=None,
):
    """Flatten, `depth` x (Dense(width) -> [BatchNorm] -> activation -> [Dropout]), classifier.

    Returns logits unless `classifier_activation` is set.
    """
    check_int("depth", depth, minimum=1)
    check_number("dropout", dropout, minimum=0.0, maximum=1.0, strict_maximum=True)
    input_shape = blocks.check_family_arguments(width, num_classes, norm, activation, input_shape)

    inputs = keras.Input(input_shape, name="input")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for layer in range(1, depth + 1):
        prefix = f"layer{layer}"
        x = blocks.dense(x, width, activation, norm, f"{prefix}_dense")
        x = blocks.normalize(x, norm, f"{prefix}_bn")
        x = blocks.act(x, activation, f"{prefix}_act")
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
    outputs = blocks.classifier(x, num_classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name or f"mlp{depth}x{width}")


build_mlp.family = "mlp"

for _arch, (_depth, _width) in VARIANTS.items():
    blocks.register_variants(_arch, build_mlp, {"depth": _depth, "width": _width})
