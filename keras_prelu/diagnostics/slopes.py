"""Track learned PReLU slopes during training.

    tracker = SlopeTracker()
    model.fit(x, y, epochs=10, callbacks=[tracker])
    tracker.history["slopes"]["prelu_1"]["mean"]   # one value per epoch
    json.dump(tracker.history, f)                  # plain floats and lists

`history["slopes"]` has the layout the plots take:
`{layer_name: {"mean": [...], "min": [...], "max": [...]}}`.
"""

import warnings

import keras
import numpy as np

from keras_prelu.diagnostics import _kinds
from keras_prelu.utils.models import named_layers
from keras_prelu.utils.validation import check_int
from keras_prelu.utils.summaries import SummaryLogger


class SlopeWarning(UserWarning):
    """A learned slope left (0, 1): not invertible (<= 0) or linear (>= 1)."""


def learnable_slope_layers(model):
    """(name, layer) for every layer with learnable slopes (PReLU), nested ones named `outer/inner`."""
    return [
        (name, layer)
        for name, layer in named_layers(model)
        if _kinds.has_learnable_slope(layer)
    ]


def slope_statistics(model, bins=10):
    """Per PReLU layer: mean, min, max and a histogram of its current slopes.

    Returns `{name: {"mean", "min", "max", "count", "histogram": {"edges", "counts"}}}`
    with plain Python numbers (JSON-serializable).
    """
    check_int("bins", bins, minimum=1)
    stats = {}
    for name, layer in learnable_slope_layers(model):
        if not layer.built:
            continue
        values = _kinds.slopes(layer)
        finite = values[np.isfinite(values)]
        if finite.size:
            counts, edges = np.histogram(finite, bins=bins)
        else:
            counts, edges = np.zeros(0), np.zeros(0)
        stats[name] = {
            # NaN statistics when any slope is not finite (a diverged training), never a crash
            "mean": float(values.mean()) if finite.size == values.size else float("nan"),
            "min": float(values.min()) if finite.size == values.size else float("nan"),
            "max": float(values.max()) if finite.size == values.size else float("nan"),
            "count": int(values.size),
            "non_finite": int(values.size - finite.size),
            "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
        }
    return stats


class SlopeTracker(keras.callbacks.Callback):
    """Callback: per PReLU layer, mean/min/max and a histogram of the slopes each epoch.

    Warns (`SlopeWarning`) when a layer's slopes reach <= 0 (PReLU is no longer
    strictly increasing, hence not invertible) or >= 1 (the unit has gone
    linear: a candidate for `sculpt`), once each time a layer enters such a
    state. `history` is JSON-serializable:

        {"epoch": [...],
         "slopes": {name: {"mean": [...], "min": [...], "max": [...]}},
         "histograms": {name: [{"edges": [...], "counts": [...]}, ...]}}

    Args:
        bins: histogram bins per layer and epoch.
        log_dir: TensorBoard log directory (scalars and histograms), or None.
        warn: emit `SlopeWarning`s.
        record_initial: also record the slopes before the first epoch, as epoch -1.
    """

    def __init__(self, bins=10, log_dir=None, warn=True, record_initial=False):
        super().__init__()
        self.bins = check_int("bins", bins, minimum=1)
        self.log_dir = None if log_dir is None else str(log_dir)
        self.warn = bool(warn)
        self.record_initial = bool(record_initial)
        self._summaries = SummaryLogger(self.log_dir)
        self._alarms = set()
        self.history = {"epoch": [], "slopes": {}, "histograms": {}}

    def on_train_begin(self, logs=None):
        if self.record_initial:
            self.record(self.model, epoch=-1)

    def on_epoch_end(self, epoch, logs=None):
        self.record(self.model, epoch=epoch)

    def on_train_end(self, logs=None):
        self._summaries.flush()

    def record(self, model, epoch):
        """Record the slopes of `model` now as `epoch`; returns that epoch's statistics."""
        stats = slope_statistics(model, self.bins)
        self.history["epoch"].append(int(epoch))
        for name, entry in stats.items():
            series = self.history["slopes"].setdefault(name, {"mean": [], "min": [], "max": []})
            for key in ("mean", "min", "max"):
                series[key].append(entry[key])
            self.history["histograms"].setdefault(name, []).append(entry["histogram"])
            if self.warn:
                self._check(name, entry, epoch)
        scalars = {}
        for name, entry in stats.items():
            scalars.update({f"{name}/{k}": entry[k] for k in ("mean", "min", "max")})
        if epoch >= 0:  # TensorBoard steps are epochs; the initial record is kept in `history` only
            histograms = {
                name: _kinds.slopes(layer)
                for name, layer in learnable_slope_layers(model)
                if layer.built
            }
            self._summaries.write(int(epoch), scalars, histograms, prefix="slopes/")
        return stats

    def _check(self, name, entry, epoch):
        conditions = {
            "non_finite": (
                entry["non_finite"] > 0,
                (
                    f"PReLU layer {name!r}: {entry['non_finite']} slope(s) are not finite at epoch "
                    f"{epoch}: the training has diverged (try a lower learning rate)."
                ),
            ),
            "non_positive": (
                entry["min"] <= 0.0,
                (
                    f"PReLU layer {name!r}: slope(s) <= 0 at epoch {epoch} (min {entry['min']:.4g}); "
                    "the unit is no longer strictly increasing, so not invertible. Consider "
                    "alpha_constraint='positive_slope'."
                ),
            ),
            "linear": (
                entry["max"] >= 1.0,
                (
                    f"PReLU layer {name!r}: slope(s) >= 1 at epoch {epoch} (max {entry['max']:.4g}); "
                    "the unit has gone linear (slope 1 is the identity). `sculpt` can remove "
                    "layers whose slopes are all near 1."
                ),
            ),
        }
        for condition, (active, message) in conditions.items():
            key = (name, condition)
            if active and key not in self._alarms:
                self._alarms.add(key)
                warnings.warn(message, SlopeWarning, stacklevel=2)
            elif not active:
                self._alarms.discard(key)
