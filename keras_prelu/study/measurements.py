"""Measurements of one trained model on its dataset's test split, in inference mode.

    net, source = load_trained("runs/study/cells/prelu-seed0")
    measure(net, data, "prelu", fgsm_epsilon=0.01, attack_examples=2000)   # a JSON-able dict

- never-positive units: rectifier channels whose input is never positive on
  the test split (for ReLU these are dead units: output and gradient zero);
- idle slopes: PReLU channels negative on fewer than `IDLE_THRESHOLD` of the
  test inputs, whose slope gets (almost) no gradient;
- trainable parameters; final slope statistics (learned for PReLU, the fixed
  inference slope otherwise);
- the fraction of exactly-zero input gradients and FGSM accuracy, both in
  pixel space ([0, 1] images, the run's standardisation inside the model,
  adversarial images clipped to [0, 1]) on a fixed random subset of the test split.
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf

from keras_prelu import diagnostics
from keras_prelu.study.names import StudyError, fixed_slope
from keras_prelu.training import runs
from keras_prelu.utils.run_layout import MODEL_FILE, WEIGHTS_FILE

IDLE_THRESHOLD = 0.01
# Input gradients are taken on this many images at a time.
_GRADIENT_CHUNK = 250


def load_trained(run_dir):
    """The run's final model (or newest checkpoint): (model, "final model" or "checkpoint NAME")."""
    try:
        net, source = runs.RunDir(run_dir, writer=False).load_model()
    except FileNotFoundError as error:
        raise StudyError(str(error)) from None
    return net, "final model" if source in (MODEL_FILE, WEIGHTS_FILE) else source


@contextlib.contextmanager
def quiet_retracing():
    """Silence TensorFlow's retracing warnings: every cell's new model is compiled once, by design."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def pixel_model(model, mean, std):
    """`model` behind its standardisation, so attacks work on [0, 1] images."""
    inputs = keras.Input(tuple(model.inputs[0].shape[1:]), name="pixels")
    standardize = keras.layers.Normalization(
        mean=list(mean), variance=[float(s) ** 2 for s in std], axis=-1, name="standardize"
    )
    return keras.Model(inputs, model(standardize(inputs)), name="pixel_space")


def sample_test_split(data, limit, seed=0):
    """A fixed random subset of `limit` test images in [0, 1] (float32) and their labels.

    Random, not the first `limit`: some test splits are sorted by class.
    """
    split = data.split("test")
    if data.in_memory:
        images, labels = split
        n = len(labels)
        index = np.sort(np.random.default_rng(seed).choice(n, size=min(limit, n), replace=False))
        images, labels = np.asarray(images)[index], np.asarray(labels)[index]
    else:  # streamed splits: the first `limit` images
        import tensorflow_datasets as tfds

        parts = list(tfds.as_numpy(split.take(limit).batch(1024)))
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
    return np.asarray(images, np.float32) / data.scale, np.asarray(labels, np.int32)


def measure(model, data, activation, fgsm_epsilon=0.01, attack_examples=2000, batch_size=256):
    """Diagnostics of a trained model on `data`'s test split (see the module docstring); a JSON-able dict."""
    with quiet_retracing():
        report = diagnostics.measure_negative_fraction(
            model, data.eval_dataset(batch_size, split="test"), idle_threshold=IDLE_THRESHOLD
        )
        slopes = {name: {k: v[k] for k in ("mean", "min", "max", "count")}
                  for name, v in diagnostics.slope_statistics(model).items()}
        layers = {name: _layer_entry(layer, slopes.get(name, {})) for name, layer in report.layers.items()}
        attack = _attack_measurements(model, data, fgsm_epsilon, attack_examples, batch_size)
    channels = sum(v["channels"] for v in layers.values())
    learnable = sum(v["slopes"] for v in layers.values())
    never_positive = sum(v["never_positive"] for v in layers.values())
    idle = sum(v["idle"] for v in layers.values())
    return {
        "measured_with": {"fgsm_epsilon": fgsm_epsilon, "attack_examples": attack_examples,
                          "split": "test", "idle_threshold": IDLE_THRESHOLD},
        "activation": activation,
        "trainable_parameters": int(sum(int(np.prod(v.shape)) for v in model.trainable_variables)),
        "negative_fraction_examples": int(report.examples),
        "rectifier_channels": channels,
        "never_positive_fraction": never_positive / channels if channels else None,
        "idle_fraction": idle / learnable if learnable else None,
        "layers": layers,
        **attack,
        "slopes": slopes,
        "fixed_slope": fixed_slope(activation),
    }


def _layer_entry(layer, slope_stats):
    """One rectifier layer's measurements: channels, negative fractions, never-positive, dead, idle."""
    entry = {
        "kind": layer.kind,
        "channels": layer.channels,
        "negative_fraction": [round(float(v), 6) for v in layer.negative_fraction],
        "never_positive": int(np.sum(layer.positive_fraction == 0)),
        "dead": int(np.sum(layer.dead)),
        "slopes": 0,
        "idle": 0,
    }
    if layer.kind == "prelu":
        if slope_stats.get("count") == 1:
            # One slope for the layer: it learns from every channel's negative inputs.
            entry["slopes"] = 1
            entry["idle"] = int(float(np.mean(layer.negative_fraction)) < IDLE_THRESHOLD)
        else:
            entry["slopes"] = layer.channels
            entry["idle"] = int(np.sum(layer.idle))
    return entry


def _attack_measurements(model, data, fgsm_epsilon, attack_examples, batch_size):
    """Zero input gradients and the FGSM curve in pixel space, on a fixed test subset."""
    x, y = sample_test_split(data, attack_examples)
    wrapped = pixel_model(model, data.info.mean, data.info.std)
    zeros = 0.0
    for start in range(0, len(y), _GRADIENT_CHUNK):
        part = slice(start, start + _GRADIENT_CHUNK)
        fraction = diagnostics.zero_input_gradient_fraction(wrapped, x[part], y[part])
        zeros += fraction * len(y[part])
    epsilons = [0.0, fgsm_epsilon / 2, fgsm_epsilon, 2 * fgsm_epsilon]
    curve = diagnostics.fgsm_accuracy(wrapped, (x, y), epsilons, clip_values=(0.0, 1.0),
                                      batch_size=batch_size)
    return {
        "zero_input_gradient_fraction": zeros / len(y),
        "attack_examples": len(y),
        "fgsm": {"epsilons": curve.epsilons, "accuracy": curve.accuracy},
        "fgsm_accuracy": curve.accuracy[2],
    }
