"""The layers, the zoo and the diagnostics on JAX and PyTorch, with TensorFlow unimportable.

One child process per backend (`KERAS_BACKEND=jax`, and `torch` where PyTorch
is installed) runs `tests/backend_checks.py` with `sys.modules["tensorflow"] =
None` set before Keras is imported, so any `import tensorflow` fails there. It
loads the weights this process (TensorFlow backend) saved, runs every
diagnostic on the same tiny NumPy data and prints the numbers; this process
runs the very same code meanwhile, and the tests compare the two: the same
negative fractions and dead channels, FGSM and PGD accuracies, zero
input-gradient fractions, and stability gradient norms within rtol 1e-4; the
children's callbacks write TensorBoard event files that this process reads.
A static check keeps `import tensorflow` out of the import-time code of the
backend-neutral packages.

    python -m pytest -q tests/test_backends.py
"""

import ast
import importlib.util
import subprocess
import sys

import keras
import numpy as np
import pytest

import backend_checks
from conftest import ROOT, child_json, python_env
from keras_prelu.utils.summaries import read_scalars

BACKENDS = ["jax", "torch"]
RTOL = 1e-4
# What must import without TensorFlow: the core, utils, the diagnostics and the zoo.
# The TensorFlow programs; everything else (training included: its TensorFlow loop, tf.data
# pipeline and XLA choice load on first use) imports without TensorFlow.
TENSORFLOW_ONLY = ("keras_prelu/_tf_kernels.py", "keras_prelu/native", "keras_prelu/export",
                   "keras_prelu/study", "keras_prelu/experiment.py",
                   "keras_prelu/training/trainer.py", "keras_prelu/training/data.py",
                   "keras_prelu/training/xla_choice.py")
BACKEND_NEUTRAL = ()


def _available(backend):
    return importlib.util.find_spec(backend) is not None


def assert_close(found, reference, rtol=1e-6, path="result"):
    """The same nested structure; numbers within `rtol`, everything else equal."""
    if isinstance(reference, dict):
        assert sorted(found) == sorted(reference), path
        for key in reference:
            assert_close(found[key], reference[key], rtol, f"{path}[{key!r}]")
    elif isinstance(reference, (list, tuple)):
        assert len(found) == len(reference), path
        for i, (a, b) in enumerate(zip(found, reference)):
            assert_close(a, b, rtol, f"{path}[{i}]")
    elif isinstance(reference, float) and not isinstance(reference, bool):
        assert found == pytest.approx(reference, rel=rtol, nan_ok=True), path
    else:
        assert found == reference, path


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """(TensorFlow's numbers, {backend: the child's JSON}); the children run while this process
    measures."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("compares the other backends with TensorFlow: run it on the TensorFlow backend")
    weights = tmp_path_factory.mktemp("weights")
    models = backend_checks.models()
    backend_checks.prepare(models)
    for name, model in models.items():
        model.save_weights(weights / f"{name}.weights.h5")
    children = {
        backend: subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "backend_checks.py"), str(weights),
             "--no-tensorflow"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=python_env(KERAS_BACKEND=backend),
        )
        for backend in BACKENDS
        if _available(backend)
    }
    try:
        reference = backend_checks.measure(models, backend_checks.data())
    finally:
        results = {}
        for backend, child in children.items():
            out, err = child.communicate(timeout=600)
            results[backend] = (child.returncode, out, err)
    return reference, results


@pytest.fixture(params=BACKENDS)
def other(request, measured):
    """(TensorFlow's numbers, the numbers of the backend under test)."""
    if not _available(request.param):
        pytest.skip(f"{request.param} is not installed")
    reference, results = measured
    return reference, child_json(*results[request.param])


def test_without_tensorflow_the_package_imports_and_the_diagnostics_run(other):
    _, found = other
    assert found["backend"] in BACKENDS
    assert found["tensorflow_imported"] is False  # `import tensorflow` was refused throughout
    # TensorFlow-only parts: an ImportError with one line naming what needs TensorFlow.
    assert found["tensorflow_only"] == {
        "keras_prelu.training.Trainer": "ImportError: keras_prelu.training.Trainer needs "
                                        "TensorFlow: pip install tensorflow",
        "read_scalars": "ImportError: Reading TensorBoard event files needs TensorFlow: "
                        "pip install tensorflow",
    }
    # The callbacks inside `fit` on this backend: logged and recorded after the epoch.
    dead_fraction = found["callbacks"].pop("dead_fraction")
    assert found["callbacks"] == {
        "dead_fraction_logged": True,
        "monitor_epochs": [0],
        "tracker_layers": ["layer1_act", "layer2_act", "layer3_act"],
    }
    # Their event files (written without TensorFlow, in pure Python), read here by TensorFlow.
    scalars = read_scalars(found["log_dir"])
    assert scalars["diagnostics/dead_fraction"] == [(0, pytest.approx(dead_fraction[0]))]
    for layer in found["callbacks"]["tracker_layers"]:
        assert [step for step, _ in scalars[f"slopes/{layer}/mean"]] == [0]


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_negative_fractions_and_dead_channels_equal_tensorflow(other, model):
    reference, found = (side[model]["negative_fraction"] for side in other)
    assert found == reference
    if model == "conv":  # the checks see something: the PReLU slopes set to 0 give dead channels
        assert reference["layers"]["prelu3"]["dead"] == [0] and reference["dead_fraction"] > 0
        assert "conv2" not in reference["layers"]  # a fused relu cannot be tapped


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_attack_accuracies_equal_tensorflow(other, model):
    reference, found = (side[model] for side in other)
    one_example = 1.0 / backend_checks.N + 1e-12  # float rounding may flip one borderline example
    for attack in ("fgsm", "pgd"):
        np.testing.assert_allclose(found[attack], reference[attack], rtol=0, atol=one_example)
    x, _ = backend_checks.data()[model]
    assert found["zero_input_gradient_fraction"] == pytest.approx(
        reference["zero_input_gradient_fraction"], abs=1.5 / x.size
    )


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_stability_gradient_norms_close_to_tensorflow(other, model):
    reference, found = (side[model] for side in other)
    for key in ("weight_grad_norms", "output_grad_norms", "balancing_slopes"):
        np.testing.assert_allclose(
            found["stability"][key], reference["stability"][key], rtol=RTOL, err_msg=key
        )
    # In training mode BatchNorm normalises with the batch statistics on every backend. (Only
    # TensorFlow's pass also updates the moving statistics, which the balancing slopes read.)
    for key in ("weight_grad_norms", "output_grad_norms"):
        np.testing.assert_allclose(
            found["stability_training"][key], reference["stability_training"][key], rtol=RTOL,
            err_msg=key,
        )
    assert all(value > 0 for value in reference["stability"]["output_grad_norms"])


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_weights_batchnorm_and_sculpting_agree_with_tensorflow(other, model):
    reference, found = (side[model] for side in other)
    assert_close(found["slopes"], reference["slopes"])
    assert_close(found["bn_prelu_pairs"], reference["bn_prelu_pairs"])
    assert found["foldable_batchnorms"] == reference["foldable_batchnorms"]
    assert found["folded_max_error"] < 1e-5 and reference["folded_max_error"] < 1e-5
    assert found["sculpt_removed"] == reference["sculpt_removed"]


def test_activation_derivatives_for_plots_equal_tensorflow(other):
    reference, found = (side["activation_derivatives"] for side in other)
    assert found == pytest.approx(reference)
    assert reference["prelu"] == pytest.approx([0.25, 0.25, 1.0, 1.0, 1.0])


def _module_level_tensorflow_imports(path):
    """Line numbers of `import tensorflow...` / `from tensorflow...` that run on import."""
    found = []

    def visit(node, in_function):
        if isinstance(node, ast.Import) and not in_function:
            found.extend(node.lineno for a in node.names if a.name.split(".")[0] == "tensorflow")
        elif isinstance(node, ast.ImportFrom) and not in_function and node.module:
            if node.module.split(".")[0] == "tensorflow":
                found.append(node.lineno)
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(path.read_text()), False)
    return found


def test_backend_neutral_modules_import_tensorflow_only_where_it_is_used():
    files = [
        path for package in ("keras_prelu", "zoo") for path in sorted((ROOT / package).rglob("*.py"))
        if not str(path.relative_to(ROOT)).startswith(TENSORFLOW_ONLY)
        or str(path.relative_to(ROOT)) in BACKEND_NEUTRAL
    ]
    assert any(path.name == "negative_fraction.py" for path in files)
    assert any(path.name == "array_data.py" for path in files)
    offending = {
        str(path.relative_to(ROOT)): lines
        for path in files
        if (lines := _module_level_tensorflow_imports(path))
    }
    assert offending == {}, f"module-level `import tensorflow` (import it inside the function): {offending}"
