"""The study's figures (DIR/figures/*.png) and one training run's figures (`keras-prelu plot`).

    make_figures(study)               # {label: path}: activations, loss curves, dead units,
                                      # slopes, negative fractions, FGSM
    plot_run("runs/r20")              # loss curves, slopes, negative fractions of one run

Every study figure gives an activation the same colour (`ACTIVATION_COLOURS`); curves over
seeds are seed means with the 95% t-interval shaded (`keras_prelu.study.statistics`).
Matplotlib is imported only when a figure is drawn (by keras_prelu.diagnostics.plots).
"""

import pathlib

from keras_prelu import activations as activation_table
from keras_prelu import diagnostics, layers
from keras_prelu.diagnostics import plots
from keras_prelu.study.aggregate import pooled_slopes, slope_trajectories, tracked_series
from keras_prelu.study.cells import FIGURES, STATE_FILE, cell_results, read_measurements
from keras_prelu.study.measurements import (
    IDLE_THRESHOLD,
    initial_slope_values,
    load_trained,
    test_batches,
)
from keras_prelu.study.names import StudyError, fixed_slope
from keras_prelu.study.statistics import mean_interval
from keras_prelu.training import experiment, runs
from keras_prelu.utils.run_layout import CONFIG_INPUT_SHAPE, CONFIG_NUM_CLASSES


def initial_slopes(model, input_shape, num_classes):
    """Mean, min and max per layer of zoo model `model`'s slopes as initialised (seed 0)."""
    values = initial_slope_values(model, input_shape, num_classes, seed=0)
    return {name: {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
            for name, v in values.items()}


# -- colours -----------------------------------------------------------------------------------
#: matplotlib's tab10, in order: the activations' colours, then colours for other names.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
#: One colour per activation in every figure, in the order of `keras_prelu.activations.ACTIVATIONS`.
ACTIVATION_COLOURS = dict(zip((spec.name for spec in activation_table.ACTIVATIONS), PALETTE))
INITIAL_STYLE = {"color": "0.45", "linestyle": ":"}
TRAIN_TEST = {"train": "--", "test": "-"}


def activation_colours(names):
    """{name: colour}: `ACTIVATION_COLOURS` for known names, the palette's other colours in turn
    for the rest."""
    spare = [c for c in PALETTE if c not in ACTIVATION_COLOURS.values()] or list(PALETTE)
    colours, unknown = {}, 0
    for name in names:
        if name in ACTIVATION_COLOURS:
            colours[name] = ACTIVATION_COLOURS[name]
        else:
            colours[name] = spare[unknown % len(spare)]
            unknown += 1
    return colours


# -- the study's figures ------------------------------------------------------------------------
def make_figures(study, results=None):
    """The study's PNG figures in DIR/figures: {label: path} (`results`: its `cell_results`,
    read from the directory when not given)."""
    return draw_figures(cell_results(study) if results is None else results,
                        study.path / FIGURES)


def draw_figures(results, folder):
    """The figures of `cell_results` in `folder`: {label: path}, in the report's order."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    colours = activation_colours(results)
    n = max(len(cells) for cells in results.values())
    band = f"95% t-interval over {n} seeds" if n > 1 else None
    figures = {
        "activations": plots.plot_activations(folder / "activations.png",
                                              _activation_curves(results)),
        "loss_curves": plots.plot_bands(_loss_panels(results, colours), folder / "loss_curves.png",
                                        size=(12.0, 4.5), linestyles=TRAIN_TEST, band_label=band,
                                        legend=colours),
    }
    dead = _dead_unit_panels(results, colours)
    if dead:
        figures["dead_units"] = plots.plot_bands(dead, folder / "dead_units.png", size=(12.0, 4.5),
                                                 band_label=band, xlabel="epoch (0 = initial)",
                                                 legend=colours)
    for activation, cells in results.items():
        history = _slope_history(cells)
        if history is not None:
            figures[f"slopes_{activation}"] = plots.plot_slope_trajectories(
                history, folder / f"slopes_{activation}.png", title=_slope_title(activation, cells))
    for activation, cells in results.items():
        fractions = _pooled_negative_fractions(cells)
        if fractions:
            figures[f"negative_fraction_{activation}"] = plots.plot_negative_fractions(
                fractions, folder / f"negative_fraction_{activation}.png",
                title=_fraction_title(activation, cells), color=colours[activation])
    figures["fgsm"] = plots.plot_robustness(
        _robustness(results), folder / "fgsm.png", colors=colours,
        title=f"FGSM: mean over {n} seeds, bars = 95% t-interval" if n > 1 else "FGSM (one seed)")
    return {label: pathlib.Path(path) for label, path in figures.items()}


def _activation_curves(results):
    """(label, activation, style) triples of the activation figure: the initial slope of the
    learnable activations (grey, dotted), their learned mean slopes and the fixed slopes, each in
    its activation's colour."""
    colours = activation_colours(results)
    curves = []
    learnable = [a for a in results if fixed_slope(a) is None]
    if learnable:
        initial = layers.PReLU().initial_slope
        curves.append((f"{', '.join(learnable)} (initial a={initial:g})", learnable[0],
                       INITIAL_STYLE))
    for activation, cells in results.items():
        slope, style = fixed_slope(activation), {"color": colours[activation]}
        if slope is None:
            pooled = pooled_slopes(cells)
            if pooled is not None:
                curves.append((f"{activation} (learned mean a={pooled['mean']:.3f})",
                               layers.PReLU(alpha_initializer=pooled["mean"]), style))
        elif activation == "rrelu":
            curves.append((f"rrelu (inference a={slope:.3f})", activation, style))
        else:
            curves.append((f"{activation} (a={slope:g})", activation, style))
    return curves


# -- bands over seeds ---------------------------------------------------------------------------
def seed_band(values_per_x, scale=1.0, bounds=None):
    """{"mean", "low", "high"} lists (times `scale`) from per-x lists of per-seed values: the
    mean and 95% t-interval (`mean_interval`, clipped to `bounds`) at each x; None where there is none."""
    band = {"mean": [], "low": [], "high": []}
    for values in values_per_x:
        stats = mean_interval(values, bounds=bounds)
        low, high = stats["ci95"] or (None, None)
        for key, value in (("mean", stats["mean"]), ("low", low), ("high", high)):
            band[key].append(None if value is None else scale * value)
    return band


def _by_index(series_list):
    """Per index, the values of every series, cut to the shortest series."""
    length = min(len(s) for s in series_list)
    return [[s[i] for s in series_list] for i in range(length)]


def _by_key(pairs_list):
    """({key: values over the lists}, sorted keys) of lists of (key, value) pairs."""
    found = {}
    for pairs in pairs_list:
        for key, value in pairs:
            found.setdefault(key, []).append(value)
    return found, sorted(found)


def _loss_panels(results, colours):
    """Loss and accuracy (%) panels: per activation, train dashed and test solid, seed means."""
    panels = []
    for metric, title, scale, bounds in (("loss", "loss", 1.0, (0.0, float("inf"))),
                                         ("accuracy", "accuracy (%)", 100.0, (0.0, 1.0))):
        series = []
        for activation, cells in results.items():
            for split, key in (("train", metric), ("test", f"val_{metric}")):
                values = [c["history"].get(key) for c in cells]
                if all(values):
                    series.append({**seed_band(_by_index(values), scale, bounds), "label": activation,
                                   "color": colours[activation],
                                   "linestyle": TRAIN_TEST[split]})
        panels.append({"title": f"{metric} per epoch", "ylabel": title, "series": series})
    return [p for p in panels if p["series"]]


def _tracked_series(cells, key):
    """(epochs, band in %) of `history["tracked"][key]` over the cells that track it
    (`aggregate.tracked_series`); None without any value."""
    series = tracked_series(cells, key)
    if series is None:
        return None
    band = {"mean": [], "low": [], "high": []}
    for mean, interval in zip(series["mean"], series["ci95"], strict=True):
        low, high = interval or (None, None)
        for name, value in (("mean", mean), ("low", low), ("high", high)):
            band[name].append(None if value is None else 100.0 * value)
    return series["epoch"], band


def _dead_unit_panels(results, colours):
    """Dead and never-positive units per epoch (seed means, in %); [] when nothing is tracked."""
    tracking = [a for a, cells in results.items() if any(c["history"].get("tracked") for c in cells)]
    panels = []
    for key, title in (("dead_fraction", "dead units: never positive and slope 0"),
                       ("never_positive_fraction", "never-positive units")):
        series = []
        for activation in tracking:
            found = _tracked_series(results[activation], key)
            if found is not None:
                series.append({"x": found[0], **found[1], "label": activation,
                               "color": colours[activation]})
        title += _missing_note(tracking, series) + _all_zero_note(series)
        if series:
            panels.append({"title": title, "ylabel": "% of rectifier units", "series": series,
                           "floor": 0.0})
    return panels


def _all_zero_note(series):
    """A title line naming the activations at 0 in every epoch (their lines lie on each other)."""
    zero = [s["label"] for s in series if all(v == 0 for v in s["mean"] if v is not None)]
    return f"\n({', '.join(zero)}: 0 at every epoch)" if len(zero) > 1 else ""


def _missing_note(tracking, series):
    """A second title line naming the tracked activations a panel has no values for."""
    missing = [a for a in tracking if a not in {s["label"] for s in series}]
    fixed = [a for a in missing if fixed_slope(a)]
    others = [a for a in missing if a not in fixed]
    notes = ([f"{', '.join(fixed)}: fixed non-zero slope, cannot die"] if fixed else []) + (
        [f"not tracked for {', '.join(others)}"] if others else [])
    return f"\n({'; '.join(notes)})" if notes else ""


# -- slopes, negative fractions, FGSM -----------------------------------------------------------
def _slope_history(cells):
    """The slope-trajectory history of one activation's cells, from the initial slopes; None without slopes."""
    slopes = slope_trajectories(cells)
    if not slopes:
        return None
    config = cells[0]["config"]
    initial = initial_slopes(config["settings"]["model"], config[CONFIG_INPUT_SHAPE],
                             config[CONFIG_NUM_CLASSES])
    epochs = len(next(iter(slopes.values()))["mean"])
    for name, entry in slopes.items():
        start = initial.get(name)
        if start is not None:
            for key in ("mean", "min", "max"):
                entry[key] = [start[key]] + entry[key]
    history = {"slopes": slopes}
    if all(len(e["mean"]) == epochs + 1 for e in slopes.values()):
        history["epoch"] = list(range(-1, epochs))
    return history


def _shared_slopes(activation, cells):
    """Whether the activation learns one slope per layer (from the measured slope counts)."""
    counts = [s.get("count") for c in cells for s in c["measurements"].get("slopes", {}).values()]
    if counts and all(count is not None for count in counts):
        return all(count == 1 for count in counts)
    return activation.endswith("_shared")


def _slope_title(activation, cells):
    n = len(cells)
    if not _shared_slopes(activation, cells):
        seeds = f"{n} seeds" if n > 1 else "one seed"
        return f"{activation}: per-channel slopes, mean over channels and {seeds}; min and max"
    if n == 1:
        return f"{activation}: one slope per layer (one seed)"
    return f"{activation}: one slope per layer, mean over {n} seeds; min and max over seeds"


def _pooled_negative_fractions(cells):
    """{layer: {"negative_fraction", "positive_fraction"}}: per-channel fractions of every seed.

    Cells measured before positive fractions were recorded count a channel as never positive
    when its negative fraction is 1 (positive fraction taken as 1 - negative fraction).
    """
    fractions = {}
    for cell in cells:
        for name, layer in cell["measurements"]["layers"].items():
            negative = list(layer["negative_fraction"])
            positive = layer.get("positive_fraction")
            if positive is None or len(positive) != len(negative):
                positive = [1.0 - v for v in negative]
            pooled = fractions.setdefault(name, {"negative_fraction": [], "positive_fraction": []})
            pooled["negative_fraction"].extend(negative)
            pooled["positive_fraction"].extend(positive)
    return fractions


def _fraction_title(activation, cells):
    split = cells[0]["measurements"].get("measured_with", {}).get("split", "test")
    seeds = f"{len(cells)} seeds pooled" if len(cells) > 1 else "one seed"
    return f"{activation}: fraction of negative inputs per channel ({split} split, {seeds})"


def _robustness(results):
    """{activation: {"epsilons", "accuracy", "low", "high"}} of the FGSM curves: seed mean and
    95% t-interval per epsilon."""
    curves = {}
    for activation, cells in results.items():
        pairs = [zip(c["measurements"]["fgsm"]["epsilons"], c["measurements"]["fgsm"]["accuracy"])
                 for c in cells]
        values, epsilons = _by_key(pairs)
        band = seed_band([values[e] for e in epsilons], bounds=(0.0, 1.0))
        curves[activation] = {"epsilons": epsilons, **band, "attack": "fgsm"}
        curves[activation]["accuracy"] = curves[activation].pop("mean")
    return curves


# -- one run's figures --------------------------------------------------------------------------
def plot_run(run_dir, out=None, data_dir=None, download=None, measure_model=True, batch_size=256,
             stream=None):
    """Figures of one training run: loss curves and slope trajectories from `history.json`,
    negative-fraction histograms from the run's measurements (a study cell) or, with
    `measure_model`, by measuring its model on its dataset's test split.

    Written to `out` (default RUN_DIR/figures); returns {label: path}.
    """
    run = runs.RunDir(run_dir, writer=False)
    config, history = _read_run(run)
    folder = pathlib.Path(out) if out else run.path / FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    figures = {"loss_curves": plots.plot_loss_curves(history, folder / "loss_curves.png")}
    if history.get("slopes"):
        figures["slopes"] = plots.plot_slope_trajectories(
            history, folder / "slopes.png", title=f"{run.path.name}: slopes per layer")
    measurements = read_measurements(run.path)
    if measurements is not None:
        fractions = measurements["layers"]
    elif measure_model:
        fractions = _measure_negative_fractions(run, config, data_dir, download, batch_size, stream)
    else:
        fractions = {}
    if fractions:
        figures["negative_fraction"] = plots.plot_negative_fractions(
            fractions, folder / "negative_fraction.png",
            title=f"{run.path.name}: fraction of negative inputs per channel")
    return {label: pathlib.Path(path) for label, path in figures.items()}


def _read_run(run):
    """(config, history) of a run directory with at least one finished epoch, else StudyError."""
    if not run.path.is_dir():
        raise StudyError(f"no such run directory: {str(run.path)!r}")
    if (run.path / STATE_FILE).is_file():
        raise StudyError(f"{str(run.path)!r} is a study directory: its figures come with "
                         "`keras-prelu compare`; give one of its cells/<activation>-seed<k> runs")
    try:
        config = run.load_config()
    except FileNotFoundError:
        raise StudyError(f"{str(run.path)!r} is not a run directory (no config.json)") from None
    history = run.load_history()
    if not history.get("loss"):
        raise StudyError(f"run {str(run.path)!r} has no finished epoch yet (empty history.json)")
    return config, history


def _measure_negative_fractions(run, config, data_dir, download, batch_size, stream):
    """{layer: LayerNegativeFraction} of the run's model on its dataset's test split."""
    settings = config["settings"]
    data = experiment.load_data(settings["dataset"], data_dir=data_dir or settings.get("data_dir"),
                         download=settings.get("download", True) if download is None else download)
    data = data.with_normalization(config["dataset"]["mean"], config["dataset"]["std"])
    net, source = load_trained(run.path)
    if stream is not None:
        stream.write(f"measuring negative fractions of the {source} on "
                     f"{settings['dataset']} (test split)\n")
        stream.flush()
    report = diagnostics.measure_negative_fraction(
        net, test_batches(data, batch_size), idle_threshold=IDLE_THRESHOLD,
        batch_size=batch_size)
    return report.layers
