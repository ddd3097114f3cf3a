"""TFLite: converted from a scratch SavedModel, PReLU as the builtin PRELU op (checked),
optionally int8 post-training quantization with its accuracy drop measured."""

import collections
import os
import warnings

import numpy as np
import tensorflow as tf

from keras_prelu import layers as prelu_layers
from keras_prelu.export import saved_model
from keras_prelu.export.common import (
    DEFAULT_CALIBRATION_SIZE,
    SERVING_ENDPOINT,
    ExportError,
)
from keras_prelu.export.verify import as_sample, compare_outputs, keras_outputs
from keras_prelu.ops import export_friendly
from keras_prelu.utils.models import all_layers
from keras_prelu.utils.files import scratch_directory

_INTERPRETER_WARNING = r"(?s).*tf\.lite\.Interpreter is deprecated"


def convert_tflite(model, spec, in_name, out_names, representative=None):
    """TFLite flatbuffer of the serving signature, via a scratch SavedModel.

    Converting from a SavedModel freezes the variables and keeps the
    signature's input and output names. The scratch SavedModel is traced under
    `export_friendly()`, PReLU's pattern for the converter's PRELU op. With
    `representative` inputs, full integer (int8) quantization calibrated on
    them, float32 input and output.
    """
    with scratch_directory("tflite") as scratch:
        saved = os.path.join(scratch, "saved_model")
        with export_friendly():
            saved_model.write_saved_model(model, spec, in_name, out_names, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[SERVING_ENDPOINT])
        if representative is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            dtype = spec.dtype.as_numpy_dtype

            def representative_dataset():
                for row in representative:
                    yield {in_name: np.asarray(row[None], dtype=dtype)}

            converter.representative_dataset = representative_dataset
        try:
            with warnings.catch_warnings():  # int8 calibration runs tf.lite.Interpreter
                warnings.filterwarnings("ignore", message=_INTERPRETER_WARNING)
                return converter.convert()
        except Exception as error:  # the converter raises several private types
            raise ExportError(f"TFLite conversion failed: {str(error).splitlines()[0]}") from error


def tflite_op_names(model_content):
    """The builtin (or custom) op name of every operator in a TFLite flatbuffer, in order."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(model_content, 0)
    codes = {
        value: name
        for name, value in vars(schema.BuiltinOperator).items()
        if not name.startswith("_") and isinstance(value, int)
    }
    op_codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = codes.get(builtin, str(builtin))
        if name == "CUSTOM":
            name = "CUSTOM:" + (code.CustomCode() or b"").decode()
        op_codes.append(name)
    names = []
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            names.append(op_codes[subgraph.Operators(o).OpcodeIndex()])
    return names


def _interpreter(model_content):
    """A TFLite interpreter: LiteRT's when `ai_edge_litert` is installed, else tf.lite's."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_INTERPRETER_WARNING)
        return Interpreter(model_content=model_content)


def run_tflite(model_content, x, in_name):
    """Run a TFLite model (one named input, dynamic batch) on `x`: {output name: ndarray}."""
    runner = _interpreter(model_content).get_signature_runner()
    return {k: np.array(v) for k, v in runner(**{in_name: x}).items()}


def _tflite_io(model_content):
    runner = _interpreter(model_content).get_signature_runner()
    ins = {k: (np.dtype(v["dtype"]).name, tuple(int(d) for d in v["shape_signature"]))
           for k, v in runner.get_input_details().items()}
    outs = {k: (np.dtype(v["dtype"]).name, tuple(int(d) for d in v["shape_signature"]))
            for k, v in runner.get_output_details().items()}
    return ins, outs


def _check_native_prelu(model, op_names):
    """Every keras_prelu PReLU (inputs of rank 2-4) must have become one PRELU op."""
    expected = 0
    for layer in all_layers(model):
        if not isinstance(layer, prelu_layers.PReLU):
            continue
        shape = layer.input.shape if hasattr(layer, "input") else None
        if shape is not None and 2 <= len(shape) <= 4:
            expected += 1
    found = op_names.count("PRELU")
    if found < expected:
        raise ExportError(
            f"The TFLite model has {found} PRELU ops for {expected} PReLU layers: the "
            "converter decomposed PReLU (ops: " + ", ".join(sorted(set(op_names))) + ")"
        )


# ---------------------------------------------------------------------------
# int8 quantization
# ---------------------------------------------------------------------------


def _split_labelled(data, what):
    """(x, y or None) from an array or an (x, y) pair."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = np.asarray(data[0]), np.asarray(data[1])
        if len(x) != len(y):
            raise ValueError(f"{what}: x and y lengths differ ({len(x)} vs {len(y)})")
        return x, y
    return np.asarray(data), None


def _accuracy(outputs, y):
    if y is None:
        return None
    logits = np.asarray(outputs)
    labels = np.asarray(y).reshape(-1)
    if logits.ndim != 2 or len(labels) != len(logits):
        return None
    if labels.dtype.kind == "f" and np.any(labels != np.round(labels)):
        return None
    return float(np.mean(np.argmax(logits, axis=-1) == labels.astype("int64")))


def _run_tflite_batched(content, x, in_name, batch_size=256):
    got = {}
    for start in range(0, len(x), batch_size):
        for name, value in run_tflite(content, x[start : start + batch_size], in_name).items():
            got.setdefault(name, []).append(value)
    return {name: np.concatenate(parts) for name, parts in got.items()}


def _quantization_report(job, content, calibration, evaluation):
    eval_x, eval_y, eval_source = evaluation
    eval_x = eval_x.astype(job.spec.dtype.as_numpy_dtype)
    reference = keras_outputs(job.model, eval_x, job.out_names)
    got = _run_tflite_batched(content, eval_x, job.in_name)
    first = job.out_names[0]
    diff = compare_outputs(reference, got, "The int8 TFLite model").max_abs_diff
    agreement = None
    if reference[first].ndim == 2:
        agreement = float(np.mean(reference[first].argmax(-1) == got[first].argmax(-1)))
    acc_keras, acc_int8 = _accuracy(reference[first], eval_y), _accuracy(got[first], eval_y)
    return {
        "scheme": "int8 (full integer, float32 input/output)",
        "calibration_size": len(calibration),
        "eval_size": len(eval_x),
        "eval_source": eval_source,
        "max_abs_diff": diff,
        "top1_agreement": agreement,
        "accuracy_keras": acc_keras,
        "accuracy_int8": acc_int8,
        "accuracy_drop_pp": None if acc_keras is None else 100.0 * (acc_keras - acc_int8),
    }


def _quantize_int8(job, representative_data, eval_data, eval_source, calibration_size):
    """(int8 flatbuffer, quantization report)."""
    calib_x, calib_y = _split_labelled(representative_data, "representative_data")
    calib = calib_x
    if len(calib_x) > calibration_size:
        pick = np.random.default_rng(0).choice(len(calib_x), calibration_size, replace=False)
        calib = calib_x[np.sort(pick)]
    calib, _ = as_sample(calib, job.spec, len(calib))
    if eval_data is not None:
        evaluation = _split_labelled(eval_data, "eval_data") + (eval_source,)
    else:
        evaluation = (calib_x, calib_y, "representative data")
    content = convert_tflite(job.model, job.spec, job.in_name, job.out_names, representative=calib)
    _check_native_prelu(job.model, tflite_op_names(content))
    return content, _quantization_report(job, content, calib, evaluation)


def export_tflite(job, file, quantize=None, representative_data=None, eval_data=None,
                  eval_source="eval_data", calibration_size=DEFAULT_CALIBRATION_SIZE):
    """Convert, check and write `job`'s model to `file`: {parity, inputs, outputs, ops, quantization}.

    The float conversion is always checked against Keras; with
    `quantize="int8"` the quantized model is written and measured.
    """
    float_content = convert_tflite(job.model, job.spec, job.in_name, job.out_names)
    _check_native_prelu(job.model, tflite_op_names(float_content))
    parity = job.check(lambda x: run_tflite(float_content, x, job.in_name), "The TFLite model")
    content, quantization = float_content, None
    if quantize == "int8":
        content, quantization = _quantize_int8(
            job, representative_data, eval_data, eval_source, calibration_size
        )
    with open(file, "wb") as handle:
        handle.write(content)
    with open(file, "rb") as handle:  # describe what is on disk
        written = handle.read()
    inputs, outputs = _tflite_io(written)
    return {"parity": parity, "inputs": inputs, "outputs": outputs,
                "ops": dict(collections.Counter(tflite_op_names(written))), "quantization": quantization}
