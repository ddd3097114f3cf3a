"""Figures as PNG files: activations, loss curves, slope trajectories, negative fractions, robustness.

Matplotlib is imported only when a figure is drawn (install it with
`pip install keras-prelu[plots]`); figures are drawn on the Agg canvas
directly, so no global backend is touched. Every function writes one PNG of
`size` inches at `dpi` (that many pixels exactly) and returns its path.

History input (`plot_loss_curves`, `plot_slope_trajectories`): a dict like

    {"loss": [...], "val_loss": [...], "accuracy": [...],
     "slopes": {layer_name: {"mean": [...], "min": [...], "max": [...]}}}

a `keras.callbacks.History`, a `SlopeTracker`, or the path of such a JSON file.
"""

import json
import os
import pathlib

import numpy as np
import tensorflow as tf

from keras_prelu import activations as factory

_DEFAULT_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "rrelu")


def _figure(size, dpi):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "keras_prelu.diagnostics.plots needs matplotlib: pip install 'keras-prelu[plots]'"
        ) from error
    figure = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path, dpi):
    path = pathlib.Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, format="png")
    return path


def _check_size(size, dpi):
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(
            f"`size` must be (width, height) in inches, both > 0. Received: size={size!r}"
        )
    if dpi <= 0:
        raise ValueError(f"`dpi` must be > 0. Received: dpi={dpi!r}")


def _integer_ticks(ax):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _load_history(history):
    """A plain dict from a dict, a History-like object, a SlopeTracker or a JSON path."""
    if isinstance(history, (str, os.PathLike)):
        with open(history) as f:
            history = json.load(f)
    if hasattr(history, "history") and not isinstance(history, dict):
        history = history.history
    if not isinstance(history, dict):
        raise ValueError(
            "Expected a history dict, a keras History, a SlopeTracker or a JSON path. "
            f"Received: history={type(history).__name__}"
        )
    return history


def _activation_curves(activations, x):
    curves = []
    for item in activations:
        label, layer = item if isinstance(item, tuple) else (None, item)
        if isinstance(layer, str):
            label = label or layer
            layer = factory.get_activation(layer)
        label = label or layer.name
        inputs = tf.constant(x.reshape(-1, 1), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs, training=False)
        derivative = tape.gradient(outputs, inputs)
        curves.append((label, np.asarray(outputs).ravel(), np.asarray(derivative).ravel()))
    return curves


def plot_activations(
    path, activations=_DEFAULT_ACTIVATIONS, x_range=(-3.0, 3.0), size=(9.0, 3.5), dpi=100
):
    """The activation functions (left) and their derivatives (right), computed by the layers themselves.

    `activations`: names for `keras_prelu.get_activation`, layers, or
    (label, layer) pairs. RReLU is drawn at its inference slope.
    """
    _check_size(size, dpi)
    if not activations:
        raise ValueError(f"`activations` must not be empty. Received: activations={activations!r}")
    low, high = x_range
    if not low < high:
        raise ValueError(
            f"`x_range` must be (low, high) with low < high. Received: x_range={x_range!r}"
        )
    figure = _figure(size, dpi)
    x = np.linspace(low, high, 601, dtype="float32")
    curves = _activation_curves(activations, x)
    left, right = figure.subplots(1, 2)
    for label, y, dy in curves:
        left.plot(x, y, label=label)
        right.plot(x, dy, label=label)
    left.set_title("f(x)")
    right.set_title("f'(x)")
    for ax in (left, right):
        ax.axhline(0, color="0.7", linewidth=0.8)
        ax.axvline(0, color="0.7", linewidth=0.8)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    left.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path, dpi)


def plot_loss_curves(history, path, size=(9.0, 3.5), dpi=100):
    """Loss curves (every `*loss` key) and, when present, accuracy curves (keys with `acc`)."""
    _check_size(size, dpi)
    history = _load_history(history)
    series = {
        k: v for k, v in history.items() if isinstance(v, (list, tuple)) and v and np.isscalar(v[0])
    }
    losses = {k: v for k, v in series.items() if k.endswith("loss")}
    accuracies = {k: v for k, v in series.items() if "acc" in k}
    if not losses and not accuracies:
        raise ValueError(
            f"The history has no loss or accuracy series. Received: keys={sorted(history)}"
        )
    figure = _figure(size, dpi)
    panels = [p for p in (("loss", losses), ("accuracy", accuracies)) if p[1]]
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, curves) in zip(axes, panels, strict=True):
        for name, values in curves.items():
            values = np.asarray(values, dtype="float64")
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=name)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        _integer_ticks(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path, dpi)


def _slope_series(history):
    history = _load_history(history)
    if "slopes" in history:
        slopes = history["slopes"]
    elif history and all(isinstance(v, dict) and "mean" in v for v in history.values()):
        slopes = history
    else:
        slopes = None
    if not isinstance(slopes, dict) or not slopes:
        raise ValueError(
            "No slopes to plot: expected history['slopes'] = {layer: {'mean': [...], "
            f"'min': [...], 'max': [...]}}. Received: keys={sorted(history)}"
        )
    epochs = history.get("epoch")
    parsed = {}
    for name, entry in slopes.items():
        if isinstance(entry, dict):
            if "mean" not in entry:
                raise ValueError(
                    f"Slope series need a 'mean' list. Received: layer={name!r}, keys={sorted(entry)}"
                )
            parsed[name] = {
                k: np.asarray(entry[k], "float64") for k in ("mean", "min", "max") if k in entry
            }
        else:
            parsed[name] = {"mean": np.asarray(entry, "float64")}
    return parsed, epochs


def plot_slope_trajectories(history, path, size=(7.0, 4.0), dpi=100):
    """Per layer, the mean slope per epoch with its min-max band (when present)."""
    _check_size(size, dpi)
    series, epochs = _slope_series(history)
    figure = _figure(size, dpi)
    ax = figure.subplots()
    for name, entry in series.items():
        mean = entry["mean"]
        # Epochs count from 1 as in Keras's logs; 0 is SlopeTracker's record before training.
        x = (
            np.asarray(epochs) + 1
            if epochs is not None and len(epochs) == len(mean)
            else np.arange(1, len(mean) + 1)
        )
        (line,) = ax.plot(x, mean, marker="o", markersize=3, label=name)
        if "min" in entry and "max" in entry and len(entry["min"]) == len(mean):
            ax.fill_between(x, entry["min"], entry["max"], color=line.get_color(), alpha=0.2)
    ax.axhline(0.0, color="0.6", linewidth=0.8, linestyle="--")
    ax.axhline(1.0, color="0.6", linewidth=0.8, linestyle="--")
    ax.set_xlabel("epoch")
    _integer_ticks(ax)
    ax.set_ylabel("slope a")
    ax.set_title("PReLU slopes (mean, min-max band)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=max(1, len(series) // 8))
    figure.tight_layout()
    return _save(figure, path, dpi)


def _fractions(data):
    """{layer: per-channel negative fractions} from a report, a monitor, or a dict."""
    if hasattr(data, "report") and not isinstance(data, dict):
        data = data.report
        if data is None:
            raise ValueError(
                "The monitor has not measured anything yet. Received: monitor.report=None"
            )
    if hasattr(data, "layers") and not isinstance(data, dict):
        data = data.layers
    if not isinstance(data, dict) or not data:
        raise ValueError(
            "Expected a NegativeFractionReport, a NegativeFractionMonitor or {layer: fractions}. "
            f"Received: {type(data).__name__}"
        )
    found = {}
    for name, value in data.items():
        if hasattr(value, "negative_fraction"):
            value = value.negative_fraction
        elif isinstance(value, dict):
            value = value["negative_fraction"]
        found[name] = np.asarray(value, "float64").ravel()
    return found


def plot_negative_fractions(fractions, path, bins=20, columns=4, size=None, dpi=100):
    """One histogram per layer of its channels' negative-input fractions (0 = never negative)."""
    data = _fractions(fractions)
    columns = max(1, min(columns, len(data)))
    rows = -(-len(data) // columns)
    size = size or (3.0 * columns, 2.4 * rows)
    _check_size(size, dpi)
    figure = _figure(size, dpi)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, (name, values) in zip(axes, data.items()):
        ax.hist(values, bins=bins, range=(0.0, 1.0), color="tab:blue", edgecolor="white")
        ax.set_title(name, fontsize="small")
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("negative fraction", fontsize="small")
    for ax in axes[len(data) :]:
        ax.set_visible(False)
    figure.tight_layout()
    return _save(figure, path, dpi)


def plot_robustness(curves, path, size=(6.0, 4.0), dpi=100):
    """Accuracy against epsilon for `RobustnessCurve`s (a list, or {label: curve})."""
    _check_size(size, dpi)
    items = list(curves.items()) if isinstance(curves, dict) else [(None, c) for c in curves]
    if not items:
        raise ValueError("`curves` must not be empty. Received: curves=[]")
    figure = _figure(size, dpi)
    ax = figure.subplots()
    for label, curve in items:
        curve = curve if isinstance(curve, dict) else curve.to_dict()
        ax.plot(
            curve["epsilons"], curve["accuracy"], marker="o", label=label or curve.get("attack")
        )
    ax.set_xlabel("epsilon (L-infinity)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path, dpi)
