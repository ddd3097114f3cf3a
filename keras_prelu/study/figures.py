"""The study's figures (DIR/figures/*.png) and one training run's figures (`keras-prelu plot`).

    make_figures(study)               # {label: path}: activations, loss curves, slopes, negative fractions, FGSM
    plot_run("runs/r20")              # loss curves, slopes, negative fractions of one run

Matplotlib is imported only when a figure is drawn (by keras_prelu.diagnostics.plots).
"""

import pathlib

import keras

from keras_prelu import diagnostics, layers
from keras_prelu.diagnostics import plots
from keras_prelu.study.aggregate import mean_series, pooled_slopes, slope_trajectories
from keras_prelu.study.cells import FIGURES, STATE_FILE, cell_results, read_measurements
from keras_prelu.study.measurements import IDLE_THRESHOLD, load_trained
from keras_prelu.study.names import StudyError, fixed_slope
from keras_prelu.training import data as data_lib
from keras_prelu.training import experiment, runs
from keras_prelu.utils.run_layout import CONFIG_INPUT_SHAPE, CONFIG_NUM_CLASSES


def initial_slopes(model, input_shape, num_classes):
    """Slope statistics of zoo model `model` as initialised (seed 0), per layer."""
    keras.utils.set_random_seed(0)
    net = experiment.build_model(model, input_shape, num_classes)
    return diagnostics.slope_statistics(net)


# -- the study's figures ------------------------------------------------------------------------
def make_figures(study):
    """The study's PNG figures in DIR/figures: {label: path}."""
    results = cell_results(study)
    folder = study.path / FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    figures = {
        "activations": plots.plot_activations(folder / "activations.png", _activation_curves(results)),
        "loss_curves": plots.plot_loss_curves(_loss_curves(results), folder / "loss_curves.png",
                                              size=(12.0, 4.5)),
    }
    for activation, cells in results.items():
        history = _slope_history(cells)
        if history is not None:
            figures[f"slopes_{activation}"] = plots.plot_slope_trajectories(
                history, folder / f"slopes_{activation}.png")
    for activation, cells in results.items():
        fractions = _pooled_negative_fractions(cells)
        if fractions:
            figures[f"negative_fraction_{activation}"] = plots.plot_negative_fractions(
                fractions, folder / f"negative_fraction_{activation}.png")
    figures["fgsm"] = plots.plot_robustness(_robustness(results), folder / "fgsm.png")
    return {label: pathlib.Path(path) for label, path in figures.items()}


def _activation_curves(results):
    """(label, activation) pairs of the activation figure: initial, learned and fixed slopes."""
    curves = []
    learnable = [a for a in results if fixed_slope(a) is None]
    if learnable:
        initial = layers.PReLU().initial_slope
        curves.append((f"{', '.join(learnable)} (initial a={initial:g})", learnable[0]))
    for activation, cells in results.items():
        slope = fixed_slope(activation)
        if slope is None:
            pooled = pooled_slopes(cells)
            if pooled is not None:
                curves.append((f"{activation} (learned mean a={pooled['mean']:.3f})",
                               layers.PReLU(alpha_initializer=pooled["mean"])))
        elif activation == "rrelu":
            curves.append((f"rrelu (inference a={slope:.3f})", activation))
        else:
            curves.append((f"{activation} (a={slope:g})", activation))
    return curves


def _loss_curves(results):
    """Seed-mean train and test loss, then accuracy, per activation."""
    curves = {}
    for metric, label in (("loss", "loss"), ("accuracy", "acc")):
        for activation, cells in results.items():
            histories = [c["history"] for c in cells]
            curves[f"{activation} train {label}"] = mean_series([h[metric] for h in histories])
            curves[f"{activation} test {label}"] = mean_series([h[f"val_{metric}"] for h in histories])
    return curves


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


def _pooled_negative_fractions(cells):
    """{layer: per-channel negative fractions of every seed}."""
    fractions = {}
    for cell in cells:
        for name, layer in cell["measurements"]["layers"].items():
            fractions.setdefault(name, []).extend(layer["negative_fraction"])
    return fractions


def _robustness(results):
    """{activation: {"epsilons", "accuracy" (seed mean)}} of the FGSM curves."""
    return {
        activation: {
            "epsilons": cells[0]["measurements"]["fgsm"]["epsilons"],
            "accuracy": mean_series([c["measurements"]["fgsm"]["accuracy"] for c in cells]),
        }
        for activation, cells in results.items()
    }


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
        figures["slopes"] = plots.plot_slope_trajectories(history, folder / "slopes.png")
    measurements = read_measurements(run.path)
    if measurements is not None:
        fractions = {name: layer["negative_fraction"] for name, layer in measurements["layers"].items()}
    elif measure_model:
        fractions = _measure_negative_fractions(run, config, data_dir, download, batch_size, stream)
    else:
        fractions = {}
    if fractions:
        figures["negative_fraction"] = plots.plot_negative_fractions(
            fractions, folder / "negative_fraction.png")
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
    """{layer: per-channel negative fractions} of the run's model on its dataset's test split."""
    settings = config["settings"]
    data = data_lib.load(settings["dataset"], data_dir=data_dir or settings.get("data_dir"),
                         download=settings.get("download", True) if download is None else download)
    data = data.with_normalization(config["dataset"]["mean"], config["dataset"]["std"])
    net, source = load_trained(run.path)
    if stream is not None:
        stream.write(f"measuring negative fractions of the {source} on "
                     f"{settings['dataset']} (test split)\n")
        stream.flush()
    report = diagnostics.measure_negative_fraction(
        net, data.eval_dataset(batch_size, split="test"), idle_threshold=IDLE_THRESHOLD)
    return {name: layer.negative_fraction for name, layer in report.layers.items()}
