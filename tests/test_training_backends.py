"""`keras-prelu train` under JAX (and PyTorch where installed) with TensorFlow unimportable,
and the models crossing backends: trained under JAX, served by TensorFlow; saved under
TensorFlow, loaded under JAX.

One child process per backend runs `tests/backend_training.py` (TensorFlow refused there);
this process (TensorFlow backend) then loads what the child trained and exports it.

    python -m pytest -q tests/test_training_backends.py
"""

import importlib.util
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import zoo
from conftest import ROOT, child_json, python_env

BACKENDS = ["jax", "torch"]
COMPILER = {"jax": "jax.jit", "torch": "eager"}


def _available(backend):
    return importlib.util.find_spec(backend) is not None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """{backend: (its run folder, the child's JSON or its failure)}, the children run in parallel."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("checks the other backends from TensorFlow: run it on the TensorFlow backend")
    base = tmp_path_factory.mktemp("backends")
    model = zoo.get("resnet20_prelu", input_shape=(8, 8, 1), num_classes=10)
    rng = np.random.default_rng(0)
    for variable in model.weights:  # slopes and statistics away from their initial values
        if "alpha" in variable.path or "moving" in variable.path:
            variable.assign(rng.uniform(0.1, 0.9, variable.shape).astype("float32"))
    inputs = rng.normal(size=(16, 8, 8, 1)).astype("float32")
    model.save(base / "from_tensorflow.keras")
    np.save(base / "from_tensorflow_inputs.npy", inputs)
    np.save(base / "from_tensorflow_logits.npy", keras.ops.convert_to_numpy(model(inputs)))
    children = {}
    for backend in BACKENDS:
        if _available(backend):
            out = base / backend
            out.mkdir()
            children[backend] = (out, subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "backend_training.py"), str(out),
                 "--no-tensorflow"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=python_env(KERAS_BACKEND=backend),
            ))
    results = {}
    for backend, (out, child) in children.items():
        stdout, stderr = child.communicate(timeout=900)
        results[backend] = (out, child.returncode, stdout, stderr)
    return base, results


@pytest.fixture(params=BACKENDS)
def run(request, trained):
    """(backend, its output folder, the child's JSON)."""
    if not _available(request.param):
        pytest.skip(f"{request.param} is not installed (the torch extra is opt-in)")
    _, results = trained
    out, *finished = results[request.param]
    return request.param, out, child_json(*finished)


def test_train_and_resume_without_tensorflow(run):
    backend, out, found = run
    assert found["backend"] == backend
    assert found["tensorflow_imported"] is False
    assert found["codes"] == [0, 0]
    environment = found["environment"]
    assert environment["backend"] == backend
    assert environment["backend_version"] == importlib.import_module(backend).__version__
    assert environment["tensorflow"] is None  # refused in the child
    assert found["training"]["compiler"] == COMPILER[backend]
    assert found["training"]["xla_decision"] == "backend default"
    assert found["history_epochs"] == 3
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "slopes"} <= set(found["history_keys"])
    assert {"model.keras", "final.weights.h5", "model_card.json", "model_card.md", "history.json",
            "config.json", "checkpoints", "logs"} <= set(found["files"])
    assert any(name.startswith("logs/train/events.out.tfevents.") for name in found["log_files"])
    assert found["test_accuracy"] > 0.3  # 12 steps of 32 on digits; chance is 0.1


def test_a_run_stopped_after_an_epoch_resumes_to_the_same_weights(run):
    _, _, found = run
    assert found["interrupted"] is True
    assert found["checkpoints_at_crash"] == ["epoch-0001.npz"]
    assert found["resumed_sessions"] == 2
    assert found["resumed_weights_close"], "the resumed run diverged from the uninterrupted one"
    assert found["resumed_test_accuracy"] == pytest.approx(found["test_accuracy"], abs=1e-6)


def test_the_model_trained_elsewhere_loads_and_predicts_the_same_under_tensorflow(run):
    _, out, _ = run
    model = keras.saving.load_model(out / "whole" / "model.keras", compile=False)
    images = np.load(out / "images.npy")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(images)),
                               np.load(out / "logits.npy"), rtol=1e-4, atol=1e-5)


def test_the_model_trained_elsewhere_exports_to_savedmodel_and_tflite(run, tmp_path):
    import tensorflow as tf

    from keras_prelu.export import export_model

    _, out, _ = run
    images = np.load(out / "images.npy")
    expected = np.load(out / "logits.npy")
    saved = export_model(str(out / "whole"), str(tmp_path / "serving"), "saved_model")
    assert saved.max_scaled_diff <= 1e-5
    served = tf.saved_model.load(str(tmp_path / "serving"))
    signature = served.signatures["serving_default"]
    outputs = list(signature(tf.constant(images)).values())[0].numpy()
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)
    lite = export_model(str(out / "whole"), str(tmp_path / "model.tflite"), "tflite")
    assert lite.max_scaled_diff <= 1e-5


def test_a_model_saved_under_tensorflow_loads_under_the_other_backend(run, trained):
    _, out, _ = run
    base, _ = trained
    expected = np.load(base / "from_tensorflow_logits.npy")  # logits in the thousands: 20 layers
    np.testing.assert_allclose(np.load(out / "from_tensorflow_logits.npy"), expected, rtol=1e-4,
                               atol=1e-5 * np.abs(expected).max())


def test_the_tensorboard_scalars_written_without_tensorflow_read_back(run):
    from keras_prelu.utils.summaries import read_scalars

    _, out, _ = run
    history = json.loads((out / "whole" / "history.json").read_text())
    scalars = read_scalars(out / "whole" / "logs", by_split=True)
    assert [step for step, _ in scalars["train"]["loss"]] == [1, 2, 3]
    np.testing.assert_allclose([v for _, v in scalars["train"]["loss"]], history["loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in scalars["validation"]["accuracy"]],
                               history["val_accuracy"], rtol=1e-6)


NO_TENSORFLOW_CLI = ("import sys; sys.modules['tensorflow'] = None; "
                     "from keras_prelu.commands.main import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.skipif(not _available("jax"), reason="jax is not installed")
def test_mirrored_under_jax_is_keras_data_parallel_over_the_local_devices(tmp_path):
    from conftest import run_python

    env = python_env(KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    out = tmp_path / "mirrored"
    run_python("-c", NO_TENSORFLOW_CLI, "train", "mlp3x256_prelu", "--epochs", "1",
               "--steps-per-epoch", "2", "--batch-size", "32", "--strategy", "mirrored",
               "--out", out, "--progress", "none", env=env)
    environment = json.loads((out / "model_card.json").read_text())["environment"]
    assert (environment["strategy"], environment["replicas"]) == ("DataParallel", 2)
    refused = run_python("-c", NO_TENSORFLOW_CLI, "train", "mlp3x256_prelu", "--strategy",
                         "multi_worker", "--out", tmp_path / "refused", env=env, check=False)
    assert refused.returncode == 2
    lines = [line for line in refused.stderr.splitlines() if line.startswith("keras-prelu")]
    assert lines == [lines[0]] and "multi_worker" in lines[0] and "mirrored" in lines[0]
    assert "Traceback" not in refused.stderr


@pytest.mark.skipif(not _available("jax"), reason="jax is not installed")
def test_compare_under_jax_without_tensorflow_and_its_backend_is_part_of_the_cells(tmp_path,
                                                                                    capsys):
    from conftest import run_python

    env = python_env(KERAS_BACKEND="jax")
    out = tmp_path / "study"
    args = ["-c", NO_TENSORFLOW_CLI, "compare", "mlp3x256", "--activations", "relu,prelu",
            "--seeds", "2", "--epochs", "1", "--steps-per-epoch", "3", "--timing-rounds", "3",
            "--attack-examples", "50", "--out", out]
    run_python(*args, env=env)
    state = json.loads((out / "study.json").read_text())
    assert state["settings"]["backend"] == "jax"
    summary = state["summary"]["activations"]
    assert sorted(summary) == ["prelu", "relu"] and summary["prelu"]["test_accuracy"]["n"] == 2
    assert summary["prelu"]["step_time_ratio"]["n"] == 3
    report = (out / "report.md").read_text()
    assert "backend jax" in report and "TensorFlow" not in report.split("## Environment")[1]
    # The same study directory under TensorFlow would mix backends: refused in one line.
    from keras_prelu.commands import main as cli

    assert cli.main([str(a) for a in args[2:]]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "backend='jax', not 'tensorflow'" in error[0]


@pytest.mark.skipif(not _available("jax"), reason="jax is not installed")
def test_export_without_tensorflow_is_one_line(tmp_path):
    from conftest import run_python

    result = run_python("-c", NO_TENSORFLOW_CLI, "export", tmp_path, "--format", "tflite",
                        env=python_env(KERAS_BACKEND="jax"), check=False)
    lines = [line for line in result.stderr.splitlines() if line.startswith("keras-prelu")]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert lines == ["keras-prelu: error: export: keras_prelu.export needs TensorFlow: "
                     "pip install tensorflow"]
