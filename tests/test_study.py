"""keras_prelu.study: the activation study (`keras-prelu compare`) and one run's figures (`keras-prelu plot`).

One tiny study (mlp3x256 on the bundled digits, 1 epoch, relu and prelu, two
seeds) is run once through the command line; the tests read its directory, or
rerun it in copies to check that finished cells are not retrained.
"""

import io
import json
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from conftest import check_png, run_cli  # noqa: E402
from keras_prelu import study  # noqa: E402
from keras_prelu.training import experiment, runs  # noqa: E402

ACTIVATIONS = ["relu", "prelu"]
# Cheap measurement settings: the machinery is the same at any size.
ARGS = ["--dataset", "digits", "--activations", ",".join(ACTIVATIONS), "--epochs", "1",
        "--seeds", "2", "--warmup-epochs", "0", "--attack-examples", "200",
        "--timing-steps", "3", "--timing-rounds", "2", "--progress", "lines"]
API = dict(dataset="digits", activations=ACTIVATIONS, epochs=1, seeds=2, warmup_epochs=0,
           attack_examples=200, timing_steps=3, timing_rounds=2, progress="lines")
CELLS = [f"{a}-seed{s}" for s in (0, 1) for a in ACTIVATIONS]
ROWS = ["negative slope", "dead units (zero gradient on every test input)", "never-positive units",
        "parameters (overhead)", "training step vs relu (median [IQR])",
        "inference step vs relu (median [IQR])",
        "flexibility (slopes moved > threshold; mean shift; spread)", "test accuracy",
        "accuracy vs relu (paired by seed)", "FGSM accuracy (ε=0.01)", "zero input gradients"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "tiny"
    argv = ["compare", "mlp3x256", *ARGS, "--out", str(out)]
    code, stdout, stderr = run_cli(*argv)
    assert code == 0, stderr[-2000:]
    return {"out": out, "argv": argv, "stdout": stdout, "stderr": stderr}


def _comparison(report):
    """The comparison table: {row label: {activation: cell}} and the activations in column order."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|  | "))
    activations = [c.strip() for c in lines[start].strip("|").split("|")][1:]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("*")] = dict(zip(activations, cells[1:], strict=True))
    return activations, rows


def _table(report, header_start):
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)))
    return header, rows


def _mtimes(out):
    return {path.relative_to(out).as_posix(): path.stat().st_mtime_ns
            for path in out.glob("cells/*/*") if path.is_file()}


class CountingTrain:
    """experiment.train, counting its calls (and whether they resume)."""

    def __init__(self):
        self.calls = []
        self.original = experiment.train

    def __call__(self, model, **kwargs):
        self.calls.append((model, kwargs.get("resume", False)))
        return self.original(model, **kwargs)


# -- the report ---------------------------------------------------------------------------------
def test_report_has_the_command_and_the_comparison_table(tiny):
    report = (tiny["out"] / "report.md").read_text()
    lines = report.splitlines()
    command = "keras-prelu " + " ".join(tiny["argv"])
    assert lines[0] == "# Activation study: mlp3x256 on digits"
    assert command in lines[:8]  # the exact command, near the top
    activations, rows = _comparison(report)
    assert activations == ACTIVATIONS and list(rows) == ROWS
    assert "Continued" not in report
    claims = [line for line in lines if line.startswith("- **") and "): **" in line]
    assert [c.split("**")[1] for c in claims] == list(study.CLAIMS)
    assert all(re.search(r"\*\*(agrees|disagrees|cannot tell|not measured)\*\*", c) for c in claims)


def _cells(out, activation):
    return [runs.RunDir(out / "cells" / f"{activation}-seed{s}") for s in (0, 1)]


def _measured(run):
    return json.loads((run.path / "measurements.json").read_text())


def test_summary_is_computed_from_the_cells(tiny):
    summary = json.loads((tiny["out"] / "study.json").read_text())["summary"]
    assert summary["reference"] == "relu" and summary["seeds"] == [0, 1]
    for activation in ACTIVATIONS:
        cells = _cells(tiny["out"], activation)
        entry = summary["activations"][activation]
        accuracies = [c.load_model_card()["results"]["test_accuracy"] for c in cells]
        assert entry["test_accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
        assert entry["test_accuracy"]["n"] == 2
        half = 12.7062047 * np.std(accuracies, ddof=1) / np.sqrt(2)  # t(0.975, 1)
        low, high = entry["test_accuracy"]["ci95"]
        assert low == pytest.approx(max(0.0, np.mean(accuracies) - half), abs=1e-6)
        assert high == pytest.approx(min(1.0, np.mean(accuracies) + half), abs=1e-6)
        dead = [_measured(c)["dead_fraction"] for c in cells]
        assert entry["dead_fraction"]["mean"] == pytest.approx(np.mean(dead))
        assert entry["parameters"]["count"] == _measured(cells[0])["trainable_parameters"]
    relu_acc = [c.load_model_card()["results"]["test_accuracy"] for c in _cells(tiny["out"], "relu")]
    prelu_acc = [c.load_model_card()["results"]["test_accuracy"] for c in _cells(tiny["out"], "prelu")]
    difference = summary["activations"]["prelu"]["test_accuracy_difference"]
    assert difference["mean"] == pytest.approx(np.mean(np.subtract(prelu_acc, relu_acc)))
    assert "test_accuracy_difference" not in summary["activations"]["relu"]
    # Per-channel PReLU: one slope per unit of the three 256-wide layers on top of ReLU's weights.
    assert summary["activations"]["prelu"]["parameters"]["overhead"] == 3 * 256


def test_report_cells_are_the_summary_formatted(tiny):
    report = (tiny["out"] / "report.md").read_text()
    summary = json.loads((tiny["out"] / "study.json").read_text())["summary"]
    _, rows = _comparison(report)
    for activation in ACTIVATIONS:
        entry = summary["activations"][activation]
        assert rows["test accuracy"][activation] == study.format_interval(entry["test_accuracy"])
        assert rows["dead units (zero gradient on every test input)"][activation] == \
            study.format_interval(entry["dead_fraction"])
    assert rows["negative slope"]["relu"] == "fixed 0"
    slopes = re.fullmatch(r"learned (\d\.\d+) \[(\d\.\d+), (\d\.\d+)\]", rows["negative slope"]["prelu"])
    low, mean, high = float(slopes[2]), float(slopes[1]), float(slopes[3])
    assert low < mean < high and abs(mean - 0.25) < 0.05  # one short epoch from a0 = 0.25
    assert rows["accuracy vs relu (paired by seed)"]["relu"] == "reference"
    assert "at n=2" in rows["accuracy vs relu (paired by seed)"]["prelu"]
    assert rows["parameters (overhead)"]["prelu"].endswith("(+768, +0.51%)")
    assert rows["flexibility (slopes moved > threshold; mean shift; spread)"]["relu"] == "0 (not learned)"


def test_speed_is_the_median_of_same_round_ratios(tiny):
    state = json.loads((tiny["out"] / "study.json").read_text())
    timing, summary = state["timing"], state["summary"]
    assert timing["rounds"] == 2 and timing["steps"] == 3 and timing["load_average"]
    for part, key in (("train", "step_time_ratio"), ("inference", "inference_time_ratio")):
        ratios = np.divide(timing[part]["prelu"], timing[part]["relu"])
        entry = summary["activations"]["prelu"][key]
        assert entry["median"] == pytest.approx(np.median(ratios))
        assert entry["iqr"] == pytest.approx(list(np.percentile(ratios, [25, 75])))
        assert summary["activations"]["relu"][key]["median"] == 1.0
    _, rows = _comparison((tiny["out"] / "report.md").read_text())
    assert rows["training step vs relu (median [IQR])"]["relu"] == "1.00x [1.00, 1.00]"


def test_measurements_are_consistent(tiny):
    relu = _measured(_cells(tiny["out"], "relu")[0])
    prelu = _measured(_cells(tiny["out"], "prelu")[0])
    for measured in (relu, prelu):
        assert list(measured["layers"]) == ["layer1_act", "layer2_act", "layer3_act"]
        assert measured["rectifier_channels"] == 3 * 256
        assert measured["negative_fraction_examples"] == 360  # the whole digits test split
        assert measured["attack_examples"] == 200
        assert measured["fgsm"]["epsilons"] == [0.0, 0.005, 0.01, 0.02, 0.04]
        assert measured["fgsm_accuracy"] == measured["fgsm"]["accuracy"][2]
        # An attack cannot do better than no attack by more than noise; the largest step hurts.
        assert measured["fgsm"]["accuracy"][4] <= measured["fgsm"]["accuracy"][0]
        never = sum(layer["never_positive"] for layer in measured["layers"].values())
        assert measured["never_positive_fraction"] == never / (3 * 256)
        for layer in measured["layers"].values():
            assert layer["never_positive"] == sum(p == 0 for p in layer["positive_fraction"])
        assert measured["bn_prelu_pairs"] == []  # an MLP without BatchNorm
    assert relu["idle_fraction"] is None and relu["slopes"] == {} and relu["fixed_slope"] == 0.0
    # For ReLU, never positive is dead; PReLU's 0.25 slope keeps every unit's gradient.
    assert all(layer["dead"] == layer["never_positive"] for layer in relu["layers"].values())
    assert relu["dead_fraction"] == relu["never_positive_fraction"]
    assert all(layer["kind"] == "prelu" and layer["dead"] == 0 for layer in prelu["layers"].values())
    assert prelu["dead_fraction"] == 0.0
    assert all(layer["slopes"] == 256 for layer in prelu["layers"].values())  # one per channel
    assert all(layer["slopes"] == 0 and layer["idle"] == 0 for layer in relu["layers"].values())
    idle = sum(layer["idle"] for layer in prelu["layers"].values())
    assert prelu["idle_fraction"] == idle / (3 * 256)
    assert set(prelu["slopes"]) == {"layer1_act", "layer2_act", "layer3_act"}
    assert all(s["count"] == 256 for s in prelu["slopes"].values())
    assert relu["flexibility"] == {"spread": 0.0, "mean_shift": 0.0, "moved_share": 0.0, "slopes": 0}
    flex = prelu["flexibility"]
    assert flex["slopes"] == 768 and 0 < flex["mean_shift"] < 0.05 and 0 < flex["spread"] < 0.05


def test_dead_units_are_tracked_every_epoch_from_initialisation(tiny):
    for activation in ACTIVATIONS:
        for run in _cells(tiny["out"], activation):
            tracked = run.load_history()["tracked"]
            assert tracked["epoch"] == [0, 1] and tracked["tracked_examples"] == [360, 360]
            # After the last epoch the tracker saw the final model on the same (whole) test split.
            assert tracked["dead_fraction"][-1] == _measured(run)["dead_fraction"]
            assert tracked["never_positive_fraction"][-1] == _measured(run)["never_positive_fraction"]
    summary = json.loads((tiny["out"] / "study.json").read_text())["summary"]
    series = summary["activations"]["relu"]["dead_over_epochs"]
    assert series["epoch"] == [0, 1] and series["n"] == 2 and len(series["ci95"]) == 2


def test_stability_at_initialisation_per_activation(tiny):
    state = json.loads((tiny["out"] / "study.json").read_text())
    for activation in ACTIVATIONS:
        entry = state["stability"][activation]
        assert entry["model"] == f"mlp3x256_{activation}"
        assert entry["longest_chain"] == 4 and entry["grad_norm_first_last"] > 0
        assert entry["status"] in ("ok", "vanishing", "exploding")
        assert state["summary"]["activations"][activation]["stability"] == entry
    assert "## Stability at initialisation" in (tiny["out"] / "report.md").read_text()


def test_progress_shows_one_line_per_cell_and_the_epochs(tiny):
    lines = tiny["stderr"].splitlines()
    for number, cid in enumerate(CELLS, start=1):
        activation, seed = cid.split("-seed")
        assert any(line.startswith(f"[{number}/4] {activation} seed {seed}: training mlp3x256_{activation}")
                   for line in lines)
        assert any(line.startswith(f"[{number}/4] {activation} seed {seed}: trained, test accuracy")
                   for line in lines)
    assert sum(line.startswith("epoch 1/1 [") and "checkpoint 1" in line for line in lines) == 4
    assert tiny["stdout"].strip().endswith("2 activations, 4 cells trained, 0 skipped")


def test_figures_are_real_pngs_of_the_expected_size(tiny):
    figures = tiny["out"] / "figures"
    expected = {
        "activations.png": (900, 350),
        "loss_curves.png": (1200, 450),
        "dead_units.png": (1200, 450),
        "slopes_prelu.png": (1100, 400),  # means, and min/max, side by side
        "negative_fraction_relu.png": (900, 320),  # three layers side by side
        "negative_fraction_prelu.png": (900, 320),
        "fgsm.png": (600, 400),
    }
    assert sorted(p.name for p in figures.iterdir()) == sorted(expected)
    for name, (width, height) in expected.items():
        check_png(figures / name, width, height)
    report = (tiny["out"] / "report.md").read_text()
    for name in expected:
        assert f"](figures/{name})" in report


# -- resuming -----------------------------------------------------------------------------------
def _copy(tiny, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(tiny["out"], out)
    return out


def test_rerun_retrains_only_the_missing_cell(tiny, tmp_path, monkeypatch):
    out = _copy(tiny, tmp_path)
    shutil.rmtree(out / "cells" / "prelu-seed0")
    before = _mtimes(out)
    counter = CountingTrain()
    monkeypatch.setattr(experiment, "train", counter)
    result = study.compare("mlp3x256", out=out, stream=io.StringIO(), command="second run",
                           **dict(API, timing_steps=0))
    assert counter.calls == [("mlp3x256_prelu", False)]
    assert result["skipped"] == ["relu-seed0", "relu-seed1", "prelu-seed1"]
    assert result["trained"] == ["prelu-seed0"]
    after = _mtimes(out)
    assert {k: v for k, v in after.items() if not k.startswith("cells/prelu-seed0/")} == before
    report = (out / "report.md").read_text()
    assert "Continued (resumed) with:" in report and "second run" in report
    assert _comparison(report)[0] == ACTIVATIONS
    state = json.loads((out / "study.json").read_text())
    assert [c["command"] for c in state["commands"]][1:] == ["second run"]
    assert all(cell["status"] == "done" for cell in state["cells"].values())


@pytest.mark.slow
def test_rerun_of_a_finished_study_trains_nothing(tiny, tmp_path, monkeypatch):
    out = _copy(tiny, tmp_path)
    before = _mtimes(out)
    counter = CountingTrain()
    monkeypatch.setattr(experiment, "train", counter)
    stream = io.StringIO()
    result = study.compare("mlp3x256_relu", out=out, stream=stream, command="again", **API)
    assert counter.calls == [] and result["trained"] == []
    assert result["skipped"] == CELLS
    assert _mtimes(out) == before
    assert "[4/4] prelu seed 1: finished earlier, skipped" in stream.getvalue()
    assert "speed:" not in stream.getvalue()  # the saved speed phase covers every activation


@pytest.mark.slow
def test_cell_killed_after_its_last_checkpoint_resumes_instead_of_restarting(tiny, tmp_path, monkeypatch):
    out = _copy(tiny, tmp_path)
    cell = out / "cells" / "relu-seed0"
    for name in ("model_card.json", "model_card.md", "model.keras", "final.weights.h5",
                 "measurements.json"):
        (cell / name).unlink()
    counter = CountingTrain()
    monkeypatch.setattr(experiment, "train", counter)
    result = study.compare("mlp3x256", out=out, stream=io.StringIO(), **dict(API, timing_steps=0))
    assert counter.calls == [("mlp3x256_relu", True)]
    assert result["resumed"] == ["relu-seed0"]
    card = runs.RunDir(cell).load_model_card()
    assert card["training"]["sessions"] == 2 and card["results"]["epochs"] == 1
    assert (cell / "measurements.json").is_file()


@pytest.mark.slow
def test_interrupted_training_resumes_at_the_next_epoch(tmp_path):
    class Interrupt(io.StringIO):
        """A progress stream that raises KeyboardInterrupt once epoch 1's checkpoint is written."""

        def write(self, text):
            if "checkpoint 1" in text:
                raise KeyboardInterrupt
            return super().write(text)

    out = tmp_path / "killed"
    settings = dict(API, activations=["prelu"], epochs=2, seeds=1, timing_steps=0)
    with pytest.raises(KeyboardInterrupt):
        study.compare("mlp3x256", out=out, stream=Interrupt(), **settings)
    state = json.loads((out / "study.json").read_text())
    assert state["cells"]["prelu-seed0"]["status"] == "training"
    cell = runs.RunDir(out / "cells" / "prelu-seed0")
    assert [epoch for epoch, _ in cell.checkpoints()] == [1]
    stream = io.StringIO()
    result = study.compare("mlp3x256", out=out, stream=stream, **settings)
    assert result["resumed"] == ["prelu-seed0"]
    assert "resuming mlp3x256_prelu" in stream.getvalue()
    assert "epoch 1/2" not in stream.getvalue() and "epoch 2/2" in stream.getvalue()
    card = cell.load_model_card()
    history = cell.load_history()
    assert card["training"]["sessions"] == 2 and len(history["loss"]) == 2
    assert history["tracked"]["epoch"] == [0, 1, 2]  # the tracked epochs survive the interruption
    _, rows = _comparison((out / "report.md").read_text())
    assert rows["training step vs prelu (median [IQR])"] == {"prelu": "–"}  # timing switched off
    assert rows["accuracy vs prelu (paired by seed)"] == {"prelu": "reference"}


def test_a_study_cannot_continue_with_other_cell_settings(tiny, monkeypatch):
    counter = CountingTrain()
    monkeypatch.setattr(experiment, "train", counter)
    with pytest.raises(study.StudyError, match="holds a study with epochs=1, not 2"):
        study.compare("mlp3x256", out=tiny["out"], stream=io.StringIO(), **dict(API, epochs=2))
    with pytest.raises(study.StudyError, match="architecture='mlp3x256', not 'mlp6x256'"):
        study.compare("mlp6x256", out=tiny["out"], stream=io.StringIO(), **API)
    assert counter.calls == []


# -- names --------------------------------------------------------------------------------------
def test_architecture_from_family_or_full_name():
    assert study.resolve_architecture("mlp3x256") == "mlp3x256"
    for name in ("mlp3x256_prelu", "mlp3x256_prelu_shared", "mlp3x256_rrelu", "mlp3x256_leaky"):
        assert study.resolve_architecture(name) == "mlp3x256"
    assert study.resolve_architecture("resnet20_relu") == "resnet20"
    assert [study.model_name("resnet20", a) for a in study.DEFAULT_ACTIVATIONS] == [
        "resnet20_relu", "resnet20_leaky", "resnet20_prelu", "resnet20_prelu_shared",
        "resnet20_rrelu"]
    with pytest.raises(study.StudyError, match="unknown model 'mlp3x255'.*did you mean"):
        study.resolve_architecture("mlp3x255")


def test_activation_and_seed_parsing():
    assert study.parse_activations("relu, leaky,prelu_shared") == ["relu", "leaky_relu", "prelu_shared"]
    with pytest.raises(study.StudyError, match="unknown activation 'prelus'.*did you mean prelu"):
        study.parse_activations("relu,prelus")
    with pytest.raises(study.StudyError, match="listed twice"):
        study.parse_activations("relu,relu")
    assert study.parse_seeds(3) == [0, 1, 2] and study.parse_seeds("1") == [0]
    for bad in (0, -1, "two", 1.5, True):
        with pytest.raises(study.StudyError, match="--seeds"):
            study.parse_seeds(bad)


# -- one run's figures --------------------------------------------------------------------------
def test_plot_of_a_study_cell_uses_its_measurements(tiny, tmp_path):
    figures = study.plot_run(tiny["out"] / "cells" / "prelu-seed0", out=tmp_path / "fig")
    assert sorted(figures) == ["loss_curves", "negative_fraction", "slopes"]
    check_png(figures["loss_curves"], 900, 350)
    check_png(figures["slopes"], 1100, 400)
    check_png(figures["negative_fraction"], 900, 320)


@pytest.mark.slow
def test_plot_of_a_plain_run_measures_its_model(tiny, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny["out"] / "cells" / "relu-seed0", run)
    (run / "measurements.json").unlink()  # now a run as `keras-prelu train` leaves it
    code, stdout, stderr = run_cli("plot", run)
    assert code == 0, stderr
    paths = stdout.split()
    assert [p.rsplit("/", 1)[1] for p in paths] == ["loss_curves.png", "negative_fraction.png"]
    assert "measuring negative fractions of the final model on digits" in stderr
    check_png(run / "figures" / "negative_fraction.png", 900, 320)
    # Without measuring: the history's figures only (ReLU: no slopes).
    assert study.plot_run(run, out=tmp_path / "nom", measure_model=False).keys() == {"loss_curves"}


def test_more_seeds_later_train_only_the_new_seeds(tiny, tmp_path, monkeypatch):
    out = _copy(tiny, tmp_path)
    before = _mtimes(out)
    counter = CountingTrain()
    monkeypatch.setattr(experiment, "train", counter)
    result = study.compare("mlp3x256", out=out, stream=io.StringIO(), command="third seed",
                           **dict(API, seeds=3, timing_steps=0))
    assert counter.calls == [("mlp3x256_relu", False), ("mlp3x256_prelu", False)]
    assert result["trained"] == ["relu-seed2", "prelu-seed2"] and result["skipped"] == CELLS
    assert {k: v for k, v in _mtimes(out).items() if "seed2" not in k} == before
    summary = json.loads((out / "study.json").read_text())["summary"]
    assert summary["seeds"] == [0, 1, 2]
    assert summary["activations"]["prelu"]["test_accuracy"]["n"] == 3
    assert summary["activations"]["prelu"]["test_accuracy_difference"]["n"] == 3


def test_a_diverged_cell_is_reported_and_left_out(tiny, tmp_path, monkeypatch):
    out = _copy(tiny, tmp_path)
    shutil.rmtree(out / "cells" / "prelu-seed1")
    original = experiment.train

    def diverging(model, **kwargs):
        if model == "mlp3x256_prelu":  # as a real divergence leaves it: the run's config, no model
            runs.RunDir(kwargs["out"]).create().save_config({"settings": {"model": model}})
            raise experiment.TrainingDiverged("training diverged in epoch 1 (by step 3): the loss is nan")
        return original(model, **kwargs)

    monkeypatch.setattr(experiment, "train", diverging)
    stream = io.StringIO()
    result = study.compare("mlp3x256", out=out, stream=stream, **dict(API, timing_steps=0))
    assert result["diverged"] == ["prelu-seed1"]
    assert "prelu seed 1: DIVERGED (training diverged in epoch 1" in stream.getvalue()
    state = json.loads((out / "study.json").read_text())
    assert state["cells"]["prelu-seed1"]["status"] == "diverged"
    assert state["summary"]["activations"]["prelu"]["test_accuracy"]["n"] == 1
    assert list(state["summary"]["diverged"]) == ["prelu-seed1"]
    assert "- prelu-seed1: training diverged in epoch 1" in (out / "report.md").read_text()
    # A rerun does not train it again.
    again = study.compare("mlp3x256", out=out, stream=io.StringIO(), **dict(API, timing_steps=0))
    assert again["diverged"] == ["prelu-seed1"] and again["trained"] == []


# -- heavier: several seeds and activations, real data ------------------------------------------
@pytest.mark.slow
def test_three_activations_two_seeds(tmp_path):
    out = tmp_path / "s"
    activations = ["relu", "leaky_relu", "prelu_shared"]
    result = study.compare("mlp3x256_relu", out=out, stream=io.StringIO(),
                           **dict(API, activations=activations, seeds=2, timing_steps="auto"))
    assert result["trained"] == [f"{a}-seed{s}" for s in (0, 1) for a in activations]
    report = (out / "report.md").read_text()
    columns, rows = _comparison(report)
    assert columns == activations
    for activation in activations:
        for s in (0, 1):  # same seed, hence the same data order, for every activation
            config = runs.RunDir(out / "cells" / f"{activation}-seed{s}").load_config()
            assert config["settings"]["seed"] == s and config["settings"]["epochs"] == 1
    _, per_seed = _table(report, "| activation | seed |")
    assert len(per_seed) == 6
    shared = json.loads((out / "cells/prelu_shared-seed0/measurements.json").read_text())
    assert all(s["count"] == 1 for s in shared["slopes"].values())  # one slope per layer
    assert all(layer["slopes"] == 1 and layer["channels"] == 256 for layer in shared["layers"].values())
    idle = sum(layer["idle"] for layer in shared["layers"].values())
    assert shared["idle_fraction"] == idle / 3
    assert shared["flexibility"]["slopes"] == 3
    leaky = json.loads((out / "cells/leaky_relu-seed0/measurements.json").read_text())
    assert leaky["fixed_slope"] == 0.01 and leaky["idle_fraction"] is None
    assert rows["negative slope"]["leaky_relu"] == "fixed 0.01"
    assert rows["parameters (overhead)"]["prelu_shared"].startswith("335,117 (+3,") or \
        rows["parameters (overhead)"]["prelu_shared"].endswith("(+3, +0.00%)")
    assert (out / "figures" / "slopes_prelu_shared.png").is_file()
    timing = json.loads((out / "study.json").read_text())["timing"]
    assert timing["steps"] >= 5 and all(len(v) == 2 for v in timing["train"].values())
    assert not (out / "figures" / "slopes_leaky_relu.png").exists()


@pytest.mark.slow
def test_fashion_mnist_from_the_shared_data(shared_data, tmp_path):
    out = tmp_path / "fashion"
    argv = ["compare", "mlp3x256", "--dataset", "fashion_mnist", "--data-dir",
            str(shared_data / "tensorflow_datasets"), "--no-download", "--activations", "relu,prelu",
            "--epochs", "1", "--seeds", "1", "--warmup-epochs", "0", "--attack-examples", "500",
            "--timing-steps", "5", "--timing-rounds", "2", "--out", str(out)]
    code, _, stderr = run_cli(*argv)
    assert code == 0, stderr[-2000:]
    report = (out / "report.md").read_text()
    assert report.startswith("# Activation study: mlp3x256 on fashion_mnist")
    assert "60000 training and 10000 test images" in report
    columns, rows = _comparison(report)
    assert columns == ["relu", "prelu"]
    for activation in columns:  # one epoch of an MLP on Fashion-MNIST: well above chance
        assert float(rows["test accuracy"][activation].split("%")[0]) > 75
    measured = json.loads((out / "cells/relu-seed0/measurements.json").read_text())
    assert measured["negative_fraction_examples"] == 10000 and measured["attack_examples"] == 500


def _needs_resume(cell):
    for name in ("model_card.json", "model_card.md", "model.keras", "final.weights.h5",
                 "measurements.json"):
        (cell / name).unlink()


def test_a_cell_that_cannot_be_resumed_is_set_aside_never_deleted(tiny, tmp_path):
    out = _copy(tiny, tmp_path)
    cell = out / "cells" / "relu-seed0"
    _needs_resume(cell)
    # A checkpoint of another model: resuming fails on it.
    for (_, wrong), (_, right) in zip(runs.RunDir(out / "cells" / "prelu-seed0").checkpoints(),
                                      runs.RunDir(cell).checkpoints()):
        right.write_bytes(wrong.read_bytes())
    history = (cell / "history.json").read_text()
    stream = io.StringIO()
    result = study.compare("mlp3x256", out=out, stream=stream, **dict(API, timing_steps=0))
    assert result["trained"] == ["relu-seed0"]
    aside = [p for p in (out / "cells").iterdir() if p.name.startswith("relu-seed0.unresumable-")]
    assert len(aside) == 1 and (aside[0] / "history.json").read_text() == history
    assert "kept the old cell as relu-seed0.unresumable-" in stream.getvalue()
    assert (cell / "measurements.json").is_file()


def test_a_cell_another_process_trains_is_left_alone(tiny, tmp_path):
    from keras_prelu.utils.locks import DirectoryLock

    out = _copy(tiny, tmp_path)
    cell = out / "cells" / "prelu-seed0"
    _needs_resume(cell)
    before = sorted(p.name for p in cell.iterdir())
    with DirectoryLock(cell, what="run directory"):
        with pytest.raises(experiment.RunDirectoryInUse, match="in use by process"):
            study.compare("mlp3x256", out=out, stream=io.StringIO(), **dict(API, timing_steps=0))
    assert sorted(p.name for p in cell.iterdir()) == before
    assert not [p for p in (out / "cells").iterdir() if ".unresumable-" in p.name]


# -- presets ------------------------------------------------------------------------------------
def test_presets_are_data_and_fill_only_what_is_unset():
    from keras_prelu.study import presets

    dying = presets.preset("dying-relu")
    assert dying.settings() == {"model": "mlp30x128", "dataset": "digits", "seeds": 5, "epochs": 8,
                                "recipe": "default", "learning_rate": 3e-3}
    merged = presets.resolve("dying-relu", {"model": None, "epochs": 3, "seeds": None,
                                            "learning_rate": 0.01})
    assert merged["model"] == "mlp30x128" and merged["epochs"] == 3
    assert merged["seeds"] == 5 and merged["learning_rate"] == 0.01
    assert presets.resolve(None, {"epochs": 3}) == {"epochs": 3}
    assert presets.preset("cnn").settings()["steps_per_epoch"] == 25
    with pytest.raises(study.StudyError, match="unknown preset 'dying_relu' .did you mean dying-relu"):
        presets.preset("dying_relu")
    for preset in study.PRESETS.values():
        assert study.resolve_architecture(preset.model) == preset.model
        assert preset.seeds >= 5


def test_a_preset_study_with_overrides(tmp_path):
    out = tmp_path / "preset"
    result = study.compare(preset="dying-relu", activations=["relu"], epochs=1, seeds=1,
                           steps_per_epoch=2, attack_examples=50, timing_steps=0, out=out,
                           stream=io.StringIO(), progress="none")
    state = json.loads((out / "study.json").read_text())
    settings = state["settings"]
    assert settings["preset"] == "dying-relu" and settings["architecture"] == "mlp30x128"
    assert settings["learning_rate"] == 3e-3 and settings["epochs"] == 1 and settings["seeds"] == [0]
    assert settings["steps_per_epoch"] == 2
    history = runs.RunDir(out / "cells" / "relu-seed0").load_history()
    assert len(history["loss"]) == 1 and history["tracked"]["epoch"] == [0, 1]
    assert result["trained"] == ["relu-seed0"]
    assert "Preset `dying-relu`." in (out / "report.md").read_text()
    assert "1 epoch of 2 steps" in (out / "report.md").read_text()


# -- the dead-unit measure on constructed networks ---------------------------------------------
def _constructed(activation_layer, bias):
    """digits (8x8x1) -> Flatten -> Dense(4) with zero kernel and `bias` -> rectifier -> Dense(10)."""
    import keras

    inputs = keras.Input((8, 8, 1))
    dense = keras.layers.Dense(4, name="hidden")
    x = dense(keras.layers.Flatten()(inputs))
    outputs = keras.layers.Dense(10)(activation_layer(x))
    model = keras.Model(inputs, outputs)
    dense.set_weights([np.zeros((64, 4), "float32"), np.asarray(bias, "float32")])
    return model


@pytest.mark.parametrize("kind", ["relu", "prelu", "prelu_zero_slope", "leaky_relu"])
def test_dead_units_of_a_constructed_network(kind):
    import keras

    from keras_prelu import LeakyReLU, PReLU
    from keras_prelu.training import data as data_lib

    layer = {"relu": keras.layers.ReLU(name="act"), "prelu": PReLU(name="act"),
             "prelu_zero_slope": PReLU(name="act"), "leaky_relu": LeakyReLU(name="act")}[kind]
    # Units 0 and 1 are never positive (bias -1, zero kernel), units 2 and 3 always positive.
    model = _constructed(layer, [-1.0, -1.0, 1.0, 1.0])
    if kind == "prelu_zero_slope":
        layer.alpha.assign(np.array([0.0, 0.25, 0.0, 0.25], "float32"))
    data = data_lib.load("digits")
    activation = "prelu" if kind.startswith("prelu") else kind
    measured = study.measure(model, data, activation, attack_examples=40,
                             initial_slopes={"act": np.full(4, 0.25)} if activation == "prelu" else None)
    assert measured["never_positive_fraction"] == 0.5
    expected_dead = {"relu": 0.5, "prelu": 0.0, "prelu_zero_slope": 0.25, "leaky_relu": 0.0}[kind]
    assert measured["dead_fraction"] == expected_dead
    assert measured["layers"]["act"]["positive_fraction"] == [0.0, 0.0, 1.0, 1.0]
    if kind == "prelu_zero_slope":  # two slopes moved by 0.25 from their initial 0.25
        assert measured["flexibility"]["moved_share"] == 0.5
        assert measured["flexibility"]["mean_shift"] == pytest.approx(0.125)
    # The per-epoch tracker measures the same thing on the first test images.
    tracked = study.unit_tracker(limit=100)(model, data, 3)
    assert tracked["dead_fraction"] == expected_dead and tracked["never_positive_fraction"] == 0.5
    assert tracked["tracked_examples"] == 100
