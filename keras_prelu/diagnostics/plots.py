"""Figures as PNG files: activations, loss curves, bands over seeds, slope trajectories,
negative fractions, robustness.

Matplotlib is imported only when a figure is drawn (install it with
`pip install keras-prelu[plots]`); figures are drawn on the Agg canvas
directly, so no global backend is touched. Every function writes one PNG of
`size` inches at `dpi` (that many pixels exactly) and returns its path.
Colours are matplotlib's defaults unless given (a `colors` mapping, a
`color` argument or a per-series style), so that a caller can keep one
colour per thing across its figures.

History input (`plot_loss_curves`, `plot_slope_trajectories`): a dict like

    {"loss": [...], "val_loss": [...], "accuracy": [...],
     "slopes": {layer_name: {"mean": [...], "min": [...], "max": [...]}}}

a `keras.callbacks.History`, a `SlopeTracker`, or the path of such a JSON file.
"""

import json
import os
import pathlib

import numpy as np
from keras import ops

from keras_prelu import activations as factory
from keras_prelu import layers as layer_lib
from keras_prelu.diagnostics import _gradients

_DEFAULT_ACTIVATIONS = ("relu", "leaky_relu", "prelu", "rrelu")
#: The histogram colours of `plot_negative_fractions` for nearly-dead and never-positive channels.
# Neutral, so that they stand out against any series colour.
NEARLY_DEAD_COLOUR = "0.3"
NEVER_POSITIVE_COLOUR = "black"


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


def _integer_ticks(ax, axis="x", bins="auto"):
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(nbins=bins, integer=True))


def _floats(values):
    """A float64 array with None as NaN."""
    return np.asarray([np.nan if v is None else v for v in values], "float64")


def _bottom_legend(figure, handles, size):
    """One legend row (or more) under the panels; the panels' layout leaves room for it."""
    columns = min(len(handles), 8)
    rows = -(-len(handles) // columns)
    figure.legend(handles=handles, loc="lower center", ncol=columns, fontsize="small",
                  frameon=False)
    return min(0.4, (0.12 + 0.28 * rows) / size[1])


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


# -- activation functions -----------------------------------------------------------------------
def _activation_item(item):
    """(label, layer, style) of a name, a layer, (label, layer) or (label, layer, style)."""
    style = {}
    if isinstance(item, tuple):
        label, layer, *rest = item
        style = dict(rest[0]) if rest and rest[0] else {}
    else:
        label, layer = None, item
    if isinstance(layer, str):
        label = label or layer
        layer = factory.get_activation(layer)
    return label or layer.name, layer, style


def _activation_curves(activations, x):
    curves = []
    for item in activations:
        label, layer, style = _activation_item(item)
        inputs = x.reshape(-1, 1).astype("float32")
        outputs = ops.convert_to_numpy(layer(inputs, training=False))
        # Element-wise layers: the gradient of the sum is the derivative at each point.
        _, (derivative,), _ = _gradients.value_and_grad(
            lambda t, layer=layer: ops.sum(layer(t, training=False)), [inputs]
        )
        curves.append((label, layer, style, outputs.ravel(),
                       ops.convert_to_numpy(derivative).ravel()))
    return curves


def _training_range(left, right, x, label, layer, color):
    """RReLU's training-time slopes a ~ U(lower, upper): the band lower*x..upper*x for x < 0."""
    lower, upper = float(layer.lower), float(layer.upper)
    negative = x[x <= 0]
    name = label.split(" (")[0]
    left.fill_between(negative, lower * negative, upper * negative, color=color, alpha=0.22,
                      linewidth=0, label=f"{name} training range, a in [{lower:.3g}, {upper:.3g}]")
    right.fill_between(negative, lower, upper, color=color, alpha=0.22, linewidth=0)


def plot_activations(path, activations=_DEFAULT_ACTIVATIONS, x_range=(-3.0, 3.0),
                     size=(9.0, 3.5), dpi=100, training_range=True):
    """The activation functions (left) and their derivatives (right), computed by the layers themselves.

    `activations`: names for `keras_prelu.get_activation`, layers, (label, layer)
    pairs, or (label, layer, style) with `style` a dict of line keywords
    (color, linestyle, ...). RReLU is drawn at its inference slope; with
    `training_range`, the range of its random training slopes is shaded in
    its colour.
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
    left, right = figure.subplots(1, 2)
    for label, layer, style, y, dy in _activation_curves(activations, x):
        (line,) = left.plot(x, y, label=label, **style)
        right.plot(x, dy, label=label, **style)
        if training_range and isinstance(layer, layer_lib.RReLU):
            _training_range(left, right, x, label, layer, line.get_color())
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


# -- loss curves and bands over seeds -----------------------------------------------------------
def plot_loss_curves(history, path, size=(9.0, 3.5), dpi=100, colors=None):
    """Loss curves (every `*loss` key) and, when present, accuracy curves (keys with `acc`).

    A series and its `val_` twin share a colour (`colors`: {series name
    without "val_": colour}, else matplotlib's cycle): training dashed,
    validation solid.
    """
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
        bases = list(dict.fromkeys(k.removeprefix("val_") for k in curves))
        colours = {b: (colors or {}).get(b, f"C{i}") for i, b in enumerate(bases)}
        for name, values in curves.items():
            values = _floats(values)
            validation = name.startswith("val_")
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=name,
                    color=colours[name.removeprefix("val_")], linestyle="-" if validation else "--")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        _integer_ticks(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path, dpi)


def _draw_series(ax, series):
    mean = _floats(series["mean"])
    x = np.asarray(series.get("x", np.arange(1, len(mean) + 1)), "float64")
    color = series.get("color")
    ax.plot(x, mean, color=color, linestyle=series.get("linestyle", "-"), marker="o",
            markersize=2.5, linewidth=1.5)
    if series.get("low") is not None and series.get("high") is not None:
        low, high = _floats(series["low"]), _floats(series["high"])
        ax.fill_between(x, low, high, color=color, alpha=0.12, linewidth=0)


def _band_legend(panels, linestyles, band_label, legend):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    labels = {}
    for panel in panels:
        for series in panel["series"]:
            labels.setdefault(series.get("label"), series.get("color"))
    if legend is not None:
        labels = {k: legend[k] for k in legend if k in labels}
    handles = [Line2D([], [], color=c, linewidth=2.5, label=k) for k, c in labels.items() if k]
    handles += [Line2D([], [], color="0.35", linestyle=s, label=k)
                for k, s in (linestyles or {}).items()]
    if band_label:
        handles.append(Patch(color="0.35", alpha=0.25, label=band_label))
    return handles


def plot_bands(panels, path, size=(12.0, 4.5), dpi=100, linestyles=None, band_label=None,
               xlabel="epoch", title=None, legend=None):
    """Side-by-side panels of mean lines with shaded bands (e.g. means over seeds with intervals).

    `panels`: a list of {"title", "ylabel", "series": [series, ...]} with an
    optional "floor" (the lowest possible value: the y axis starts just below
    it, e.g. 0 for percentages whose intervals reach below 0); a series is
    {"mean": [...]} with optional "x" (default 1, 2, ...), "low" and "high"
    (the band; None or NaN entries leave gaps), "label", "color" and
    "linestyle". One legend under the panels: a line per distinct label in
    its colour (in the order of `legend`, {label: colour}, when given), then
    `linestyles` ({name: linestyle}, e.g. {"train": "--"}) in grey and, with
    `band_label`, what the shading means.
    """
    _check_size(size, dpi)
    if not panels or not any(p.get("series") for p in panels):
        raise ValueError(f"`panels` must hold at least one series. Received: panels={panels!r}")
    figure = _figure(size, dpi)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        for series in panel["series"]:
            _draw_series(ax, series)
        if panel.get("floor") is not None:  # bands may reach below it; the values cannot
            floor, high = panel["floor"], ax.get_ylim()[1]
            ax.set_ylim(floor - 0.03 * (high - floor), high)
        ax.set_title(panel.get("title", ""), fontsize="medium")
        ax.set_ylabel(panel.get("ylabel", ""))
        ax.set_xlabel(xlabel)
        _integer_ticks(ax)
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    bottom = _bottom_legend(figure, _band_legend(panels, linestyles, band_label, legend), size)
    figure.tight_layout(rect=(0, bottom, 1, 1))
    return _save(figure, path, dpi)


# -- slope trajectories -------------------------------------------------------------------------
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
            parsed[name] = {k: _floats(entry[k]) for k in ("mean", "min", "max") if k in entry}
        else:
            parsed[name] = {"mean": _floats(entry)}
    return parsed, epochs


def _zoom(ax, arrays, margin=0.08):
    """y limits around the finite values of `arrays`, with a margin (not 0..1)."""
    values = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.zeros(0)
    values = values[np.isfinite(values)]
    if not values.size:
        return
    low, high = float(values.min()), float(values.max())
    pad = margin * (high - low) if high > low else max(0.02 * abs(high), 0.01)
    ax.set_ylim(low - pad, high + pad)


def _layer_colours(count, colormap):
    from matplotlib import colormaps

    cmap = colormaps[colormap] if isinstance(colormap, str) else colormap
    # The palest end of sequential maps (viridis' yellow) is hard to see on white.
    return [cmap(v) for v in np.linspace(0.0, 0.85, count)] if count > 1 else [cmap(0.35)]


def _layer_colourbar(figure, axes, colours):
    """A colourbar of layer depth in place of a legend of many layers."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    count = len(colours)
    norm = BoundaryNorm(np.arange(0.5, count + 1.5), count)
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=ListedColormap(colours)), ax=list(axes),
                          pad=0.02, fraction=0.04, aspect=30)
    bar.set_ticks(sorted({1, count, *range(5, count, 5)}))
    bar.set_label("layer (1 = nearest the input)", fontsize="small")
    bar.ax.tick_params(labelsize="small")


def _slope_x(epochs, length):
    # Epochs count from 1 as in Keras's logs; 0 is SlopeTracker's record before training.
    if epochs is not None and len(epochs) == length:
        return np.asarray(epochs, "float64") + 1
    return np.arange(1, length + 1)


def _slope_ranges(ax, ranged, colours, epochs):
    alpha = 0.12 if len(ranged) <= 4 else max(0.03, 0.5 / len(ranged))
    for name, entry in ranged.items():
        x = _slope_x(epochs, len(entry["mean"]))
        ax.fill_between(x, entry["min"], entry["max"], color=colours[name], alpha=alpha, linewidth=0)
        for key in ("min", "max"):
            ax.plot(x, entry[key], color=colours[name], linewidth=0.9, alpha=0.8)
    _zoom(ax, [e[k] for e in ranged.values() for k in ("min", "max")])
    ax.set_title("min and max per layer", fontsize="small")


def plot_slope_trajectories(history, path, size=None, dpi=100, title=None, colormap="viridis",
                            max_legend=8):
    """Per layer, the mean slope per epoch (left) and, when the history has them and they
    differ, its min and max (right), each on a y axis fitted to its data.

    Layers are coloured along `colormap` in their order (input to output);
    up to `max_legend` layers get a legend, more a colourbar. `size`
    defaults to (11, 4) inches with min and max, else (7, 4).
    """
    series, epochs = _slope_series(history)
    ranged = {n: e for n, e in series.items()
              if "min" in e and "max" in e and len(e["min"]) == len(e["max"]) == len(e["mean"])}
    if not any(np.nanmax(e["max"] - e["min"], initial=0.0) > 0 for e in ranged.values()):
        ranged = {}  # min = max everywhere (one shared slope, one run): nothing to add
    size = size or ((11.0, 4.0) if ranged else (7.0, 4.0))
    _check_size(size, dpi)
    figure = _figure(size, dpi)
    axes = figure.subplots(1, 2 if ranged else 1, squeeze=False)[0]
    colours = dict(zip(series, _layer_colours(len(series), colormap), strict=True))
    for name, entry in series.items():
        axes[0].plot(_slope_x(epochs, len(entry["mean"])), entry["mean"], marker="o",
                     markersize=3, label=name, color=colours[name])
    _zoom(axes[0], [e["mean"] for e in series.values()])
    axes[0].set_title("mean per layer", fontsize="small")
    if ranged:
        _slope_ranges(axes[1], ranged, colours, epochs)
    initial = epochs is not None and len(epochs) and min(epochs) < 0
    for ax in axes:
        for reference in (0.0, 1.0):
            ax.axhline(reference, color="0.6", linewidth=0.8, linestyle="--")
        ax.set_xlabel("epoch (0 = initial)" if initial else "epoch")
        _integer_ticks(ax)
        ax.set_ylabel("slope a")
        ax.grid(alpha=0.3)
    figure.suptitle(title or "PReLU slopes per layer")
    if len(series) <= max_legend:
        axes[0].legend(fontsize="small", ncol=1 if len(series) <= 4 else 2)
        figure.tight_layout()
    else:
        figure.tight_layout(rect=(0, 0, 0.9, 1))
        _layer_colourbar(figure, axes, list(colours.values()))
    return _save(figure, path, dpi)


# -- negative fractions -------------------------------------------------------------------------
def _layer_fractions(value):
    """(negative, positive or None) per-channel fractions of one layer's entry."""
    positive = None
    if hasattr(value, "negative_fraction"):
        positive = getattr(value, "positive_fraction", None)
        value = value.negative_fraction
    elif isinstance(value, dict):
        positive = value.get("positive_fraction")
        value = value["negative_fraction"]
    negative = np.asarray(value, "float64").ravel()
    if positive is not None:
        positive = np.asarray(positive, "float64").ravel()
        if positive.shape != negative.shape:
            positive = None
    return negative, positive


def _fractions(data):
    """{layer: (negative, positive or None)} from a report, a monitor, or a dict."""
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
    return {name: _layer_fractions(value) for name, value in data.items()}


def channel_groups(negative, positive=None, nearly_dead=0.99):
    """Boolean masks (sometimes positive, nearly dead, never positive) of a layer's channels.

    Never positive: a positive fraction of 0 (without positive fractions: a
    negative fraction of 1). Nearly dead: sometimes positive, yet negative at
    least `nearly_dead` of the time.
    """
    negative = np.asarray(negative, "float64")
    never = positive == 0 if positive is not None else negative >= 1.0
    never = np.asarray(never, bool)
    near = ~never & (negative >= nearly_dead)
    return ~never & ~near, near, never


def _histogram(ax, negative, positive, bins, color, nearly_dead):
    rest, near, never = channel_groups(negative, positive, nearly_dead)
    width = 1.0 / bins
    ax.hist([negative[rest], negative[near]], bins=bins, range=(0.0, 1.0), stacked=True,
            color=[color, NEARLY_DEAD_COLOUR], edgecolor="white", linewidth=0.5)
    spot = 1.0 + 3.5 * width
    ax.bar(spot, int(never.sum()), width=2.0 * width, facecolor="white", hatch="////",
           edgecolor=NEVER_POSITIVE_COLOUR, linewidth=0.8)
    ax.axvline(1.0 + 1.25 * width, color="0.6", linewidth=0.8, linestyle=":")
    ax.set_xlim(0.0, spot + 1.5 * width)
    ax.set_xticks([0.0, 0.5, 1.0, spot], ["0", "0.5", "1", "never\npos."])
    ax.tick_params(labelsize="small")
    ax.set_ylim(0, max(1, ax.get_ylim()[1]))
    _integer_ticks(ax, "y", bins=5)
    return int(never.sum()), int(near.sum()), len(negative)


def _histogram_legend(color, nearly_dead):
    from matplotlib.patches import Patch

    return [
        Patch(color=color, label="sometimes positive"),
        Patch(color=NEARLY_DEAD_COLOUR,
              label=f"nearly dead (negative on ≥ {nearly_dead:.0%} of inputs, sometimes positive)"),
        Patch(facecolor="white", hatch="////", edgecolor=NEVER_POSITIVE_COLOUR,
              label="never positive (the separate bar)"),
    ]


def plot_negative_fractions(fractions, path, bins=20, columns=4, size=None, dpi=100, title=None,
                            color="tab:blue", nearly_dead=0.99):
    """One histogram per layer of its channels' negative-input fractions (0 = never negative).

    Channels that are never positive are not in the histogram: they are
    counted in a separate hatched bar at the right; channels sometimes
    positive but negative at least `nearly_dead` of the time are stacked in
    their own colour. Each subplot's title gives both counts; `title` is the
    figure's. Layers are laid out `columns` to a row.
    """
    data = _fractions(fractions)
    columns = max(1, min(columns, len(data)))
    rows = -(-len(data) // columns)
    header = 0.5 + (0.3 if title else 0.0)
    size = size or (3.0 * columns, 2.4 * rows + header)
    _check_size(size, dpi)
    figure = _figure(size, dpi)
    axes = figure.subplots(rows, columns, squeeze=False)
    for i, (ax, (name, (negative, positive))) in enumerate(zip(axes.ravel(), data.items())):
        never, near, total = _histogram(ax, negative, positive, bins, color, nearly_dead)
        ax.set_title(f"{name}\n{never} never positive, {near} nearly dead, of {total}",
                     fontsize="small")
        if i % columns == 0:
            ax.set_ylabel("channels", fontsize="small")
        if i + columns >= len(data):
            ax.set_xlabel("fraction of negative inputs", fontsize="small")
    for ax in axes.ravel()[len(data):]:
        ax.set_visible(False)
    if title:
        figure.suptitle(title)
    figure.legend(handles=_histogram_legend(color, nearly_dead), loc="lower center",
                  ncol=3, fontsize="small", frameon=False)
    # Room in inches, whatever the height: the legend below, the title above.
    top = 1 - (0.35 / size[1] if title else 0.0)
    figure.tight_layout(rect=(0, min(0.4, 0.4 / size[1]), 1, top))
    return _save(figure, path, dpi)


# -- robustness ---------------------------------------------------------------------------------
def _robustness_items(curves):
    items = list(curves.items()) if isinstance(curves, dict) else [(None, c) for c in curves]
    if not items:
        raise ValueError("`curves` must not be empty. Received: curves=[]")
    return [(label, c if isinstance(c, dict) else c.to_dict()) for label, c in items]


def _error_bars(curve, accuracy):
    if curve.get("low") is None or curve.get("high") is None:
        return None
    low, high = 100 * _floats(curve["low"]), 100 * _floats(curve["high"])
    if not np.isfinite(low).any():
        return None
    return np.nan_to_num(np.stack([accuracy - low, high - accuracy]), nan=0.0)


def plot_robustness(curves, path, size=(6.0, 4.0), dpi=100, colors=None, title=None):
    """Accuracy (%) against epsilon for `RobustnessCurve`s (a list, or {label: curve}).

    A curve dict may carry "low" and "high" (accuracies, like "accuracy"):
    drawn as error bars, the curves shifted a little sideways so that bars at
    the same epsilon do not hide each other. `colors`: {label: colour}. The y
    axis is fitted to the data (and its bars).
    """
    _check_size(size, dpi)
    items = _robustness_items(curves)
    figure = _figure(size, dpi)
    ax = figure.subplots()
    epsilons = np.unique(np.concatenate([_floats(c["epsilons"]) for _, c in items]))
    step = np.min(np.diff(epsilons)) if len(epsilons) > 1 else 1.0
    shown = []
    for i, (label, curve) in enumerate(items):
        accuracy = 100 * _floats(curve["accuracy"])
        errors = _error_bars(curve, accuracy)
        shift = (i - (len(items) - 1) / 2) * 0.12 * step / max(1, len(items) - 1)
        x = _floats(curve["epsilons"]) + (shift if errors is not None else 0.0)
        ax.errorbar(x, accuracy, yerr=errors, marker="o", markersize=4, capsize=3, linewidth=1.5,
                    color=(colors or {}).get(label), label=label or curve.get("attack"))
        shown.append(accuracy if errors is None else np.concatenate(
            [accuracy - errors[0], accuracy + errors[1]]))
    values = np.concatenate(shown)
    values = values[np.isfinite(values)]
    if values.size:
        pad = max(2.0, 0.08 * (values.max() - values.min()))
        ax.set_ylim(max(0.0, values.min() - pad), min(100.0, values.max() + pad))
    ax.set_xticks(epsilons)
    ax.set_xlabel("epsilon (L-infinity)")
    ax.set_ylabel("accuracy (%)")
    if title:
        ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path, dpi)
