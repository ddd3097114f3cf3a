"""`keras-prelu train` / `evaluate`: a real run directory, resume after SIGKILL, one-line user errors."""

import json
import os
import signal
import subprocess

import numpy as np
import pytest

from keras_prelu.commands import main as cli
from keras_prelu.training import runs
from keras_prelu.utils.summaries import read_scalars
from conftest import (
    KERAS_PRELU,
    flip_a_byte_inside_the_largest_array,
    own_lines,
    python_env,
    run_cli,
    usage_error,
)

# Small enough to be quick, long enough (89 steps of 16 per epoch, 4 per call) to be killed mid-epoch.
RESUME_ARGS = ["mlp3x256_prelu", "--epochs", "3", "--batch-size", "16", "--steps-per-execution", "4",
               "--no-xla"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mlp"
    code = cli.main(["train", "mlp3x256_prelu", "--epochs", "3", "--out", str(out), "--progress", "none"])
    assert code == 0
    return out


def test_train_writes_a_complete_run_directory(finished_run, capsys):
    run = runs.RunDir(finished_run)
    for name in (runs.CONFIG, runs.HISTORY, runs.MODEL_FILE, runs.WEIGHTS_FILE,
                 runs.MODEL_CARD_JSON, runs.MODEL_CARD_MD):
        assert run.file(name).is_file(), name
    assert [epoch for epoch, _ in run.checkpoints()] == [2, 3]
    history = json.loads(run.file(runs.HISTORY).read_text())
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert len(history[key]) == 3, key
    assert history["loss"][-1] < history["loss"][0]
    assert set(history["slopes"]) == {"layer1_act", "layer2_act", "layer3_act"}
    assert all(len(series["mean"]) == 3 for series in history["slopes"].values())
    card = run.load_model_card()
    assert card["model"] == "mlp3x256_prelu" and card["dataset"]["name"] == "digits"
    assert card["recipe"]["name"] == "default" and card["results"]["epochs"] == 3
    assert 0.5 < card["results"]["test_accuracy"] <= 1.0
    assert card["results"]["training_seconds"] > 0
    scalars = read_scalars(run.log_dir, by_split=True)
    assert [step for step, _ in scalars["train"]["loss"]] == [1, 2, 3]
    assert len(scalars["validation"]["accuracy"]) == 3


def test_zoo_loads_the_run_directory(finished_run):
    import zoo

    assert runs.MODEL_FILE in zoo.RUN_WEIGHT_FILES and runs.WEIGHTS_FILE in zoo.RUN_WEIGHT_FILES
    model = zoo.get("mlp3x256_prelu", weights=finished_run, input_shape=(8, 8, 1))
    reference = runs.RunDir(finished_run)
    import keras

    saved = keras.saving.load_model(reference.file(runs.MODEL_FILE))
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(model(x), saved(x), rtol=1e-5, atol=1e-6)


def test_evaluate_reproduces_the_card(finished_run, capsys):
    capsys.readouterr()
    assert cli.main(["evaluate", str(finished_run)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    card = runs.RunDir(finished_run).load_model_card()
    assert f"accuracy {100 * card['results']['test_accuracy']:.2f}%" in line
    assert "360 images" in line and "model.keras" in line


def test_resume_of_a_finished_run_trains_no_more(finished_run, capsys):
    before = json.loads((finished_run / runs.HISTORY).read_text())
    assert cli.main(["train", "mlp3x256_prelu", "--out", str(finished_run), "--resume",
                     "--progress", "none"]) == 0
    after = json.loads((finished_run / runs.HISTORY).read_text())
    assert after == before


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (["train", "resnet21_prelu"], ["unknown model 'resnet21_prelu'", "resnet20_prelu"]),
        (["train", "mlp3x256_prelu", "--dataset", "mnistt"], ["unknown dataset 'mnistt'", "mnist"]),
        (["train", "mlp3x256_prelu", "--dataset", "imdb_reviews"], ["not image classification"]),
        (["train", "mlp3x256_prelu", "--epochs", "0"], ["--epochs", ">= 1", "'0'"]),
        (["train", "mlp3x256_prelu", "--batch-size", "many"], ["--batch-size", "'many'"]),
        (["train", "mlp3x256_prelu", "--lr", "-0.1"], ["--lr", "> 0"]),
        (["train", "mlp3x256_prelu", "--precision", "float8"], ["float8", "mixed_bfloat16"]),
        (["train", "mlp3x256_prelu", "--recipe", "resnet"], ["unknown recipe 'resnet'", "resnet-cifar"]),
        (["train", "mlp3x256_prelu", "--batch-size", "5000"], ["batch size 5000", "1437"]),
        (["train", "mlp3x256_prelu", "--xla", "--no-xla"], ["not allowed with"]),
        (["evaluate", "/nonexistent/run"], ["no such run directory"]),
    ],
)
def test_user_errors_are_one_line(argv, fragments):
    usage_error(*argv, fragments=fragments)


def test_missing_data_offline_is_a_user_error(tmp_path):
    usage_error(
        "train", "mlp3x256_prelu", "--dataset", "mnist", "--data-dir", tmp_path, "--no-download",
        "--out", tmp_path / "run",
        fragments=["'mnist' is not prepared", "downloads are off"],
    )
    assert not (tmp_path / "run").exists()


def test_run_directory_conflicts_are_user_errors(tmp_path, finished_run):
    usage_error("train", "mlp3x256_prelu", "--resume", "--out", tmp_path / "none", fragments=["nothing to resume"])
    usage_error("train", "mlp3x256_prelu", "--out", finished_run, fragments=["already holds a run", "--resume"])
    usage_error("train", "mlp3x256_prelu", "--resume", "--out", finished_run, "--epochs", "7",
                fragments=["epochs is 3 there, not 7"])
    usage_error("evaluate", tmp_path, fragments=["not a run directory"])


def test_exit_code_and_stderr_of_the_installed_command(tmp_path):
    completed = subprocess.run(
        [*KERAS_PRELU, "train", "nosuchmodel", "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=180, env=python_env(), cwd=tmp_path,
    )
    assert completed.returncode == 2
    lines = own_lines(completed.stderr)
    assert lines == [lines[0]] and lines[0].startswith("keras-prelu: error: unknown model 'nosuchmodel'")
    assert "Traceback" not in completed.stderr


def test_sigkill_mid_epoch_then_resume_loses_no_finished_epoch(tmp_path):
    """Kill a run with SIGKILL in the middle of epoch 3, resume it, compare with an uninterrupted run."""
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [*KERAS_PRELU, "train", *RESUME_ARGS, "--out", str(killed),
         "--progress", "lines", "--progress-every", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=python_env(), cwd=tmp_path,
        start_new_session=True,
    )
    seen = None
    try:
        for line in process.stderr:
            if line.startswith("epoch 3/3 [") and "ETA" in line:  # a partial epoch-3 line
                seen = line.strip()
                os.killpg(process.pid, signal.SIGKILL)
                break
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert seen is not None, "never saw epoch 3 in progress"
    assert process.returncode == -signal.SIGKILL
    run = runs.RunDir(killed)
    assert [epoch for epoch, _ in run.checkpoints()] == [1, 2]  # both finished epochs were kept
    before = json.loads(run.file(runs.HISTORY).read_text())
    assert len(before["loss"]) == 2
    assert not run.file(runs.MODEL_FILE).exists()

    resumed = subprocess.run(
        [*KERAS_PRELU, "train", "mlp3x256_prelu", "--out", str(killed),
         "--resume", "--progress", "lines"],
        capture_output=True, text=True, timeout=300, env=python_env(), cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed {killed} after epoch 2" in resumed.stderr
    after = json.loads(run.file(runs.HISTORY).read_text())
    assert len(after["loss"]) == 3
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert after[key][:2] == before[key][:2]  # the finished epochs, as they were
    card = run.load_model_card()
    assert card["training"]["sessions"] == 2

    uninterrupted = tmp_path / "uninterrupted"
    assert cli.main(["train", *RESUME_ARGS, "--out", str(uninterrupted), "--progress", "none"]) == 0
    reference = runs.RunDir(uninterrupted)
    reference_history = json.loads(reference.file(runs.HISTORY).read_text())
    # Same seeds and per-epoch data order: the same learning-rate trajectory, accuracy within noise.
    np.testing.assert_allclose(after["lr"], reference_history["lr"], rtol=1e-6)
    assert abs(card["results"]["test_accuracy"] - reference.load_model_card()["results"]["test_accuracy"]) <= 0.03
    state = runs.read_checkpoint_state(run.latest_checkpoint())
    assert state["epoch"] == 3 and state["step"] == 3 * (1437 // 16)


def test_steps_per_epoch_trains_short_epochs(tmp_path):
    out = tmp_path / "short"
    code = cli.main(["train", "mlp3x256_relu", "--epochs", "2", "--batch-size", "16",
                     "--steps-per-epoch", "3", "--out", str(out), "--progress", "none"])
    assert code == 0
    run = runs.RunDir(out)
    state = runs.read_checkpoint_state(run.latest_checkpoint())
    assert state["step"] == 6  # 2 epochs of 3 steps, not 2 x 89
    assert run.load_config()["settings"]["steps_per_epoch"] == 3
    card = run.load_model_card()
    assert card["training"]["xla_decision"] == "device default (short run)"
    usage_error("train", "mlp3x256_relu", "--batch-size", "16", "--steps-per-epoch", "1000",
                "--out", tmp_path / "long", fragments=["--steps-per-epoch 1000", "89 full batches"])
    usage_error("train", "mlp3x256_relu", "--steps-per-epoch", "0", "--out", tmp_path / "zero",
                fragments=["--steps-per-epoch"])


def test_resume_falls_back_from_a_checkpoint_with_damaged_bytes(tmp_path):
    out = tmp_path / "run"
    args = ["train", "mlp3x256_relu", "--epochs", "2", "--batch-size", "64", "--no-xla",
            "--progress", "none", "--out", str(out)]
    assert cli.main(args) == 0
    run = runs.RunDir(out)
    flip_a_byte_inside_the_largest_array(run.checkpoint_path(2))
    code, _, err = run_cli(*args, "--resume")
    assert code == 0, err
    warnings = [line for line in own_lines(err) if "damaged" in line]
    assert len(warnings) == 1 and "epoch-0002.npz" in warnings[0], err
    assert "resumed" in err and "after epoch 1" in err
    assert (out / "checkpoints" / "epoch-0002.npz.damaged").is_file()
    assert runs.verify_checkpoint(run.checkpoint_path(2))["epoch"] == 2


def test_a_diverging_run_stops_in_one_line_and_saves_nothing_non_finite(tmp_path):
    out = tmp_path / "diverged"
    line = usage_error("train", "mlp3x256_relu", "--epochs", "2", "--lr", "1e30", "--batch-size", "64",
                       "--no-xla", "--progress", "none", "--out", out,
                       fragments=["training diverged in epoch 1", "no checkpoint was written", "--lr"])
    assert "by step" in line
    assert runs.RunDir(out).checkpoints() == []


def test_divergence_after_finite_epochs_names_the_checkpoint_kept():
    import types

    import keras

    from keras_prelu.training import experiment

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.layers[0].kernel.assign(np.full((2, 2), np.inf, "float32"))
    session = types.SimpleNamespace(
        model=model, trainer=types.SimpleNamespace(iterations=30),
        recipe=types.SimpleNamespace(learning_rate=0.5),
        settings=types.SimpleNamespace(precision="mixed_float16"),
    )
    with pytest.raises(experiment.TrainingDiverged) as caught:
        experiment._check_finite(session, 2, 0.7)  # a finite loss, infinite weights
    message = str(caught.value)
    assert "epoch 3 (by step 30): weights are not finite" in message
    assert "the checkpoint of epoch 2 is kept" in message and "--precision float32" in message


def test_a_replaced_final_model_is_refused_not_evaluated(tmp_path):
    import keras
    import zoo

    out = tmp_path / "run"
    assert cli.main(["train", "mlp3x256_relu", "--epochs", "1", "--batch-size", "64", "--no-xla",
                     "--progress", "none", "--out", str(out)]) == 0
    run = runs.RunDir(out)
    assert set(run.load_model_card()[runs.FINAL_FILES_KEY]) == {runs.MODEL_FILE, runs.WEIGHTS_FILE}
    code, stdout, _ = run_cli("evaluate", out)
    assert code == 0 and "accuracy" in stdout
    other = zoo.get("mlp3x256_relu", input_shape=(8, 8, 1))  # same architecture, other weights
    other.save(tmp_path / "other.keras")
    (out / runs.MODEL_FILE).write_bytes((tmp_path / "other.keras").read_bytes())
    for argv in (("evaluate", out), ("export", out, "--out", tmp_path / "exported")):
        usage_error(*argv, fragments=["model.keras", "is not the run's final model"])
    assert not (tmp_path / "exported").exists()
    with pytest.raises(runs.RunFileMismatch):
        run.load_model()
    keras.backend.clear_session()


def test_zoo_takes_the_input_shape_and_classes_of_a_run_directory(finished_run):
    import zoo

    model = zoo.get("mlp3x256_prelu", weights=finished_run)  # as the README writes it
    assert tuple(model.inputs[0].shape[1:]) == (8, 8, 1) and model.outputs[0].shape[-1] == 10
    with pytest.raises(ValueError, match="do not fit"):  # an explicit override still wins
        zoo.get("mlp3x256_prelu", weights=finished_run, input_shape=(28, 28, 1))


def test_a_non_finite_validation_explains_itself(tmp_path, monkeypatch, caplog):
    import logging

    from keras_prelu.training import experiment, trainer

    real = trainer.Trainer.evaluate

    def nan_in_the_training_mode(self, dataset, progress=None, jit_compile=None):
        result = real(self, dataset, progress, jit_compile)
        if jit_compile is None:  # the ordinary validation: make it NaN, as seen once in a real run
            result["loss"] = float("nan")
        return result

    monkeypatch.setattr(trainer.Trainer, "evaluate", nan_in_the_training_mode)
    with caplog.at_level(logging.WARNING, logger="keras_prelu"):
        result = experiment.train("mlp3x256_relu", epochs=1, batch_size=64, jit_compile=False,
                                  progress="none", out=str(tmp_path / "run"))
    history = result["history"]
    assert history["val_mode"] == ["xla"]  # the mode of the loss reported: the other one
    (note,) = history["evaluation_notes"]
    assert note["mode"] == "graph" and note["other_mode"] == "xla" and note["weights_finite"]
    assert np.isfinite(note["other_loss"]) and history["val_loss"] == [note["other_loss"]]
    assert any("validation after epoch 1 gave loss nan" in r.getMessage() for r in caplog.records)
