"""The diagnostics measured the same way on every Keras backend (used by tests/test_backends.py).

    python tests/backend_checks.py WEIGHTS_DIR [--no-tensorflow]

runs in a child process with `KERAS_BACKEND` set (jax, torch): with
`--no-tensorflow` it first makes TensorFlow unimportable
(`sys.modules["tensorflow"] = None`), then imports keras, keras_prelu and
zoo, builds `models()`, loads their weights from `WEIGHTS_DIR/<name>.weights.h5`
(saved by the TensorFlow side), and prints one JSON line: `measure()`'s
numbers, what the callbacks recorded (they also write TensorBoard event files under
`WEIGHTS_DIR/logs-<backend>`) and what happened to the TensorFlow-only parts. The test process
(TensorFlow backend) calls `models()` and `measure()` itself, so both sides run
this very code on the same weights and data.
"""

import json
import os
import sys

if __name__ == "__main__" and "--no-tensorflow" in sys.argv:
    sys.modules["tensorflow"] = None  # before keras is imported: `import tensorflow` fails

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_prelu  # noqa: E402
import zoo  # noqa: E402
from keras_prelu import diagnostics  # noqa: E402
from keras_prelu.diagnostics import plots  # noqa: E402
from keras_prelu.utils.summaries import read_scalars  # noqa: E402

EPSILONS = [0.0, 0.05, 0.2, 0.5]
N, BATCH = 8, 4  # one batch shape everywhere: on JAX every new shape is a new XLA compilation


def models():
    """{name: model}: the zoo's MLP and a small conv net (Conv-BN-PReLU, a fused and a plain
    ReLU, a PReLU whose slopes are 0 on half its channels); outputs are logits."""
    keras.utils.set_random_seed(3)
    mlp = zoo.get("mlp3x256_prelu", input_shape=(8, 8, 1))
    inputs = keras.Input((8, 8, 3), name="image")
    h = keras.layers.Conv2D(6, 3, name="conv1")(inputs)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras_prelu.PReLU(name="prelu1")(h)
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv2")(h)
    h = keras.layers.ReLU(name="relu2")(h)
    h = keras.layers.Conv2D(4, 1, name="conv3")(h)
    h = keras_prelu.PReLU(name="prelu3")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    conv = keras.Model(inputs, keras.layers.Dense(3, name="logits")(h), name="small_cnn")
    return {"mlp": mlp, "conv": conv}


def prepare(models):
    """Weights the checks can tell apart (TensorFlow side, before saving): BN statistics away
    from (0, 1), half of one PReLU's slopes exactly 0 and one of those channels never positive."""
    rng = np.random.default_rng(5)
    conv = models["conv"]
    bn = conv.get_layer("bn1")
    bn.moving_mean.assign(rng.normal(0.0, 0.5, 6).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, 6).astype("float32"))
    conv.get_layer("prelu3").alpha.assign(np.array([0.0, 0.3, 0.0, 0.1], "float32"))
    # conv3 reads ReLU outputs (>= 0): a non-positive kernel and a negative bias keep its
    # channel 0 negative, so that channel (slope 0) is dead; channel 2 (slope 0) is not.
    conv3 = conv.get_layer("conv3")
    kernel = keras.ops.convert_to_numpy(conv3.kernel).copy()
    kernel[..., 0] = -np.abs(kernel[..., 0])
    conv3.kernel.assign(kernel)
    conv3.bias.assign(np.array([-0.1, 0.0, 0.0, 0.0], "float32"))


def data():
    """{name: (x, y)}: tiny NumPy data, fixed."""
    rng = np.random.default_rng(7)
    return {
        "mlp": (rng.normal(size=(N, 8, 8, 1)).astype("float32"), rng.integers(0, 10, N)),
        "conv": (rng.normal(size=(N, 8, 8, 3)).astype("float32"), rng.integers(0, 3, N)),
    }


def _negative_fractions(model, x, y):
    report = diagnostics.measure_negative_fraction(model, (x, y), batch_size=BATCH)
    return {
        "examples": report.examples,
        "dead_fraction": report.dead_fraction,
        "idle_fraction": report.idle_fraction,
        "layers": {
            name: {
                "negative": layer.negative_fraction.tolist(),
                "positive": layer.positive_fraction.tolist(),
                "dead": np.flatnonzero(layer.dead).tolist(),
            }
            for name, layer in report.layers.items()
        },
    }


def _stability(model, x, y, training):
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    report = diagnostics.stability_report(model, (x, y), loss=loss, training=training)
    return {
        "weight_grad_norms": [layer.grad_norm for layer in report.layers],
        "output_grad_norms": [layer.output_grad_norm for layer in report.layers],
        "balancing_slopes": [chain.balancing_slope for chain in report.chains],
    }


def _folding_error(model, x):
    """max |folded - model| on `x` (0.0 for a model without BatchNorm to fold)."""
    if not diagnostics.foldable_batchnorms(model):
        return 0.0
    folded = diagnostics.fold_batchnorm(model)
    return float(np.max(np.abs(folded.predict_on_batch(x) - model.predict_on_batch(x))))


def measure(models, data):
    """Every diagnostic on every model, as plain JSON numbers."""
    found = {}
    for name, model in models.items():
        x, y = data[name]
        found[name] = {
            "negative_fraction": _negative_fractions(model, x, y),
            "slopes": diagnostics.slope_statistics(model),
            "stability": _stability(model, x, y, training=False),
            "zero_input_gradient_fraction": diagnostics.zero_input_gradient_fraction(model, x, y),
            "fgsm": diagnostics.fgsm_accuracy(model, (x, y), EPSILONS, batch_size=BATCH).accuracy,
            "pgd": diagnostics.pgd_accuracy(
                model, (x, y), EPSILONS, steps=2, clip_values=(-3.0, 3.0), batch_size=BATCH
            ).accuracy,
            "bn_prelu_pairs": [
                [p.batchnorm, p.prelu, p.slope_mean] for p in diagnostics.find_bn_prelu_pairs(model)
            ],
            "foldable_batchnorms": [list(pair) for pair in diagnostics.foldable_batchnorms(model)],
            "folded_max_error": _folding_error(model, x[:BATCH]),
            "sculpt_removed": len(diagnostics.sculpt(model, tol=0.8).removed),
            # Last: in training mode TensorFlow's pass also updates BatchNorm's statistics.
            "stability_training": _stability(model, x, y, training=True),
        }
    curves = plots._activation_curves(["prelu"], np.linspace(-2.0, 2.0, 5))
    found["activation_derivatives"] = {label: dy.tolist() for label, _, _, _, dy in curves}
    return found


def _callbacks_run(model, x, y, log_dir):
    """One epoch of `fit` with both callbacks, writing TensorBoard event files under `log_dir`:
    what they recorded."""
    monitor = diagnostics.NegativeFractionMonitor((x, y), log_dir=log_dir)
    tracker = diagnostics.SlopeTracker(log_dir=log_dir)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=1, batch_size=N, verbose=0, callbacks=[monitor, tracker])
    return {
        "dead_fraction_logged": "dead_fraction" in history.history,
        "dead_fraction": history.history.get("dead_fraction"),
        "monitor_epochs": monitor.history["epoch"],
        "tracker_layers": sorted(tracker.history["slopes"]),
    }


def _tensorflow_only_parts():
    """How the TensorFlow-only parts fail here: {what: "ExceptionType: message"}."""
    found = {}
    for what, attempt in {
        "keras_prelu.training.Trainer": lambda: __import__("keras_prelu.training").training.Trainer,
        "read_scalars": lambda: read_scalars("unused-logs"),
    }.items():
        try:
            attempt()
            found[what] = None
        except Exception as error:  # noqa: BLE001 - reported to the test
            found[what] = f"{type(error).__name__}: {error}"
    return found


def main(weights_dir):
    built = models()
    for name, model in built.items():
        model.load_weights(os.path.join(weights_dir, f"{name}.weights.h5"))
    found = measure(built, data())
    x, y = data()["mlp"]
    found["log_dir"] = os.path.join(weights_dir, f"logs-{keras.backend.backend()}")
    found["callbacks"] = _callbacks_run(built["mlp"], x, y, found["log_dir"])
    found["backend"] = keras.backend.backend()
    found["tensorflow_only"] = _tensorflow_only_parts()
    found["tensorflow_imported"] = sys.modules.get("tensorflow") is not None
    print(json.dumps(found))


if __name__ == "__main__":
    main(sys.argv[1])
