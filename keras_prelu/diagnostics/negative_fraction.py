"""How often each rectifier channel sees negative inputs: idle slopes and dead units.

A PReLU slope only learns from negative inputs (df/da = x for x < 0, else 0),
so a channel whose pre-activations are almost never negative has an *idle*
slope; a ReLU channel whose pre-activations are never positive is *dead* (its
output and its gradient are zero on all the data).

    monitor = NegativeFractionMonitor(val_ds, log_dir="logs")
    model.fit(train_ds, epochs=5, callbacks=[monitor])
    monitor.history["dead_fraction"]          # one value per epoch
    report = monitor.measure(model, x_batch)  # standalone, a NegativeFractionReport
"""

import dataclasses
import warnings
import weakref

import keras
import numpy as np

from keras_prelu.utils.backends import is_tensorflow
from keras_prelu.utils.models import all_layers, variables_are_finite
from keras_prelu.utils.validation import check_int, check_number
from keras_prelu.diagnostics import _data, _graph, _kinds
from keras_prelu.utils.summaries import SummaryLogger


@dataclasses.dataclass
class LayerNegativeFraction:
    """Per-channel statistics of one rectifier layer's inputs.

    Attributes:
        name: layer name (`outer/inner` inside nested models, `name#k` for
            the k-th extra call of a shared layer).
        kind: "prelu" (learnable slope), "relu" or "leaky" (fixed slope).
        negative_fraction: per channel, the fraction of inputs below the
            layer's threshold (0 for all but `ReLU(threshold=...)`).
        positive_fraction: per channel, the fraction above the threshold.
        count: inputs seen per channel (examples x spatial positions).
        idle: per channel, a learnable slope that saw fewer than the
            threshold fraction of negative inputs (all False unless "prelu").
        dead: per channel, a unit whose gradient is zero on all the data:
            never positive and a negative slope of exactly 0 (a ReLU, or a
            PReLU channel whose learned slope is 0; never for fixed non-zero
            slopes).
    """

    name: str
    kind: str
    negative_fraction: np.ndarray
    positive_fraction: np.ndarray
    count: int
    idle: np.ndarray
    dead: np.ndarray

    @property
    def channels(self):
        return int(self.negative_fraction.shape[0])

    def to_dict(self):
        return {
            "name": self.name,
            "kind": self.kind,
            "channels": self.channels,
            "count": int(self.count),
            "mean_negative_fraction": float(np.mean(self.negative_fraction)),
            "negative_fraction": [float(v) for v in self.negative_fraction],
            "positive_fraction": [float(v) for v in self.positive_fraction],
            "idle_channels": [int(i) for i in np.flatnonzero(self.idle)],
            "dead_channels": [int(i) for i in np.flatnonzero(self.dead)],
        }


@dataclasses.dataclass
class NegativeFractionReport:
    """What one evaluation pass measured, per layer (`layers`, in graph order).

    `dead_fraction` is the share of dead channels among those that can die
    (ReLU and learnable-slope channels), `idle_fraction` the share of
    learnable-slope channels that are idle, both None when the model has no
    such channels; `never_positive_fraction` the share of all rectifier
    channels never positive on the data.
    """

    layers: dict
    idle_threshold: float
    examples: int

    def _share(self, kinds, flags_of):
        flags = [flags_of(layer) for layer in self.layers.values() if layer.kind in kinds]
        if not flags:
            return None
        return float(np.mean(np.concatenate(flags)))

    @property
    def dead_fraction(self):
        return self._share((_kinds.RELU, _kinds.PRELU), lambda layer: layer.dead)

    @property
    def idle_fraction(self):
        return self._share((_kinds.PRELU,), lambda layer: layer.idle)

    @property
    def never_positive_fraction(self):
        return self._share((_kinds.RELU, _kinds.PRELU, _kinds.LEAKY),
                           lambda layer: layer.positive_fraction == 0)

    @property
    def negative_fraction(self):
        """Mean over all monitored channels of their negative fraction."""
        if not self.layers:
            return None
        values = np.concatenate([layer.negative_fraction for layer in self.layers.values()])
        return float(np.mean(values))

    def scalars(self):
        """The summary numbers that go into Keras logs (None values left out)."""
        values = {
            "negative_fraction": self.negative_fraction,
            "dead_fraction": self.dead_fraction,
            "never_positive_fraction": self.never_positive_fraction,
            "idle_fraction": self.idle_fraction,
        }
        return {k: v for k, v in values.items() if v is not None}

    def to_dict(self):
        return {
            "examples": int(self.examples),
            "idle_threshold": self.idle_threshold,
            **{
                k: self.scalars().get(k)
                for k in ("negative_fraction", "dead_fraction", "never_positive_fraction",
                          "idle_fraction")
            },
            "layers": {name: layer.to_dict() for name, layer in self.layers.items()},
        }

    def to_markdown(self):
        rows = [
            "| layer | kind | channels | mean negative fraction | idle | dead |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for layer in self.layers.values():
            rows.append(
                f"| {layer.name} | {layer.kind} | {layer.channels} | "
                f"{np.mean(layer.negative_fraction):.3f} | {int(layer.idle.sum())} | "
                f"{int(layer.dead.sum())} |"
            )
        summary = ", ".join(f"{k} = {v:.3f}" for k, v in self.scalars().items())
        return "\n".join(rows) + f"\n\n{self.examples} examples; {summary}"

    def __str__(self):
        return self.to_markdown()


class _Counter:
    """A probe model to every rectifier input and a counting pass over the data: on TensorFlow
    one compiled pass over a `tf.data.Dataset`, elsewhere one `predict_on_batch` of the probe
    per NumPy batch (compiled by Keras on JAX), counted in NumPy."""

    def __init__(self, model):
        def select(layer):
            return _kinds.is_rectifier(layer)

        self.probe, self.names, layers = _graph.tap_model(model, select, where="input")
        self.rectifiers = [_kinds.rectifier(layer) for layer in layers]
        self.fused = _fused_rectifiers(model)
        if self.probe is None:
            self._count = None
            return
        shapes = [tuple(t.shape) for t in keras.tree.flatten(self.probe.outputs)]
        self.axes = [
            _kinds.channel_axis(info.layer, len(shape))
            for info, shape in zip(self.rectifiers, shapes, strict=True)
        ]
        for name, shape, axis in zip(self.names, shapes, self.axes, strict=True):
            if shape[axis] is None:
                raise ValueError(
                    "Cannot count per channel: the channel dimension of a rectifier's "
                    f"input is unknown. Received: layer={name!r}, input_shape={shape}"
                )
        self.channels = [shape[axis] for shape, axis in zip(shapes, self.axes, strict=True)]
        self._count = self._build() if is_tensorflow() else self._count_batches

    def _count_batches(self, batches):
        """The counts of `_build`'s compiled pass, on any backend, as NumPy int64 arrays."""
        negatives = [np.zeros((c,), np.int64) for c in self.channels]
        positives = [np.zeros((c,), np.int64) for c in self.channels]
        sizes = [0] * len(self.channels)
        examples = 0
        for x, _, _ in batches:
            outputs = self.probe.predict_on_batch(x)
            if not isinstance(outputs, (list, tuple)):
                outputs = [outputs]
            for i, value in enumerate(outputs):
                value = np.asarray(value)
                reduce = tuple(a for a in range(value.ndim) if a != self.axes[i])
                threshold = np.asarray(self.rectifiers[i].threshold, value.dtype)
                negatives[i] += np.sum(value < threshold, axis=reduce, dtype=np.int64)
                positives[i] += np.sum(value > threshold, axis=reduce, dtype=np.int64)
                sizes[i] += value.size // self.channels[i]
            examples += int(np.shape(keras.tree.flatten(x)[0])[0])
        return negatives, positives, sizes, examples

    def _build(self):
        import tensorflow as tf

        probe, axes, channels = self.probe, self.axes, self.channels
        thresholds = [info.threshold for info in self.rectifiers]

        def count_batch(x, negatives, positives, sizes):
            outputs = probe(x, training=False)
            if not isinstance(outputs, (list, tuple)):
                outputs = [outputs]
            new_neg, new_pos, new_size = [], [], []
            for i, value in enumerate(outputs):
                rank = len(value.shape)
                reduce = [a for a in range(rank) if a != axes[i]]
                below = tf.cast(value < thresholds[i], tf.int64)
                above = tf.cast(value > thresholds[i], tf.int64)
                new_neg.append(negatives[i] + tf.reduce_sum(below, axis=reduce))
                new_pos.append(positives[i] + tf.reduce_sum(above, axis=reduce))
                per_channel = tf.size(value, out_type=tf.int64) // channels[i]
                new_size.append(sizes[i] + per_channel)
            return tuple(new_neg), tuple(new_pos), tuple(new_size)

        @tf.function(reduce_retracing=True)
        def count(dataset):
            negatives = tuple(tf.zeros((c,), tf.int64) for c in channels)
            positives = tuple(tf.zeros((c,), tf.int64) for c in channels)
            sizes = tuple(tf.zeros((), tf.int64) for _ in channels)
            examples = tf.zeros((), tf.int64)
            for batch in dataset:
                x, _, _ = _data.unpack(batch)
                negatives, positives, sizes = count_batch(x, negatives, positives, sizes)
                examples += tf.cast(tf.shape(keras.tree.flatten(x)[0])[0], tf.int64)
            return negatives, positives, sizes, examples

        return count

    def __call__(self, data, batch_size, idle_threshold):
        if self._count is None:
            return NegativeFractionReport({}, idle_threshold, 0)
        if is_tensorflow():
            counts = self._count(_data.as_dataset(data, batch_size))
        else:
            counts = self._count(_data.batches(data, batch_size))
        negatives, positives, sizes, examples = (keras.tree.map_structure(np.asarray, c)
                                                 for c in counts)
        layers = {}
        for i, name in enumerate(self.names):
            size = int(sizes[i])
            denominator = max(size, 1)
            neg = negatives[i] / denominator
            pos = positives[i] / denominator
            kind = self.rectifiers[i].kind
            seen = size > 0
            idle = (
                (neg < idle_threshold)
                if (kind == _kinds.PRELU and seen)
                else np.zeros_like(neg, bool)
            )
            dead = (
                (positives[i] == 0) & _zero_slope(self.rectifiers[i], self.channels[i])
                if seen
                else np.zeros_like(neg, bool)
            )
            layers[name] = LayerNegativeFraction(name, kind, neg, pos, size, idle, dead)
        return NegativeFractionReport(layers, idle_threshold, int(examples))


def _zero_slope(info, channels):
    """Per channel, whether the rectifier's negative slope is exactly 0 (for every element of
    the channel, with per-element slopes)."""
    if info.kind == _kinds.RELU:
        return np.ones((channels,), bool)
    if info.kind != _kinds.PRELU:
        return np.zeros((channels,), bool)
    alpha = _kinds.to_numpy(info.layer.alpha)
    if alpha.size == 1:
        return np.full((channels,), alpha.item() == 0.0)
    if alpha.size % channels:
        return np.zeros((channels,), bool)
    axis = _kinds.channel_axis(info.layer, alpha.ndim + 1) - 1
    if alpha.shape[axis] != channels:
        return np.full((channels,), bool(np.all(alpha == 0.0)))
    return np.all(np.moveaxis(alpha, axis, -1).reshape(-1, channels) == 0.0, axis=0)


def _fused_rectifiers(model):
    """Names of Dense/Conv layers with a fused relu: their pre-activations cannot be tapped."""
    names = []
    for layer in all_layers(model):
        if hasattr(layer, "kernel") and _kinds.fused_slope(layer) not in (1.0, None):
            names.append(layer.name)
    return names


_COUNTERS = weakref.WeakKeyDictionary()


def _counter_for(model):
    counter = _COUNTERS.get(model)
    if counter is None:
        counter = _Counter(model)
        _COUNTERS[model] = counter
        if counter.fused:
            warnings.warn(
                "These layers apply a rectifier inside (activation='relu', ...), so their "
                "pre-activations are not monitored; use a separate activation layer: "
                f"{counter.fused}",
                stacklevel=3,
            )
    return counter


def measure_negative_fraction(model, data, idle_threshold=0.01, batch_size=128):
    """One inference pass over `data`: a `NegativeFractionReport`.

    `data` is a batched `tf.data.Dataset` or in-memory `x` / `(x, y)` (cut into
    batches of `batch_size`). Labels are ignored. On TensorFlow the pass is one
    compiled function over the dataset; on JAX and PyTorch it predicts batch by
    batch and counts in NumPy (the same counts).
    """
    idle_threshold = check_number("idle_threshold", idle_threshold, minimum=0.0, maximum=1.0)
    _data.check(data)
    return _counter_for(model)(data, batch_size, idle_threshold)


class NegativeFractionMonitor(keras.callbacks.Callback):
    """Callback: per rectifier channel, the fraction of negative pre-activations.

    At the end of every `frequency`-th epoch it runs one inference pass over
    `data` (a probe model from the inputs to every rectifier's input, counts
    accumulated per channel inside a `tf.function` on TensorFlow, per batch
    on JAX and PyTorch), then:

    - adds `negative_fraction`, `dead_fraction` (share of ReLU and PReLU
      channels never positive with a zero slope: no gradient), `never_positive_fraction`
      and `idle_fraction` (share of PReLU channels negative on fewer
      than `idle_threshold` of the inputs) to the epoch's logs, hence to
      `model.fit`'s History (keys present only when such channels exist);
    - appends to `history` (JSON-serializable: per-epoch scalars plus
      `history["layers"][name]` with per-channel fractions and flagged
      channels) and keeps the last `NegativeFractionReport` as `report`;
    - writes scalars and per-layer histograms under `log_dir` for TensorBoard.

    Args:
        data: evaluation data (a batched `tf.data.Dataset`, or `x` / `(x, y)`).
        idle_threshold: a slope is idle below this negative fraction (0.01).
        batch_size: batch size for in-memory `data`.
        log_dir: TensorBoard log directory, or None.
        frequency: measure every this many epochs.
    """

    def __init__(self, data=None, idle_threshold=0.01, batch_size=128, log_dir=None, frequency=1):
        super().__init__()
        self.data = data
        self.idle_threshold = check_number(
            "idle_threshold", idle_threshold, minimum=0.0, maximum=1.0
        )
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.frequency = check_int("frequency", frequency, minimum=1)
        self.log_dir = None if log_dir is None else str(log_dir)
        self._summaries = SummaryLogger(self.log_dir)
        self.report = None
        self.history = {
            "epoch": [],
            "negative_fraction": [],
            "dead_fraction": [],
            "idle_fraction": [],
            "layers": {},
        }

    def measure(self, model, data=None):
        """Measure now (no logging): a `NegativeFractionReport` for `data` (default: the monitor's)."""
        data = self.data if data is None else data
        if data is None:
            raise ValueError("No data to measure on: pass `data`. Received: data=None")
        return measure_negative_fraction(model, data, self.idle_threshold, self.batch_size)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.frequency:
            return
        if self.data is None:
            raise ValueError(
                "NegativeFractionMonitor needs evaluation data to run as a callback. "
                "Received: data=None"
            )
        if not variables_are_finite(self.model):
            warnings.warn(
                f"NegativeFractionMonitor: the model has non-finite weights at epoch {epoch}; "
                "its negative fractions (NaN is never negative) mean nothing: skipped.",
                RuntimeWarning, stacklevel=2,
            )
            return
        report = self.measure(self.model)
        self.report = report
        self._record(epoch, report)
        if logs is not None:
            logs.update(report.scalars())
        self._summaries.write(
            epoch,
            report.scalars(),
            {
                f"negative_fraction/{name}": layer.negative_fraction
                for name, layer in report.layers.items()
            },
            prefix="diagnostics/",
        )

    def on_train_end(self, logs=None):
        self._summaries.flush()

    def _record(self, epoch, report):
        history = self.history
        history["epoch"].append(int(epoch))
        history["negative_fraction"].append(report.negative_fraction)
        history["dead_fraction"].append(report.dead_fraction)
        history["idle_fraction"].append(report.idle_fraction)
        for name, layer in report.layers.items():
            entry = history["layers"].setdefault(
                name,
                {
                    "kind": layer.kind,
                    "mean_negative_fraction": [],
                    "negative_fraction": [],
                    "idle_channels": [],
                    "dead_channels": [],
                },
            )
            data = layer.to_dict()
            entry["mean_negative_fraction"].append(data["mean_negative_fraction"])
            entry["negative_fraction"].append(data["negative_fraction"])
            entry["idle_channels"].append(data["idle_channels"])
            entry["dead_channels"].append(data["dead_channels"])
