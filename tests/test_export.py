"""Export: SavedModel served by plain TensorFlow, TFLite with native PRELU, ONNX, atomic writes.

Default run: a handful of small models (one per zoo family, every activation
kind among them) on real digit images. `--run-slow` adds every family x
activation x format. ONNX tests need the `onnx` extra (tf2onnx, onnxruntime)
and skip with the import error otherwise.
"""

import contextlib
import os
import shutil
import subprocess
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_prelu
from conftest import last_json_line, python_env, randomize_slopes, run_python
from keras_prelu import _tf_kernels, export
from keras_prelu import ops as prelu_ops
from keras_prelu.export import keras_format as keras_export
from keras_prelu.export import onnx as onnx_export
from keras_prelu.export import saved_model as saved_model_export
from keras_prelu.export import tflite as tflite_export

pytestmark = pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")

TOL = 1e-5
ACTIVATION_KINDS = ("relu", "leaky", "prelu", "prelu_shared", "rrelu")
FAMILIES = {  # family -> (model name template, overrides keeping the default run small)
    "mlp": ("mlp3x256_{}", {"input_shape": (8, 8, 1)}),
    "cifar_resnet": ("resnet20_{}", {"width": 8}),
    "imagenet_resnet": ("resnet18_{}", {"input_shape": (32, 32, 3), "num_classes": 10, "width": 16}),
}
FULL_SIZE = {  # the slow sweep: registered widths, smaller images for the ImageNet family
    "mlp": {"input_shape": (8, 8, 1)},
    "cifar_resnet": {},
    "imagenet_resnet": {"input_shape": (64, 64, 3), "num_classes": 10},
}
ONNX_OK, ONNX_REASON = export.onnx_available()
needs_onnx = pytest.mark.skipif(not ONNX_OK, reason=f"onnx extra not installed: {ONNX_REASON}")


# ---------------------------------------------------------------------------
# Models and real inputs
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digit_arrays():
    """`export.RealData` of normalised real digit images (8x8x1): check batch, training
    sample, labelled test set."""
    return export.dataset_arrays("digits", sample_size=16, calibration_size=256, eval_size=360)


def real_inputs(digit_arrays, shape):
    """Real digit images brought to `shape` (H, W, C): resized, channels repeated."""
    x = digit_arrays.sample
    if x.shape[1:] == tuple(shape):
        return x
    x = tf.image.resize(x, shape[:2]).numpy()
    return np.repeat(x, shape[2], axis=-1).astype("float32")


def case_inputs(case, model, digit_arrays):
    """Inputs for a TFLite/ONNX case: real digits brought to the model's input shape; for
    "per_element", random normal 6x10x3 inputs."""
    if case == "per_element":
        return np.random.default_rng(0).standard_normal((5, 6, 10, 3)).astype("float32")
    return real_inputs(digit_arrays, model.input_shape[1:])


def mixed_model():
    """Every rectifier kind on 8x8x1 digits: per-channel, shared, per-element slopes, leaky, RReLU."""
    inputs = keras.Input((8, 8, 1), name="digit")
    h = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    h = keras_prelu.PReLU(name="prelu_channel")(h)
    h = keras.layers.Conv2D(8, 3, padding="same")(h)
    h = keras_prelu.PReLU(channel_shared=True, name="prelu_shared")(h)
    h = keras.layers.Conv2D(8, 3, padding="same")(h)
    h = keras_prelu.PReLU(shared_axes=[1], name="prelu_axes")(h)
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same")(h)
    h = keras_prelu.LeakyReLU(name="leaky")(h)
    h = keras.layers.Conv2D(8, 3, padding="same")(h)
    h = keras_prelu.RReLU(name="rrelu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dense(16)(h)
    h = keras_prelu.PReLU(name="prelu_dense")(h)
    outputs = keras.layers.Dense(10, name="logits")(h)
    return randomize_slopes(keras.Model(inputs, outputs))


def per_element_model():
    """Non-square 6x10 inputs, slopes varying along height or width (Keras `shared_axes`)."""
    inputs = keras.Input((6, 10, 3), name="image")
    h = keras.layers.Conv2D(5, 3, padding="same")(inputs)
    h = keras_prelu.PReLU(shared_axes=[1], name="prelu_w_c")(h)  # alpha (1, 10, 5)
    h = keras.layers.Conv2D(4, 3, padding="same")(h)
    h = keras_prelu.PReLU(shared_axes=[2], name="prelu_h_c")(h)  # alpha (6, 1, 4)
    h = keras.layers.Conv2D(3, 3, padding="same")(h)
    h = keras_prelu.PReLU(shared_axes=[1, 2], name="prelu_c")(h)  # alpha (1, 1, 3)
    outputs = keras.layers.Dense(4, name="scores")(keras.layers.Flatten()(h))
    return randomize_slopes(keras.Model(inputs, outputs))


def zoo_model(family, activation, full_size=False):
    zoo = pytest.importorskip("zoo")
    template, overrides = FAMILIES[family]
    if full_size:
        overrides = FULL_SIZE[family]
    return randomize_slopes(zoo.get(template.format(activation), **overrides))


def keras_outputs(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def assert_close(reference, got):
    """|got - reference| <= 1e-5 x max(1, |reference|) (float32 rounding grows with magnitude)."""
    got = np.asarray(got)
    assert got.shape == reference.shape
    diff = np.abs(got.astype("float64") - reference.astype("float64")).max()
    assert diff <= TOL * max(1.0, np.abs(reference).max()), (diff, np.abs(reference).max())
    return diff


def tflite_ops_by_analyzer(content):
    """Op names as TensorFlow's own tf.lite analyzer lists them (independent of keras_prelu.export)."""
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tf.lite.experimental.Analyzer.analyze(model_content=content)
    text = buffer.getvalue()
    import re

    return re.findall(r"Op#\d+ (\w+)\(", text)


def count_prelu_layers(model):
    return sum(isinstance(layer, keras_prelu.PReLU) for layer in model.layers)


def siblings(path):
    """Everything next to `path` whose name starts with '.<name>.' (temporary or backup siblings)."""
    parent, name = os.path.dirname(path), os.path.basename(path)
    if not os.path.isdir(parent):
        return []
    return [entry for entry in os.listdir(parent) if entry.startswith(f".{name}.")]


# ---------------------------------------------------------------------------
# The export switch in keras_prelu.ops
# ---------------------------------------------------------------------------


def test_export_friendly_equals_fast_kernel_per_thread_and_nested():
    import threading

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 6, 4)).astype("float32")
    for alpha in (rng.uniform(0, 1, (4,)), np.float32([0.2]), rng.uniform(0, 1, (5, 6, 4))):
        alpha = alpha.astype("float32")
        fast = keras.ops.convert_to_numpy(prelu_ops.prelu(x, alpha))
        with prelu_ops.export_friendly():
            plain = keras.ops.convert_to_numpy(prelu_ops.prelu(x, alpha))
        np.testing.assert_array_equal(plain, fast)
        np.testing.assert_array_equal(fast, np.where(x < 0, alpha * x, x))
    seen = []
    with prelu_ops.export_friendly():
        with prelu_ops.export_friendly():
            assert prelu_ops.is_export_friendly()
        assert prelu_ops.is_export_friendly()  # still inside the outer block
        worker = threading.Thread(target=lambda: seen.append(prelu_ops.is_export_friendly()))
        worker.start()
        worker.join()
    assert seen == [False]  # another thread keeps the fast kernel
    assert not prelu_ops.is_export_friendly()

    @tf.function
    def traced(x):
        return prelu_ops.prelu(x, tf.constant([0.1, 0.2, 0.3, 0.4]))

    with prelu_ops.export_friendly():
        graph = traced.get_concrete_function(tf.TensorSpec((None, 4))).graph
    op_types = {op.type for op in graph.get_operations()}
    assert {"Relu", "Neg", "Mul"} <= op_types
    assert "StatefulPartitionedCall" not in op_types and "PartitionedCall" not in op_types


# ---------------------------------------------------------------------------
# SavedModel
# ---------------------------------------------------------------------------

# The test's own loader, independent of keras_prelu.export: keras and keras_prelu cannot
# be imported (TensorFlow 2.21 imports keras on `import tensorflow` when it is
# installed; it tolerates its absence, as in a serving-only environment).
CLEAN_LOADER = textwrap.dedent(
    r"""
    import importlib.abc, importlib.machinery, json, sys

    class NoKeras(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("keras", "keras_prelu", "tf_keras"):
                return importlib.machinery.ModuleSpec(name, self)
        def create_module(self, spec):
            raise ImportError("no keras here: " + spec.name)
        def exec_module(self, module):
            raise ImportError("no keras here")

    sys.meta_path.insert(0, NoKeras())
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(sys.argv[1])
    serve = loaded.signatures["serve"]
    (name, spec), = serve.structured_input_signature[1].items()
    x = np.load(sys.argv[2])
    outputs = {k: v.numpy().tolist() for k, v in serve(**{name: tf.constant(x)}).items()}
    one = {k: v.numpy().tolist() for k, v in serve(**{name: tf.constant(x[:1])}).items()}
    assert "keras" not in sys.modules, sorted(m for m in sys.modules if "keras" in m)
    assert not any(m.startswith("keras_prelu") for m in sys.modules)
    print(json.dumps({"name": name, "dtype": spec.dtype.name, "shape": spec.shape.as_list(),
                      "signatures": sorted(loaded.signatures), "outputs": outputs, "one": one}))
    """
)


def saved_model_op_types(directory):
    """Every op type in a SavedModel's graph and functions."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((directory / "saved_model.pb").read_bytes())
    types = set()
    for meta_graph in proto.meta_graphs:
        types |= {node.op for node in meta_graph.graph_def.node}
        for function in meta_graph.graph_def.library.function:
            types |= {node.op for node in function.node_def}
    return types


def serve_in_clean_process(model_dir, x, tmp_path):
    np.save(tmp_path / "x.npy", x)
    proc = run_python("-c", CLEAN_LOADER, model_dir, tmp_path / "x.npy", cwd=tmp_path)
    return last_json_line(proc.stdout)


def test_saved_model_serves_with_plain_tensorflow(digit_arrays, tmp_path):
    model = zoo_model("cifar_resnet", "prelu")
    x = real_inputs(digit_arrays, (32, 32, 3))
    result = export.export_model(model, tmp_path / "serving", version=1, sample=x)

    version_dir = tmp_path / "serving" / "1"
    assert result.path == str(version_dir)
    assert (version_dir / "saved_model.pb").is_file() and (version_dir / "variables").is_dir()
    assert export.saved_model_xla_functions(version_dir) == []
    assert "Maximum" in saved_model_op_types(version_dir)  # PReLU's serving form
    assert result.max_scaled_diff <= TOL
    assert result.inputs == {"input": ("float32", (-1, 32, 32, 3))}

    served = serve_in_clean_process(version_dir, x, tmp_path)
    assert served["name"] == "input" and served["dtype"] == "float32"
    assert served["shape"] == [None, 32, 32, 3]  # dynamic batch
    assert {"serve", "serving_default"} <= set(served["signatures"])
    (output_name,) = served["outputs"]
    assert_close(keras_outputs(model, x), np.array(served["outputs"][output_name], "float32"))
    assert_close(keras_outputs(model, x[:1]), np.array(served["one"][output_name], "float32"))

    cli = shutil.which("saved_model_cli")
    if cli is None:
        pytest.skip("saved_model_cli is not on PATH")
    shown = subprocess.run(
        [cli, "show", "--all", "--dir", str(version_dir)], capture_output=True, text=True,
        env=python_env(), timeout=300,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "signature_def['serve']:" in shown.stdout
    assert "inputs['input'] tensor_info:" in shown.stdout
    assert "dtype: DT_FLOAT" in shown.stdout and "shape: (-1, 32, 32, 3)" in shown.stdout


def test_saved_model_decides_each_prelu_form_when_exporting(tmp_path):
    """The slopes are constants of the serving graph: no run-time check per layer; slopes in
    (0, 1) give maximum(x, alpha * x), others the select form; the served values are exact."""
    model = mixed_model()
    prelu = [layer for layer in model.layers if isinstance(layer, keras_prelu.PReLU)]
    prelu[0].alpha.assign(np.linspace(-0.5, 1.5, int(np.prod(prelu[0].alpha.shape)), dtype="float32")
                          .reshape(prelu[0].alpha.shape))  # outside (0, 1): the select form
    x = np.random.default_rng(9).normal(size=(6, 8, 8, 1)).astype("float32")
    export.export_model(model, tmp_path / "served", sample=x)
    ops = saved_model_op_types(tmp_path / "served")
    assert not {"If", "StatelessIf"} & ops
    assert {"Maximum", "SelectV2"} <= ops
    loaded = tf.saved_model.load(str(tmp_path / "served"))
    before = loaded.signatures["serve"](digit=tf.constant(x))["logits"].numpy()
    assert_close(keras_outputs(model, x), before)
    slopes = [v for v in loaded.variables if "alpha" in v.name]
    assert len(slopes) == len(prelu)  # still saved, but the serving graph holds their values
    for variable in slopes:
        variable.assign(variable * 0.5)
    np.testing.assert_array_equal(loaded.signatures["serve"](digit=tf.constant(x))["logits"], before)


def test_saved_model_runs_a_shared_slope_as_leaky_relu(tmp_path):
    """One slope in (0, 1) per layer: TensorFlow's LeakyRelu, which it fuses into the convolution."""
    model = zoo_model("cifar_resnet", "prelu_shared")
    x = np.random.default_rng(10).normal(size=(4, 32, 32, 3)).astype("float32")
    result = export.export_model(model, tmp_path / "served", sample=x)
    assert result.max_scaled_diff <= TOL
    ops = saved_model_op_types(tmp_path / "served")
    assert "LeakyRelu" in ops and not {"Maximum", "If", "StatelessIf"} & ops


def test_saved_model_compiled_with_xla(tmp_path):
    model = zoo_model("cifar_resnet", "prelu")
    x = np.random.default_rng(8).normal(size=(4, 32, 32, 3)).astype("float32")
    result = export.export_model(model, tmp_path / "xla", sample=x, jit_compile=True)
    assert result.jit_compile and "XLA" in result.summary()
    assert export.saved_model_xla_functions(tmp_path / "xla")
    served = serve_in_clean_process(tmp_path / "xla", x, tmp_path)  # plain TensorFlow, no Keras
    (output_name,) = served["outputs"]
    assert_close(keras_outputs(model, x), np.array(served["outputs"][output_name], "float32"))
    assert_close(keras_outputs(model, x[:1]), np.array(served["one"][output_name], "float32"))
    with pytest.raises(ValueError, match="jit_compile.*saved_model"):
        export.export_model(model, tmp_path / "x.tflite", "tflite", jit_compile=True)
    with pytest.raises(ValueError, match="True or False"):
        export.export_model(model, tmp_path / "y", jit_compile="yes")
    assert not (tmp_path / "x.tflite").exists() and not (tmp_path / "y").exists()


# ---------------------------------------------------------------------------
# TFLite
# ---------------------------------------------------------------------------


TFLITE_CASES = {
    # name: (builder, PRELU ops expected, LEAKY_RELU ops expected)
    "mixed": (mixed_model, 4, 2),
    "per_element": (per_element_model, 3, 0),
    "mlp3x256_leaky": (lambda: zoo_model("mlp", "leaky"), 0, 3),
    "resnet18_prelu_shared": (lambda: zoo_model("imagenet_resnet", "prelu_shared"), 17, 0),
}


@pytest.mark.parametrize("case", sorted(TFLITE_CASES))
def test_tflite_uses_native_prelu_and_leaky_relu(case, digit_arrays, tmp_path):
    builder, prelus, leakies = TFLITE_CASES[case]
    model = builder()
    x = case_inputs(case, model, digit_arrays)
    result = export.export_model(model, tmp_path / "model.tflite", "tflite", sample=x)
    content = (tmp_path / "model.tflite").read_bytes()

    ops = tflite_ops_by_analyzer(content)
    assert ops.count("PRELU") == prelus == count_prelu_layers(model)
    assert ops.count("LEAKY_RELU") == leakies
    assert "NEG" not in ops and "SELECT_V2" not in ops and "SELECT" not in ops
    assert result.ops == {name: ops.count(name) for name in set(ops)}

    interpreter = tf.lite.Interpreter(model_content=content)
    runner = interpreter.get_signature_runner()
    (name,) = runner.get_input_details()
    assert runner.get_input_details()[name]["shape_signature"][0] == -1
    for batch in (x, x[:1]):
        (got,) = runner(**{name: batch}).values()
        assert_close(keras_outputs(model, batch), got)
    assert result.max_scaled_diff <= TOL


def test_tflite_int8_from_training_sample_reports_accuracy_drop(digit_arrays, tmp_path):
    keras.utils.set_random_seed(0)  # before building, so the result does not depend on test order
    model = mixed_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    train = export.dataset_arrays("digits", calibration_size=1437, eval_size=1)
    model.fit(*train.representative, epochs=12, batch_size=64, verbose=0)

    result = export.export_model(
        model, tmp_path / "int8.tflite", "tflite", quantize="int8",
        representative_data=digit_arrays.representative, eval_data=digit_arrays.evaluation,
        sample=digit_arrays.sample,
    )
    q = result.quantization
    content = (tmp_path / "int8.tflite").read_bytes()
    ops = tflite_ops_by_analyzer(content)
    assert ops.count("PRELU") == count_prelu_layers(model) and "NEG" not in ops
    interpreter = tf.lite.Interpreter(model_content=content)
    interpreter.allocate_tensors()
    tensor_types = {detail["dtype"] for detail in interpreter.get_tensor_details()}
    assert np.int8 in tensor_types  # weights and activations are int8

    x, y = digit_arrays.evaluation
    (got,) = interpreter.get_signature_runner()(digit=x).values()
    accuracy_int8 = float(np.mean(got.argmax(-1) == y))
    accuracy_keras = float(np.mean(keras_outputs(model, x).argmax(-1) == y))
    assert q["eval_size"] == len(y) == 360 and q["calibration_size"] == 256
    assert q["accuracy_int8"] == pytest.approx(accuracy_int8)
    assert q["accuracy_keras"] == pytest.approx(accuracy_keras)
    assert q["accuracy_drop_pp"] == pytest.approx(100 * (accuracy_keras - accuracy_int8))
    assert accuracy_keras > 0.85  # a trained model, so the drop means something
    assert q["accuracy_drop_pp"] < 5.0
    assert "int8 accuracy on 360 labelled samples" in result.summary()
    print(result.summary())


def test_mixed_precision_model_is_exported_in_float32(tmp_path):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = mixed_model()
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.layers[1].compute_dtype == "float16"
    result = export.export_model(model, tmp_path / "m.tflite", "tflite")
    assert result.outputs["logits"][0] == "float32"
    assert result.ops["PRELU"] == 4
    assert "mixed_float16 model exported in float32" in result.note
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 1)).astype("float32")
    (got,) = export.run_tflite((tmp_path / "m.tflite").read_bytes(), x, "digit").values()
    float32_copy = export.float32_model(model)
    assert float32_copy.layers[1].compute_dtype == "float32"
    assert_close(keras_outputs(float32_copy, x), got)
    # the float32 copy holds the trained weights; only the compute precision differs
    np.testing.assert_allclose(keras_outputs(model, x), got, atol=0.05 * max(1, np.abs(got).max()))


def test_tflite_without_export_switch_is_rejected(monkeypatch, tmp_path):
    """Traced with the serving form, PReLU is no PRELU op: the export must fail, not write it;
    a SavedModel holding PReLU's XLA kernels is refused too."""
    monkeypatch.setattr(tflite_export, "export_friendly", contextlib.nullcontext)
    with pytest.raises(export.ExportError, match="PRELU"):
        export.export_model(mixed_model(), tmp_path / "m.tflite", "tflite")
    monkeypatch.setattr(_tf_kernels, "_inference_prelu", lambda x, alpha: _tf_kernels._xla_prelu(
        x, alpha, prelu_ops._broadcast_reduce_axes(tuple(x.shape), tuple(alpha.shape))))
    with pytest.raises(export.ExportError, match="XLA"):
        export.export_model(mixed_model(), tmp_path / "sm")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------


ONNX_CASES = {
    "mixed": mixed_model,
    "per_element": per_element_model,
    "resnet20_prelu": lambda: zoo_model("cifar_resnet", "prelu"),
}


@needs_onnx
@pytest.mark.parametrize("case", sorted(ONNX_CASES))
def test_onnx_native_prelu_with_broadcasting_slopes(case, digit_arrays, tmp_path):
    import onnx
    import onnxruntime

    model = ONNX_CASES[case]()
    x = case_inputs(case, model, digit_arrays)
    result = export.export_model(model, tmp_path / "m.onnx", "onnx", sample=x)
    proto = onnx.load(tmp_path / "m.onnx")
    op_types = [node.op_type for node in proto.graph.node]
    assert op_types.count("PRelu") == count_prelu_layers(model)
    assert "Neg" not in op_types
    slopes = export.onnx_prelu_slopes(proto)
    assert len(slopes) == count_prelu_layers(model)
    for slope, shape in slopes:
        assert shape is not None and len(slope) <= len(shape)
        for s, d in zip(reversed(slope), reversed(shape)):
            assert s == 1 or s == d, (slope, shape)
    if case == "mixed":  # NHWC became NCHW: a per-channel slope must sit on axis 1
        assert ((1, 8, 1, 1), (-1, 8, 8, 8)) in slopes
    if case == "per_element":  # Keras alphas (1, 10, 5), (6, 1, 4), (1, 1, 3) in NCHW
        assert sorted(slope for slope, _ in slopes) == [(1, 3, 1, 1), (1, 4, 6, 1), (1, 5, 1, 10)]

    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    for batch in (x, x[:1]):
        (got,) = session.run(None, {name: batch})
        assert_close(keras_outputs(model, batch), got)
    assert result.max_scaled_diff <= TOL


def test_onnx_missing_extra_is_an_import_error(monkeypatch, tmp_path):
    monkeypatch.setattr(onnx_export, "onnx_available", lambda: (False, "ModuleNotFoundError: tf2onnx"))
    with pytest.raises(ImportError, match="onnx' extra"):
        export.export_model(mixed_model(), tmp_path / "m.onnx", "onnx")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# Atomic writes, refusal, failures
# ---------------------------------------------------------------------------


def test_existing_path_is_refused_unless_overwrite(tmp_path):
    model = mixed_model()
    target = tmp_path / "m.keras"
    target.write_text("precious")
    with pytest.raises(FileExistsError, match="overwrite"):
        export.export_model(model, target, "keras")
    assert target.read_text() == "precious"

    result = export.export_model(model, target, "keras", overwrite=True)
    assert result.max_abs_diff == 0.0
    reloaded = keras.saving.load_model(target)
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(keras_outputs(reloaded, x), keras_outputs(model, x))
    assert siblings(target) == []

    directory = tmp_path / "sm"
    directory.mkdir()
    (directory / "old.txt").write_text("old")
    with pytest.raises(FileExistsError):
        export.export_model(model, directory, "saved_model")
    assert (directory / "old.txt").read_text() == "old"


def test_output_appearing_during_export_is_not_clobbered(monkeypatch, tmp_path):
    """Without overwrite, a target another process wrote meanwhile wins; ours is dropped."""
    target = tmp_path / "m.keras"
    original = keras_export.export_keras

    def racing(job, file):
        target.write_text("written by a concurrent export")
        return original(job, file)

    monkeypatch.setattr(keras_export, "export_keras", racing)
    with pytest.raises(FileExistsError):
        export.export_model(mixed_model(), target, "keras")
    assert target.read_text() == "written by a concurrent export"
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]


class Interrupted(KeyboardInterrupt):
    pass


def test_interrupted_saved_model_export_leaves_nothing(monkeypatch, tmp_path):
    written = []
    original = saved_model_export.write_saved_model

    def write_then_interrupt(model, spec, in_name, out_names, directory, jit_compile=False):
        original(model, spec, in_name, out_names, directory, jit_compile)
        written.append(directory)
        assert (directory / "saved_model.pb").is_file()  # fully written, not yet in place
        raise Interrupted()

    monkeypatch.setattr(saved_model_export, "write_saved_model", write_then_interrupt)
    target = tmp_path / "new" / "serving"
    with pytest.raises(Interrupted):
        export.export_model(mixed_model(), target, version=1)
    assert written and not os.path.exists(written[0])
    assert not (tmp_path / "new").exists()  # the parents it created are gone too
    assert os.listdir(tmp_path) == []


def test_failure_mid_tflite_export_keeps_existing_output(monkeypatch, tmp_path):
    target = tmp_path / "m.tflite"
    target.write_bytes(b"previous model")

    def broken_convert(*args, **kwargs):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(tflite_export, "convert_tflite", broken_convert)
    with pytest.raises(RuntimeError, match="crashed"):
        export.export_model(mixed_model(), target, "tflite", overwrite=True)
    assert target.read_bytes() == b"previous model"
    assert sorted(os.listdir(tmp_path)) == ["m.tflite"]


def test_parity_mismatch_is_an_error_and_writes_nothing(monkeypatch, tmp_path):
    original = tflite_export.run_tflite

    def off_by_a_bit(content, x, name):
        return {k: v + 1e-3 for k, v in original(content, x, name).items()}

    monkeypatch.setattr(tflite_export, "run_tflite", off_by_a_bit)
    with pytest.raises(export.ParityError, match="max \\|diff\\| = 0.001"):
        export.export_model(mixed_model(), tmp_path / "m.tflite", "tflite")
    assert os.listdir(tmp_path) == []


def test_bad_arguments_raise_before_writing(tmp_path):
    model = mixed_model()
    with pytest.raises(ValueError, match="Unknown export format"):
        export.export_model(model, tmp_path / "x", "pb")
    with pytest.raises(ValueError, match="representative_data"):
        export.export_model(model, tmp_path / "x.tflite", "tflite", quantize="int8")
    with pytest.raises(ValueError, match="format='tflite'"):
        export.export_model(model, tmp_path / "x", quantize="int8", representative_data=np.zeros((1, 8, 8, 1)))
    with pytest.raises(ValueError, match="version"):
        export.export_model(model, tmp_path / "x.tflite", "tflite", version=1)
    with pytest.raises(ValueError, match="shape"):
        export.export_model(model, tmp_path / "x.tflite", "tflite", sample=np.zeros((2, 9, 9, 1)))
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# Every family x activation x format (slow)
# ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("activation", ACTIVATION_KINDS)
@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
def test_every_family_and_activation_exports(family, activation, fmt, digit_arrays, tmp_path):
    if fmt == "onnx" and not ONNX_OK:
        pytest.skip(f"onnx extra not installed: {ONNX_REASON}")
    model = zoo_model(family, activation, full_size=True)
    x = real_inputs(digit_arrays, model.input_shape[1:])
    target = tmp_path / ("sm" if fmt == "saved_model" else f"m.{fmt}")
    result = export.export_model(model, target, fmt, sample=x)
    print(f"PARITY {model.name} {fmt} max_abs_diff={result.max_abs_diff:.3g} "
          f"output_scale={result.output_scale:.3g} scaled={result.max_scaled_diff:.3g}")
    assert result.max_scaled_diff <= TOL
    prelus = count_prelu_layers(model)
    if fmt == "tflite":
        ops = tflite_ops_by_analyzer(target.read_bytes())
        assert ops.count("PRELU") == prelus and "NEG" not in ops
        if activation in ("leaky", "rrelu"):
            assert "LEAKY_RELU" in ops
    elif fmt == "onnx":
        assert result.ops.get("PRelu", 0) == prelus and "Neg" not in result.ops
    else:
        served = serve_in_clean_process(target, x, tmp_path)
        (output,) = served["outputs"].values()
        assert_close(keras_outputs(model, x), np.array(output, "float32"))
