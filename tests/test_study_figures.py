"""keras_prelu.study.figures on synthetic study results: one colour per activation, bands over
seeds, dead units per epoch, zoomed slope trajectories, never-positive channels apart, FGSM with
error bars; and what older studies (no "tracked", no "positive_fraction") and one seed give.

No model is trained: the results are built here as `cell_results` returns them, and the initial
slopes (a model build) are replaced by fixed ones.
"""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from conftest import check_png, png_size

from keras_prelu import activations as activation_table
from keras_prelu.diagnostics import plots
from keras_prelu.study import figures
from keras_prelu.study.statistics import mean_interval
from keras_prelu.utils.run_layout import CONFIG_INPUT_SHAPE, CONFIG_NUM_CLASSES

ACTIVATIONS = ["relu", "leaky_relu", "prelu", "prelu_shared", "rrelu"]
EPSILONS = [0.0, 0.01, 0.02]


def _layer_names(layers):
    return [f"layer{i + 1}_act" for i in range(layers)]


def _history(activation, rng, layers, epochs, tracked):
    steps = np.arange(1, epochs + 1)
    history = {"loss": list(1.0 / steps + rng.normal(0, 0.02, epochs)),
               "val_loss": list(1.1 / steps + rng.normal(0, 0.02, epochs)),
               "accuracy": list(0.9 - 0.3 / steps + rng.normal(0, 0.01, epochs)),
               "val_accuracy": list(0.88 - 0.3 / steps + rng.normal(0, 0.01, epochs))}
    if activation.startswith("prelu"):
        shared = activation == "prelu_shared"
        history["slopes"] = {}
        for name in _layer_names(layers):
            mean = 0.25 + np.cumsum(rng.normal(0, 0.003, epochs))
            spread = 0.0 if shared else 0.05
            history["slopes"][name] = {"mean": list(mean), "min": list(mean - spread),
                                       "max": list(mean + spread)}
    if tracked:
        dead = activation in ("relu", "prelu", "prelu_shared")
        history["tracked"] = {
            "epoch": list(range(epochs + 1)),
            "dead_fraction": [float(rng.uniform(0, 0.05)) if dead else None
                              for _ in range(epochs + 1)],
            "never_positive_fraction": [float(rng.uniform(0, 0.05)) for _ in range(epochs + 1)],
        }
    return history


def _layers(rng, layers, channels, positive):
    found = {}
    for name in _layer_names(layers):
        negative = rng.uniform(0, 1, channels)
        negative[:2] = 1.0  # never positive
        negative[2:4] = 0.995  # nearly dead
        entry = {"negative_fraction": [float(v) for v in negative], "channels": channels}
        if positive:
            entry["positive_fraction"] = [float(v) for v in 1.0 - negative]
        found[name] = entry
    return found


def make_cell(activation, seed, layers=3, epochs=3, channels=16, tracked=True, positive=True):
    """One finished cell as `cell_results` gives it (the parts the figures read)."""
    rng = np.random.default_rng([seed, ACTIVATIONS.index(activation)])
    count = 1 if activation == "prelu_shared" else channels
    slopes = ({name: {"mean": 0.24, "min": 0.2, "max": 0.3, "count": count}
               for name in _layer_names(layers)} if activation.startswith("prelu") else {})
    fgsm = {"epsilons": EPSILONS, "accuracy": [float(v) for v in 0.9 - 10 * np.array(EPSILONS)
                                                 + rng.normal(0, 0.01, len(EPSILONS))]}
    measurements = {"layers": _layers(rng, layers, channels, positive), "slopes": slopes,
                    "fgsm": fgsm, "measured_with": {"split": "test"}}
    config = {"settings": {"model": f"mlp_{activation}"}, CONFIG_INPUT_SHAPE: [8, 8, 1],
              CONFIG_NUM_CLASSES: 10}
    return {"seed": seed, "card": {}, "history": _history(activation, rng, layers, epochs, tracked),
            "config": config, "measurements": measurements, "dir": None}


def make_results(activations=ACTIVATIONS, seeds=3, **kwargs):
    return {a: [make_cell(a, s, **kwargs) for s in range(seeds)] for a in activations}


@pytest.fixture(autouse=True)
def fixed_initial_slopes(monkeypatch):
    """The initial slopes of every layer are 0.25 (no model is built)."""
    def initial_slopes(model, input_shape, num_classes):
        return {name: {"mean": 0.25, "min": 0.25, "max": 0.25} for name in _layer_names(19)}

    monkeypatch.setattr(figures, "initial_slopes", initial_slopes)


# -- colours ------------------------------------------------------------------------------------
def test_one_fixed_colour_per_activation_in_the_table_order():
    names = [spec.name for spec in activation_table.ACTIVATIONS]
    assert list(figures.ACTIVATION_COLOURS) == names == ACTIVATIONS
    assert len(set(figures.ACTIVATION_COLOURS.values())) == len(names)
    colours = figures.activation_colours(["rrelu", "mystery", "relu", "other"])
    assert colours["rrelu"] == figures.ACTIVATION_COLOURS["rrelu"]
    assert colours["relu"] == figures.ACTIVATION_COLOURS["relu"]
    # Unknown names get further colours, none of an activation's.
    assert colours["mystery"] != colours["other"]
    assert not {colours["mystery"], colours["other"]} & set(figures.ACTIVATION_COLOURS.values())


def test_activation_curves_keep_their_meaning_and_get_their_colours():
    curves = figures._activation_curves(make_results(seeds=1))
    labels = [label for label, _, _ in curves]
    assert labels[0].startswith("prelu, prelu_shared (initial a=")
    assert curves[0][2] == figures.INITIAL_STYLE  # grey, dotted
    assert labels[1:] == ["relu (a=0)", "leaky_relu (a=0.01)", "prelu (learned mean a=0.240)",
                          "prelu_shared (learned mean a=0.240)", "rrelu (inference a=0.229)"]
    for (_, _, style), activation in zip(curves[1:], ACTIVATIONS, strict=True):
        assert style == {"color": figures.ACTIVATION_COLOURS[activation]}


# -- the whole set ------------------------------------------------------------------------------
EXPECTED = {
    "activations": (900, 350),
    "loss_curves": (1200, 450),
    "dead_units": (1200, 450),
    "slopes_prelu": (1100, 400),  # mean | min and max
    "slopes_prelu_shared": (1100, 400),  # the spread over seeds
    **{f"negative_fraction_{a}": (900, 320) for a in ACTIVATIONS},  # three layers, a title
    "fgsm": (600, 400),
}


def test_every_figure_of_a_study(tmp_path):
    found = figures.draw_figures(make_results(), tmp_path / "figures")
    assert list(found) == list(EXPECTED)  # the report's order
    for label, (width, height) in EXPECTED.items():
        assert found[label] == tmp_path / "figures" / f"{label}.png"
        check_png(found[label], width, height)


def test_one_seed_and_an_older_study(tmp_path):
    """One seed: no bands; no "tracked": no dead-unit figure; no "positive_fraction": negative
    fraction 1 counts as never positive; a shared slope with one seed: no min-max panel."""
    results = make_results(seeds=1, tracked=False, positive=False)
    found = figures.draw_figures(results, tmp_path)
    assert "dead_units" not in found
    assert png_size(found["slopes_prelu_shared"]) == (700, 400)
    assert png_size(found["slopes_prelu"]) == (1100, 400)
    for label in found:
        check_png(found[label], *png_size(found[label]))
    panels = figures._loss_panels(results, figures.activation_colours(results))
    series = panels[0]["series"][0]
    assert series["low"] == series["high"] == [None] * 3 and None not in series["mean"]
    curves = figures._robustness(results)
    assert curves["relu"]["low"] == [None] * len(EPSILONS)


def test_nineteen_layers_in_a_grid_and_a_colourbar(tmp_path):
    results = make_results(activations=["prelu"], seeds=2, layers=19, channels=8)
    found = figures.draw_figures(results, tmp_path)
    check_png(found["negative_fraction_prelu"], 1200, 1280)  # 4 columns, 5 rows
    check_png(found["slopes_prelu"], 1100, 400)


# -- the parts ----------------------------------------------------------------------------------
def test_loss_panels_train_dashed_test_solid_in_percent():
    results = make_results(seeds=3)
    colours = figures.activation_colours(results)
    loss, accuracy = figures._loss_panels(results, colours)
    assert [s["linestyle"] for s in loss["series"][:2]] == ["--", "-"]
    assert [s["label"] for s in loss["series"]] == [a for a in ACTIVATIONS for _ in (0, 1)]
    assert all(s["color"] == colours[s["label"]] for s in accuracy["series"])
    values = [c["history"]["val_accuracy"][1] for c in results["prelu"]]
    expected = mean_interval(values)
    test = accuracy["series"][5]
    assert test["mean"][1] == pytest.approx(100 * expected["mean"])
    assert [test["low"][1], test["high"][1]] == pytest.approx([100 * v for v in expected["ci95"]])


def test_dead_units_skip_what_is_not_tracked():
    results = make_results(seeds=2)
    results["prelu"] = [make_cell("prelu", s, tracked=False) for s in range(2)]
    colours = figures.activation_colours(results)
    dead, never = figures._dead_unit_panels(results, colours)
    assert [s["label"] for s in dead["series"]] == ["relu", "prelu_shared"]
    assert "leaky_relu, rrelu: fixed non-zero slope" in dead["title"]
    assert [s["label"] for s in never["series"]] == ["relu", "leaky_relu", "prelu_shared", "rrelu"]
    assert dead["ylabel"] == never["ylabel"] == "% of rectifier units"
    relu = never["series"][0]
    assert relu["x"] == [0, 1, 2, 3]
    values = [c["history"]["tracked"]["never_positive_fraction"][2] for c in results["relu"]]
    assert relu["mean"][2] == pytest.approx(100 * np.mean(values))
    assert figures._dead_unit_panels(make_results(tracked=False), colours) == []


def test_fgsm_curves_are_seed_means_with_t_intervals():
    results = make_results(seeds=4)
    curve = figures._robustness(results)["rrelu"]
    assert curve["epsilons"] == EPSILONS
    for i in range(len(EPSILONS)):
        expected = mean_interval([c["measurements"]["fgsm"]["accuracy"][i] for c in results["rrelu"]])
        assert curve["accuracy"][i] == pytest.approx(expected["mean"])
        assert [curve["low"][i], curve["high"][i]] == pytest.approx(expected["ci95"])


def test_slope_titles_say_per_channel_or_shared():
    results = make_results(seeds=2)
    assert figures._slope_title("prelu", results["prelu"]).startswith("prelu: per-channel slopes")
    shared = figures._slope_title("prelu_shared", results["prelu_shared"])
    assert shared.startswith("prelu_shared: one slope per layer")
    history = figures._slope_history(results["prelu"])
    assert history["epoch"] == [-1, 0, 1, 2]  # drawn as epochs 0 (initial) to 3
    assert history["slopes"]["layer1_act"]["mean"][0] == 0.25


def test_pooled_negative_fractions_with_and_without_positive_fractions():
    cells = [make_cell("relu", 0), make_cell("relu", 1, positive=False)]
    pooled = figures._pooled_negative_fractions(cells)["layer1_act"]
    assert len(pooled["negative_fraction"]) == len(pooled["positive_fraction"]) == 32
    rest, near, never = plots.channel_groups(pooled["negative_fraction"], np.asarray(
        pooled["positive_fraction"]))
    assert never.sum() == 4 and near.sum() == 4 and rest.sum() == 24


def test_channel_groups_use_the_positive_fraction_when_there_is_one():
    negative = np.array([0.0, 0.5, 0.995, 1.0, 0.2])
    positive = np.array([0.0, 0.5, 0.005, 0.0, 0.8])  # channel 0: always exactly 0
    rest, near, never = plots.channel_groups(negative, positive)
    assert never.tolist() == [True, False, False, True, False]
    assert near.tolist() == [False, False, True, False, False]
    assert rest.tolist() == [False, True, False, False, True]
    rest, near, never = plots.channel_groups(negative)  # without: negative fraction 1
    assert never.tolist() == [False, False, False, True, False]


def test_generic_plots_take_colours_and_run_without_bands(tmp_path):
    panels = [{"title": "t", "ylabel": "y", "series": [
        {"mean": [1.0, 2.0, None], "label": "a", "color": "#123456"},
        {"mean": [2.0, 1.0, 0.5], "low": [1.5, None, 0.1], "high": [2.5, None, 0.9], "label": "b",
         "linestyle": "--"}]}]
    check_png(plots.plot_bands(panels, tmp_path / "b.png", size=(5, 3), dpi=50,
                               linestyles={"train": "--"}, band_label="band"), 250, 150)
    with pytest.raises(ValueError, match="at least one series"):
        plots.plot_bands([{"series": []}], tmp_path / "x.png")
    curves = {"a": {"epsilons": [0, 0.1], "accuracy": [0.9, 0.5], "low": [0.85, 0.4],
                    "high": [0.95, 0.6]},
              "b": {"epsilons": [0, 0.1], "accuracy": [0.8, 0.6]}}
    check_png(plots.plot_robustness(curves, tmp_path / "r.png", size=(4, 3), dpi=50,
                                    colors={"a": "#ff0000"}, title="t"), 200, 150)


def test_activation_figure_shades_the_rrelu_training_range(tmp_path):
    from keras_prelu import RReLU

    rrelu = RReLU(lower=0.1, upper=0.4)
    path = plots.plot_activations(tmp_path / "a.png", [("rrelu", rrelu, {"color": "#9467bd"})],
                                  size=(6, 3), dpi=60)
    check_png(path, 360, 180, min_colours=10)
    without = plots.plot_activations(tmp_path / "b.png", [("rrelu", rrelu, {"color": "#9467bd"})],
                                     size=(6, 3), dpi=60, training_range=False)
    assert _shaded_pixels(path) > _shaded_pixels(without) + 500


def _shaded_pixels(path):
    """Pixels of the light purple the training range is shaded with."""
    import matplotlib.image

    image = matplotlib.image.imread(path)[..., :3]
    purple = np.array([0x94, 0x67, 0xBD]) / 255
    shade = 1 - 0.22 * (1 - purple)  # alpha 0.22 over white
    return int(np.sum(np.all(np.abs(image - shade) < 0.03, axis=-1)))
