"""keras_prelu.diagnostics.plots: real, non-blank PNGs of the expected size; matplotlib stays optional."""

import json

import keras
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from conftest import check_png, run_python
from keras_prelu import PReLU
from keras_prelu.diagnostics import (
    NegativeFractionMonitor,
    RobustnessCurve,
    SlopeTracker,
    measure_negative_fraction,
    plots,
)


def test_activation_figure(tmp_path):
    path = plots.plot_activations(tmp_path / "act.png", size=(6, 3), dpi=80)
    check_png(path, 480, 240)


def test_activation_figure_with_layers_and_labels(tmp_path):
    path = plots.plot_activations(
        tmp_path / "sub" / "act.png",
        activations=[("PReLU a=0.6", PReLU(alpha_initializer=0.6)), "relu"],
        x_range=(-1, 1),
        size=(4, 2),
        dpi=50,
    )
    check_png(path, 200, 100)


HISTORY = {
    "loss": [1.2, 0.8, 0.6, 0.5],
    "val_loss": [1.3, 0.9, 0.8, 0.75],
    "accuracy": [0.5, 0.7, 0.8, 0.85],
    "slopes": {
        "prelu_1": {
            "mean": [0.25, 0.3, 0.35, 0.4],
            "min": [0.25, 0.2, 0.1, 0.05],
            "max": [0.25, 0.4, 0.6, 0.7],
        },
        "prelu_2": {
            "mean": [0.25, 0.22, 0.2, 0.18],
            "min": [0.25, 0.2, 0.15, 0.1],
            "max": [0.25, 0.25, 0.3, 0.3],
        },
    },
}


def test_loss_curves_from_dict_and_json(tmp_path):
    check_png(
        plots.plot_loss_curves(HISTORY, tmp_path / "loss.png", size=(8, 3), dpi=60), 480, 180
    )
    json_path = tmp_path / "history.json"
    json_path.write_text(json.dumps(HISTORY))
    check_png(
        plots.plot_loss_curves(json_path, tmp_path / "loss2.png", size=(5, 3), dpi=60), 300, 180
    )


def test_slope_trajectories_default_size_has_room_for_min_and_max(tmp_path):
    check_png(plots.plot_slope_trajectories(HISTORY, tmp_path / "s.png", dpi=40), 440, 160)
    means_only = {"slopes": {"p": {"mean": [0.25, 0.3]}}}
    check_png(plots.plot_slope_trajectories(means_only, tmp_path / "m.png", dpi=40), 280, 160)


def test_slope_trajectories_from_history_and_means_only(tmp_path):
    check_png(
        plots.plot_slope_trajectories(HISTORY, tmp_path / "slopes.png", size=(5, 4), dpi=60),
        300,
        240,
    )
    means_only = {"loss": [1.0, 0.5], "slopes": {"p": {"mean": [0.25, 0.3]}, "q": [0.25, 0.2]}}
    check_png(
        plots.plot_slope_trajectories(means_only, tmp_path / "means.png", size=(5, 4), dpi=60),
        300,
        240,
    )


def test_slope_trajectories_from_a_tracker(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(
        inputs, keras.layers.Dense(2)(PReLU(name="p")(keras.layers.Dense(4)(inputs)))
    )
    model.compile("sgd", "mse")
    tracker = SlopeTracker(record_initial=True)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    model.fit(x, np.zeros((16, 2), "float32"), epochs=2, verbose=0, callbacks=[tracker])
    check_png(
        plots.plot_slope_trajectories(tracker, tmp_path / "tracker.png", size=(5, 4), dpi=60),
        300,
        240,
    )


def test_negative_fraction_histograms(tmp_path):
    inputs = keras.Input((6,))
    hidden = keras.layers.ReLU(name="r")(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, PReLU(name="p")(keras.layers.Dense(5)(hidden)))
    x = np.random.default_rng(1).normal(size=(40, 6)).astype("float32")
    report = measure_negative_fraction(model, x)
    check_png(
        plots.plot_negative_fractions(report, tmp_path / "nf.png", dpi=50), 300, 145
    )  # 2 columns x 1 row, and the legend under them
    monitor = NegativeFractionMonitor(x)
    with pytest.raises(ValueError, match="not measured"):
        plots.plot_negative_fractions(monitor, tmp_path / "none.png")
    monitor.report = report
    raw = {"a": [0.1, 0.5, 0.9], "b": np.linspace(0, 1, 10), "c": [0.0], "d": [1.0], "e": [0.3]}
    check_png(
        plots.plot_negative_fractions(raw, tmp_path / "raw.png", columns=4, dpi=40), 480, 212
    )
    check_png(  # a figure title takes 0.3 inches more
        plots.plot_negative_fractions(raw, tmp_path / "t.png", dpi=40, title="t"), 480, 224
    )


def test_robustness_curves(tmp_path):
    curves = {
        "relu": RobustnessCurve("fgsm", [0.0, 0.1, 0.2], [0.9, 0.6, 0.3], 100),
        "prelu": RobustnessCurve("fgsm", [0.0, 0.1, 0.2], [0.92, 0.7, 0.4], 100).to_dict(),
    }
    check_png(plots.plot_robustness(curves, tmp_path / "rob.png", size=(4, 3), dpi=50), 200, 150)


def test_bad_input_raises(tmp_path):
    with pytest.raises(ValueError, match="no loss"):
        plots.plot_loss_curves({"slopes": {}}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="No slopes"):
        plots.plot_slope_trajectories({"loss": [1.0]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="Received: size"):
        plots.plot_activations(tmp_path / "x.png", size=(0, 3))
    with pytest.raises(ValueError, match="Received: x_range"):
        plots.plot_activations(tmp_path / "x.png", x_range=(1, -1))


def test_package_imports_without_matplotlib_and_plots_say_what_to_install(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import keras_prelu.diagnostics as d\n"
        "assert 'keras_prelu.diagnostics.plots' not in sys.modules\n"
        "try:\n"
        f"    d.plots.plot_loss_curves({{'loss': [1.0]}}, {str(tmp_path / 'x.png')!r})\n"
        "except ImportError as e:\n"
        "    print('IMPORT-ERROR', e)\n"
    )
    result = run_python("-c", code)
    assert "IMPORT-ERROR" in result.stdout and "pip install" in result.stdout
