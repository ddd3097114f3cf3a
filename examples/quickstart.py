"""Quick start: a small convnet with per-channel PReLU on scikit-learn's bundled digits.

Runs offline in well under a minute on a CPU and prints the test accuracy and
what the slopes learned.

    python examples/quickstart.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import keras_prelu  # noqa: E402


def build_model(activation="prelu"):
    inputs = keras.Input((8, 8, 1))
    h = inputs
    for i, filters in enumerate([32, 64]):
        h = keras.layers.Conv2D(
            filters, 3, padding="same",
            kernel_initializer=keras_prelu.kernel_initializer_for(activation, seed=i),
        )(h)
        h = keras_prelu.get_activation(activation, name=f"act{i + 1}")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    return keras.Model(inputs, outputs)


def main():
    keras.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    model = build_model("prelu")
    model.compile(
        optimizer=keras_prelu.optimizers.get("adamw", learning_rate=3e-3, weight_decay=1e-4),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=64, epochs=15, verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy: {accuracy:.4f}")
    for name in ["act1", "act2"]:
        alpha = model.get_layer(name).alpha.numpy()
        print(f"{name}: slopes mean {alpha.mean():.3f}, min {alpha.min():.3f}, max {alpha.max():.3f}")


if __name__ == "__main__":
    main()
