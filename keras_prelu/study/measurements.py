"""Measurements of one trained model on its dataset's test split, in inference mode.

    net, source = load_trained("runs/study/cells/prelu-seed0")
    measure(net, data, "prelu", initial_slopes=initial, fgsm_epsilon=0.01)   # a JSON-able dict

- dead units: rectifier channels whose output gradient is zero on every test
  input: never positive, with a negative slope of exactly 0 (every such ReLU
  channel; a PReLU channel only if its learned slope is 0). Beside them the
  never-positive units (with a non-zero slope they still pass a gradient);
- idle slopes: PReLU channels negative on fewer than `IDLE_THRESHOLD` of the
  test inputs, whose slope gets (almost) no gradient;
- trainable parameters; final slopes (learned for PReLU, the fixed inference
  slope otherwise) and flexibility: how far the learned slopes moved from their
  initial values (`flexibility`);
- the fraction of exactly-zero input gradients and FGSM accuracy at
  `FGSM_MULTIPLES` of the budget, both in pixel space ([0, 1] images, the run's
  standardisation inside the model, adversarial images clipped to [0, 1]) on a
  fixed random subset of the test split.

`unit_tracker(limit)` gives the training code's epoch hook that records the
dead and never-positive shares after every epoch on the first `limit` test images.
"""

import contextlib
import dataclasses

import keras
import numpy as np

from keras_prelu import diagnostics
from keras_prelu.study.cells import MEASUREMENT_FORMAT
from keras_prelu.study.names import StudyError, fixed_slope
from keras_prelu.training import experiment, runs
from keras_prelu.utils.backends import is_tensorflow, loaded_tensorflow
from keras_prelu.utils.models import slope_variables
from keras_prelu.utils.run_layout import MODEL_FILE, WEIGHTS_FILE

IDLE_THRESHOLD = 0.01
#: Test images on which dead and never-positive units are tracked after every epoch.
TRACKED_EXAMPLES = 2000
#: Test images for the input gradients and FGSM unless told otherwise.
DEFAULT_ATTACK_EXAMPLES = 2000
#: A learned slope "moved" when it ends farther than this from its initial value.
MOVED_THRESHOLD = 0.05
#: FGSM budgets measured, as multiples of the study's epsilon.
FGSM_MULTIPLES = (0.0, 0.5, 1.0, 2.0, 4.0)
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
    tf = loaded_tensorflow()
    if tf is None:  # another backend: nothing retraces
        yield
        return
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
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    # keras.ops, not keras.layers.Normalization: a preprocessing layer asks for TensorFlow
    # wherever a `tensorflow` entry is in sys.modules, even under JAX.
    standardize = keras.layers.Lambda(lambda x: (x - mean) / std, name="standardize")
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


def test_batches(data, batch_size, limit=None):
    """The test split, standardised, for the diagnostics: a `tf.data.Dataset` of batches under
    TensorFlow, else in-memory `(x, y)` arrays; only the first `limit` images when given."""
    if is_tensorflow():
        batches = data.eval_dataset(batch_size, split="test")
        return batches if limit is None else batches.unbatch().take(limit).batch(batch_size)
    images, labels = data.split("test")
    images, labels = images[:limit], labels[:limit]
    return keras.ops.convert_to_numpy(data.normalize(images)), np.asarray(labels, np.int32)


def measure(model, data, activation, initial_slopes=None, fgsm_epsilon=0.01, attack_examples=2000,
            batch_size=256):
    """Diagnostics of a trained model on `data`'s test split (see the module docstring); a JSON-able dict.

    `initial_slopes`: {layer: per-channel slopes at initialisation} of the
    learnable layers, for the flexibility figures (None: not measured).
    """
    with quiet_retracing():
        report = diagnostics.measure_negative_fraction(
            model, test_batches(data, batch_size), idle_threshold=IDLE_THRESHOLD,
            batch_size=batch_size
        )
        slopes = {name: {k: v[k] for k in ("mean", "min", "max", "count")}
                  for name, v in diagnostics.slope_statistics(model).items()}
        layers = {name: _layer_entry(layer, slopes.get(name, {})) for name, layer in report.layers.items()}
        attack = _attack_measurements(model, data, fgsm_epsilon, attack_examples, batch_size)
    learnable = sum(v["slopes"] for v in layers.values())
    idle = sum(v["idle"] for v in layers.values())
    return {
        "measured_with": {"format": MEASUREMENT_FORMAT, "fgsm_epsilon": fgsm_epsilon,
                          "attack_examples": attack_examples, "split": "test",
                          "idle_threshold": IDLE_THRESHOLD,
                          "fgsm_multiples": list(FGSM_MULTIPLES),
                          "moved_threshold": MOVED_THRESHOLD},
        "activation": activation,
        "trainable_parameters": int(sum(int(np.prod(v.shape)) for v in model.trainable_variables)),
        "negative_fraction_examples": int(report.examples),
        **unit_shares(report),
        "idle_fraction": idle / learnable if learnable else None,
        "layers": layers,
        **attack,
        "slopes": slopes,
        "fixed_slope": fixed_slope(activation),
        "flexibility": flexibility(slope_values(model), initial_slopes),
    }


def slope_values(model):
    """{layer: the learned slopes as a float64 array} of the model's PReLU layers."""
    return {name: np.asarray(v.numpy(), np.float64).ravel()
            for name, v in slope_variables(model).items()}


def flexibility(final, initial):
    """How much learned slopes adapted: spread of the final slopes over channels and layers (sd),
    mean absolute distance from their initial values, and the share that moved more than
    `MOVED_THRESHOLD`. Fixed-slope models (no learned slope) give zeros; None without `initial`."""
    if not final:
        return {"spread": 0.0, "mean_shift": 0.0, "moved_share": 0.0, "slopes": 0}
    if initial is None:
        return None
    ends = np.concatenate([final[name] for name in final])
    starts = np.concatenate([np.broadcast_to(np.asarray(initial[name], np.float64).ravel(),
                                             final[name].shape) for name in final])
    shift = np.abs(ends - starts)
    return {"spread": float(np.std(ends)), "mean_shift": float(np.mean(shift)),
            "moved_share": float(np.mean(shift > MOVED_THRESHOLD)), "slopes": int(ends.size)}


def _layer_entry(layer, slope_stats):
    """One rectifier layer's measurements: channels, negative and positive fractions, never-positive,
    dead (zero gradient on every input), idle."""
    entry = {
        "kind": layer.kind,
        "channels": layer.channels,
        "negative_fraction": [round(float(v), 6) for v in layer.negative_fraction],
        "positive_fraction": [round(float(v), 6) for v in layer.positive_fraction],
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


def unit_shares(report):
    """The rectifier channels of a `NegativeFractionReport` and the shares of them that are dead
    (zero gradient on every input) and never positive, over all rectifier channels (None without
    any)."""
    layers = report.layers.values()
    channels = sum(layer.channels for layer in layers)
    dead = sum(int(np.sum(layer.dead)) for layer in layers)
    never = sum(int(np.sum(layer.positive_fraction == 0)) for layer in layers)
    return {"rectifier_channels": channels,
            "dead_fraction": dead / channels if channels else None,
            "never_positive_fraction": never / channels if channels else None}


def unit_tracker(limit=2000, batch_size=256):
    """The epoch hook of `keras_prelu.training.experiment.train` that records the shares of dead
    and never-positive rectifier units on the first `limit` test images (epoch 0: at initialisation)."""
    limit = int(limit)

    def track(model, data, epoch):
        with quiet_retracing():
            report = diagnostics.measure_negative_fraction(
                model, test_batches(data, batch_size, limit), batch_size=batch_size)
        shares = unit_shares(report)
        return {"dead_fraction": shares["dead_fraction"],
                "never_positive_fraction": shares["never_positive_fraction"],
                "tracked_examples": int(report.examples)}

    return track


def _attack_measurements(model, data, fgsm_epsilon, attack_examples, batch_size):
    """Zero input gradients and the FGSM curve in pixel space, on a fixed test subset."""
    x, y = sample_test_split(data, attack_examples)
    wrapped = pixel_model(model, data.info.mean, data.info.std)
    zeros = 0.0
    for start in range(0, len(y), _GRADIENT_CHUNK):
        part = slice(start, start + _GRADIENT_CHUNK)
        fraction = diagnostics.zero_input_gradient_fraction(wrapped, x[part], y[part])
        zeros += fraction * len(y[part])
    epsilons = [m * fgsm_epsilon for m in FGSM_MULTIPLES]
    curve = diagnostics.fgsm_accuracy(wrapped, (x, y), epsilons, clip_values=(0.0, 1.0),
                                      batch_size=batch_size)
    return {
        "zero_input_gradient_fraction": zeros / len(y),
        "attack_examples": len(y),
        "fgsm": {"epsilons": curve.epsilons, "accuracy": curve.accuracy},
        "fgsm_accuracy": curve.accuracy[FGSM_MULTIPLES.index(1.0)],
    }


def initial_slope_values(model, input_shape, num_classes, seed):
    """{layer: slopes} of zoo model `model` as initialised with `seed` (what training started from)."""
    keras.utils.set_random_seed(int(seed))
    return slope_values(experiment.build_model(model, input_shape, num_classes))


def bn_prelu_pairs(model):
    """The BatchNorm -> PReLU pairs of a trained model (scale and slope ranges), as JSON-able dicts."""
    return [dataclasses.asdict(pair) for pair in diagnostics.find_bn_prelu_pairs(model)]


def stability_at_init(model, info, batch):
    """Zoo model `model` at initialisation (seed 0) on one training batch: the gradient-norm ratio of
    the first to the last weight layer, the balancing slope a* of its longest chain of weight layers,
    the end-to-end gain and its status, and the flags of `diagnostics.stability_report`."""
    keras.utils.set_random_seed(0)
    net = experiment.build_model(model, info.image_shape, info.num_classes)
    with quiet_retracing():
        report = diagnostics.stability_report(
            net, batch, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    first, last = report.layers[0], report.layers[-1]
    chain = max(report.chains, key=lambda c: len(c.layers))
    return {
        "model": model,
        "grad_norm_first_last": (first.grad_norm / last.grad_norm) if last.grad_norm else None,
        "first_layer": first.name, "last_layer": last.name,
        "longest_chain": len(chain.layers),
        "balancing_slope": chain.balancing_slope,
        "negative_path_gain": chain.negative_path_gain,
        "end_to_end_gain": report.end_to_end_gain,
        "status": report.end_to_end_status,
        "flags": list(report.flags),
    }
