"""`keras-prelu export`: run directories and .keras files, verified output, one-line errors."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_prelu
from conftest import randomize_slopes, run_cli, usage_error
from keras_prelu import export
from keras_prelu.export import tflite as tflite_export

pytestmark = pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")


def small_model(seed=0):
    """8x8x1 digits classifier with per-channel, shared and dense PReLU and a LeakyReLU."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(6, 3, padding="same")(inputs)
    h = keras_prelu.PReLU()(h)
    h = keras.layers.Conv2D(6, 3, strides=2, padding="same")(h)
    h = keras_prelu.PReLU(channel_shared=True)(h)
    h = keras.layers.Conv2D(6, 3, padding="same")(h)
    h = keras_prelu.LeakyReLU()(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(12)(h)
    h = keras_prelu.PReLU()(h)
    model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(h))
    return randomize_slopes(model, seed)


@pytest.fixture
def keras_file(tmp_path):
    path = tmp_path / "model.keras"
    small_model().save(path)
    return path


def test_run_directory_to_versioned_saved_model_with_final_weights(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    model = small_model(seed=0)
    model.save(run / "model.keras")
    final = small_model(seed=1)  # the run's final weights differ from model.keras's
    final.save_weights(run / "final.weights.h5")
    (run / "model_card.json").write_text(json.dumps({"model": "custom", "dataset": "digits"}))
    (tmp_path / "serving" / "3").mkdir(parents=True)

    code, out, err = run_cli(
        "export", run, "--out", tmp_path / "serving", "--version", "auto", "--input-name", "pixels"
    )
    assert code == 0, err
    version_dir = tmp_path / "serving" / "4"
    assert f"exported saved_model to {version_dir}" in out
    assert "signature 'serve': inputs pixels float32[-1, 8, 8, 1] -> outputs logits float32[-1, 10]" in out
    assert "parity vs Keras on 8 inputs (digits test images): max |diff| = " in out

    digits = export.dataset_arrays("digits", sample_size=32)
    loaded = tf.saved_model.load(str(version_dir))
    got = loaded.signatures["serve"](pixels=tf.constant(digits.sample))["logits"].numpy()
    expected = final(digits.sample, training=False).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * max(1, np.abs(expected).max()))
    assert np.abs(got - model(digits.sample).numpy()).max() > 1e-3  # not model.keras's weights

    usage_error("export", run, "--out", tmp_path / "serving", "--version", "4", fragments=["already exists"])


def test_jit_compiled_saved_model(keras_file, tmp_path):
    code, out, err = run_cli("export", keras_file, "--out", tmp_path / "xla", "--jit-compile")
    assert code == 0, err
    assert "compiled: the serving function is one XLA computation" in out
    assert export.saved_model_xla_functions(tmp_path / "xla")


def test_tflite_refuses_existing_output_until_overwrite(keras_file, tmp_path):
    out_file = tmp_path / "m.tflite"
    code, out, err = run_cli("export", keras_file, "--format", "tflite", "--out", out_file)
    assert code == 0, err
    assert "ops: " in out and "PRELU x3" in out and "LEAKY_RELU x1" in out and "NEG" not in out
    assert "max |diff| = " in out and "random normal" in out
    first = out_file.read_bytes()

    line = usage_error("export", keras_file, "--format", "tflite", "--out", out_file)
    assert line == (
        f"keras-prelu: error: '{out_file}' already exists; pass overwrite=True (--overwrite) to replace it"
    )
    assert out_file.read_bytes() == first

    code, out, err = run_cli(
        "export", keras_file, "--format", "tflite", "--out", out_file, "--overwrite", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["format"] == "tflite" and result["path"] == str(out_file)
    assert result["ops"]["PRELU"] == 3 and "NEG" not in result["ops"]
    assert result["max_scaled_diff"] <= 1e-5
    assert sorted(os.listdir(tmp_path)) == ["m.tflite", "model.keras"]


def test_int8_with_dataset_reports_accuracy(keras_file, tmp_path):
    code, out, err = run_cli(
        "export", keras_file, "--format", "tflite", "--out", tmp_path / "q.tflite",
        "--quantize", "int8", "--data", "digits", "--calibration-size", "64", "--eval-size", "100",
    )
    assert code == 0, err
    assert "PRELU x3" in out
    assert "int8 accuracy on 100 labelled samples (digits test images): Keras " in out
    assert "calibrated on 64 samples" in out
    assert "float conversion parity vs Keras on 8 inputs (digits test images)" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{missing}", "--out", "{tmp}/x"], "no such run directory or .keras file"),
        (["{tmp}", "--out", "{tmp}/x"], "has no model.keras: it is not a run directory"),
        (["{keras}", "--format", "keras", "--out", "{tmp}/x.h5"], "needs an --out path ending in .keras"),
        (["{keras}", "--out", "{tmp}/x", "--quantize", "int8"], "--quantize is for --format tflite"),
        (["{keras}", "--format", "onnx", "--out", "{tmp}/x", "--jit-compile"],
         "--jit-compile is for --format saved_model"),
        (["{keras}", "--format", "tflite", "--out", "{tmp}/x", "--version", "1"], "--version is for"),
        (["{keras}", "--out", "{tmp}/x", "--version", "0"], "--version must be a positive integer"),
        (["{keras}", "--format", "tflite", "--out", "{tmp}/x", "--quantize", "int8"],
         "needs training data for calibration"),
        (["{keras}", "--format", "tflite", "--out", "{tmp}/x", "--data", "no_such_dataset"],
         "--data no_such_dataset"),
        (["{keras}", "--format", "pb", "--out", "{tmp}/x"], "invalid choice"),
        (["{keras}", "--format", "tflite"], "--out"),
        (["{keras}", "--out", "{tmp}/x", "--sample-size", "0"], "--sample-size must be >= 1"),
    ],
)
def test_usage_errors_are_one_line_exit_2(argv, message, keras_file, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    values = {"missing": tmp_path / "nope", "tmp": work, "keras": keras_file}
    usage_error("export", *[a.format(**values) for a in argv], fragments=[message])
    assert os.listdir(work) == []


def test_onnx_without_extra_is_a_usage_error(monkeypatch, keras_file, tmp_path):
    monkeypatch.setattr(export, "onnx_available", lambda: (False, "ModuleNotFoundError: tf2onnx"))
    usage_error("export", keras_file, "--format", "onnx", "--out", tmp_path / "m.onnx",
                fragments=["pip install 'keras-prelu[onnx]'"])
    assert not (tmp_path / "m.onnx").exists()


def test_parity_mismatch_exits_1_and_writes_nothing(monkeypatch, keras_file, tmp_path):
    original = tflite_export.run_tflite
    monkeypatch.setattr(
        tflite_export, "run_tflite",
        lambda content, x, name: {k: v * 1.01 + 1e-3 for k, v in original(content, x, name).items()},
    )
    code, out, err = run_cli("export", keras_file, "--format", "tflite", "--out", tmp_path / "m.tflite")
    assert code == 1 and out == ""
    assert "The TFLite model differs from the Keras model: max |diff| =" in err
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]
