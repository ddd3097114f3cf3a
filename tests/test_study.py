"""keras_prelu.study: the activation study (`keras-prelu compare`) and one run's figures (`keras-prelu plot`).

One tiny study (mlp3x256 on the bundled digits, 1 epoch, relu and prelu, one
seed) is run once through the command line; the tests read its directory, or
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
        "--seeds", "1", "--warmup-epochs", "0", "--attack-examples", "200",
        "--timing-steps", "3", "--timing-rounds", "2", "--progress", "lines"]
API = dict(dataset="digits", activations=ACTIVATIONS, epochs=1, seeds=1, warmup_epochs=0,
           attack_examples=200, timing_steps=3, timing_rounds=2, progress="lines")
COLUMNS = ["activation", "test accuracy (mean ± sd)", "never-positive units", "idle slopes",
           "parameters", "step time", "vs ReLU", "final slopes: mean [min, max]",
           "zero input gradients", "FGSM accuracy (ε=0.01)"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "tiny"
    argv = ["compare", "mlp3x256", *ARGS, "--out", str(out)]
    code, stdout, stderr = run_cli(*argv)
    assert code == 0, stderr[-2000:]
    return {"out": out, "argv": argv, "stdout": stdout, "stderr": stderr}


def _table(report, header_start="| activation | test accuracy"):
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
def test_report_has_the_command_and_one_row_per_activation(tiny):
    report = (tiny["out"] / "report.md").read_text()
    lines = report.splitlines()
    command = "keras-prelu " + " ".join(tiny["argv"])
    assert lines[0] == "# Activation study: mlp3x256 on digits"
    assert command in lines[:8]  # the exact command, near the top
    header, rows = _table(report)
    assert header == COLUMNS
    assert [row["activation"] for row in rows] == ACTIVATIONS
    assert "Continued" not in report


def test_report_numbers_come_from_the_cells(tiny):
    report = (tiny["out"] / "report.md").read_text()
    _, rows = _table(report)
    rows = {row["activation"]: row for row in rows}
    for activation in ACTIVATIONS:
        run = runs.RunDir(tiny["out"] / "cells" / f"{activation}-seed0")
        card = run.load_model_card()
        measured = json.loads((run.path / "measurements.json").read_text())
        row = rows[activation]
        assert row["test accuracy (mean ± sd)"] == f"{100 * card['results']['test_accuracy']:.2f}%"
        assert row["FGSM accuracy (ε=0.01)"] == f"{100 * measured['fgsm_accuracy']:.2f}%"
        assert row["zero input gradients"] == f"{100 * measured['zero_input_gradient_fraction']:.2f}%"
        assert row["never-positive units"] == f"{100 * measured['never_positive_fraction']:.2f}%"
        net = experiment.build_model(card["model"], (8, 8, 1), 10)
        params = sum(int(np.prod(v.shape)) for v in net.trainable_variables)
        assert row["parameters"] == f"{params:,}"
    # Per-channel PReLU: one slope per unit of the three 256-wide layers on top of ReLU's weights.
    relu_params = int(rows["relu"]["parameters"].replace(",", ""))
    assert int(rows["prelu"]["parameters"].replace(",", "")) == relu_params + 3 * 256
    assert rows["relu"]["idle slopes"] == "–" and rows["relu"]["final slopes: mean [min, max]"] == "0 (fixed)"
    assert rows["relu"]["vs ReLU"] == "1.00x"
    assert re.fullmatch(r"\d+\.\d\dx", rows["prelu"]["vs ReLU"])
    slopes = re.fullmatch(r"(\d\.\d+) \[(\d\.\d+), (\d\.\d+)\]", rows["prelu"]["final slopes: mean [min, max]"])
    low, mean, high = float(slopes[2]), float(slopes[1]), float(slopes[3])
    assert low < mean < high and abs(mean - 0.25) < 0.05  # one short epoch from a0 = 0.25
    state = json.loads((tiny["out"] / "study.json").read_text())
    timing = state["timing"]["seconds_per_step"]
    assert rows["prelu"]["step time"] == f"{1000 * min(timing['prelu']):.2f} ms"
    assert len(timing["relu"]) == 2 and all(t > 0 for t in timing["relu"])


def test_measurements_are_consistent(tiny):
    relu = json.loads((tiny["out"] / "cells/relu-seed0/measurements.json").read_text())
    prelu = json.loads((tiny["out"] / "cells/prelu-seed0/measurements.json").read_text())
    for measured in (relu, prelu):
        assert list(measured["layers"]) == ["layer1_act", "layer2_act", "layer3_act"]
        assert measured["rectifier_channels"] == 3 * 256
        assert measured["negative_fraction_examples"] == 360  # the whole digits test split
        assert measured["attack_examples"] == 200
        assert measured["fgsm"]["epsilons"] == [0.0, 0.005, 0.01, 0.02]
        assert measured["fgsm_accuracy"] == measured["fgsm"]["accuracy"][2]
        # An attack cannot do better than no attack by more than noise; the largest step hurts.
        assert measured["fgsm"]["accuracy"][3] <= measured["fgsm"]["accuracy"][0]
        never = sum(layer["never_positive"] for layer in measured["layers"].values())
        assert measured["never_positive_fraction"] == never / (3 * 256)
    assert relu["idle_fraction"] is None and relu["slopes"] == {} and relu["fixed_slope"] == 0.0
    # For ReLU, never positive is dead.
    assert all(layer["dead"] == layer["never_positive"] for layer in relu["layers"].values())
    assert all(layer["kind"] == "prelu" and layer["dead"] == 0 for layer in prelu["layers"].values())
    assert all(layer["slopes"] == 256 for layer in prelu["layers"].values())  # one per channel
    assert all(layer["slopes"] == 0 and layer["idle"] == 0 for layer in relu["layers"].values())
    idle = sum(layer["idle"] for layer in prelu["layers"].values())
    assert prelu["idle_fraction"] == idle / (3 * 256)
    assert set(prelu["slopes"]) == {"layer1_act", "layer2_act", "layer3_act"}
    assert all(s["count"] == 256 for s in prelu["slopes"].values())


def test_progress_shows_one_line_per_cell_and_the_epochs(tiny):
    lines = tiny["stderr"].splitlines()
    for number, activation in enumerate(ACTIVATIONS, start=1):
        assert any(line.startswith(f"[{number}/2] {activation} seed 0: training mlp3x256_{activation}")
                   for line in lines)
        assert any(line.startswith(f"[{number}/2] {activation} seed 0: trained, test accuracy")
                   for line in lines)
    assert sum(line.startswith("epoch 1/1 [") and "checkpoint 1" in line for line in lines) == 2
    assert tiny["stdout"].strip().endswith("2 activations, 2 cells trained, 0 skipped")


def test_figures_are_real_pngs_of_the_expected_size(tiny):
    figures = tiny["out"] / "figures"
    expected = {
        "activations.png": (900, 350),
        "loss_curves.png": (1200, 450),
        "slopes_prelu.png": (700, 400),
        "negative_fraction_relu.png": (900, 240),  # three layers side by side
        "negative_fraction_prelu.png": (900, 240),
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
    result = study.compare("mlp3x256", out=out, stream=io.StringIO(), command="second run", **API)
    assert counter.calls == [("mlp3x256_prelu", False)]
    assert result["skipped"] == ["relu-seed0"] and result["trained"] == ["prelu-seed0"]
    after = _mtimes(out)
    assert {k: v for k, v in after.items() if k.startswith("cells/relu-seed0/")} == before
    report = (out / "report.md").read_text()
    assert "Continued (resumed) with:" in report and "second run" in report
    assert [row["activation"] for row in _table(report)[1]] == ACTIVATIONS
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
    assert result["skipped"] == ["relu-seed0", "prelu-seed0"]
    assert _mtimes(out) == before
    assert "[2/2] prelu seed 0: finished earlier, skipped" in stream.getvalue()


@pytest.mark.slow
def test_cell_killed_after_its_last_checkpoint_resumes_instead_of_restarting(tiny, tmp_path, monkeypatch):
    out = _copy(tiny, tmp_path)
    cell = out / "cells" / "relu-seed0"
    for name in ("model_card.json", "model_card.md", "model.keras", "final.weights.h5",
                 "measurements.json"):
        (cell / name).unlink()
    counter = CountingTrain()
    monkeypatch.setattr(experiment, "train", counter)
    result = study.compare("mlp3x256", out=out, stream=io.StringIO(), **API)
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
    settings = dict(API, activations=["prelu"], epochs=2, timing_steps=0)
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
    assert card["training"]["sessions"] == 2 and len(cell.load_history()["loss"]) == 2
    _, rows = _table((out / "report.md").read_text())
    assert [row["step time"] for row in rows] == ["–"]  # timing switched off


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
    check_png(figures["slopes"], 700, 400)
    check_png(figures["negative_fraction"], 900, 240)


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
    check_png(run / "figures" / "negative_fraction.png", 900, 240)
    # Without measuring: the history's figures only (ReLU: no slopes).
    assert study.plot_run(run, out=tmp_path / "nom", measure_model=False).keys() == {"loss_curves"}


def test_spread_over_seeds_is_the_sample_standard_deviation():
    mean, sd = study.mean_sd([0.80, 0.90, 0.85])
    assert mean == pytest.approx(0.85) and sd == pytest.approx(0.05)
    assert study.format_accuracy((mean, sd)) == "85.00% ± 5.00"
    assert study.mean_sd([0.8]) == (0.8, None) and study.format_accuracy((0.8, None)) == "80.00%"


# -- heavier: several seeds and activations, real data ------------------------------------------
@pytest.mark.slow
def test_three_activations_two_seeds(tmp_path):
    out = tmp_path / "s"
    activations = ["relu", "leaky_relu", "prelu_shared"]
    result = study.compare("mlp3x256_relu", out=out, stream=io.StringIO(),
                           **dict(API, activations=activations, seeds=2, timing_steps="auto"))
    assert result["trained"] == [f"{a}-seed{s}" for s in (0, 1) for a in activations]
    report = (out / "report.md").read_text()
    _, rows = _table(report)
    assert [row["activation"] for row in rows] == activations
    for row in rows:
        accuracies = [runs.RunDir(out / "cells" / f"{row['activation']}-seed{s}").load_model_card()
                      ["results"]["test_accuracy"] for s in (0, 1)]
        assert row["test accuracy (mean ± sd)"] == study.format_accuracy(study.mean_sd(accuracies))
        for s in (0, 1):  # same seed, hence the same data order, for every activation
            config = runs.RunDir(out / "cells" / f"{row['activation']}-seed{s}").load_config()
            assert config["settings"]["seed"] == s and config["settings"]["epochs"] == 1
    _, per_seed = _table(report, "| activation | seed |")
    assert len(per_seed) == 6
    shared = json.loads((out / "cells/prelu_shared-seed0/measurements.json").read_text())
    assert all(s["count"] == 1 for s in shared["slopes"].values())  # one slope per layer
    assert all(layer["slopes"] == 1 and layer["channels"] == 256 for layer in shared["layers"].values())
    idle = sum(layer["idle"] for layer in shared["layers"].values())
    assert shared["idle_fraction"] == idle / 3
    leaky = json.loads((out / "cells/leaky_relu-seed0/measurements.json").read_text())
    assert leaky["fixed_slope"] == 0.01 and leaky["idle_fraction"] is None
    assert rows[1]["final slopes: mean [min, max]"] == "0.01 (fixed)"
    assert (out / "figures" / "slopes_prelu_shared.png").is_file()
    timing = json.loads((out / "study.json").read_text())["timing"]
    assert timing["steps"] >= 5 and all(len(v) == 2 for v in timing["seconds_per_step"].values())
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
    _, rows = _table(report)
    assert [row["activation"] for row in rows] == ["relu", "prelu"]
    for row in rows:  # one epoch of an MLP on Fashion-MNIST: well above chance
        assert float(row["test accuracy (mean ± sd)"].rstrip("%")) > 75
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
