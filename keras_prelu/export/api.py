"""`export_model`: check the arguments, load the model, pick the inputs to verify on,
then write the artifact into a temporary sibling, verify it there and move it into place."""

import dataclasses
import os
import pathlib

import numpy as np

from keras_prelu.export import keras_format, saved_model, tflite
from keras_prelu.export import onnx as onnx_format
from keras_prelu.export.common import (
    DEFAULT_ATOL,
    DEFAULT_CALIBRATION_SIZE,
    DEFAULT_EVAL_SIZE,
    DEFAULT_SAMPLE_SIZE,
    FORMATS,
    QUANTIZATIONS,
    SUFFIXES,
    ExportError,
)
from keras_prelu.export.result import ExportResult
from keras_prelu.export.signature import input_spec, io_names
from keras_prelu.export.source import (
    find_real_data,
    float32_model,
    is_reduced_precision,
    load_model,
    policy_name,
)
from keras_prelu.export.verify import (
    as_sample,
    check_parity,
    compare_outputs,
    keras_outputs,
)
from keras_prelu.utils.files import atomic_output
from keras_prelu.utils.locks import TargetLock
from keras_prelu.utils.validation import check_int


@dataclasses.dataclass
class ExportOptions:
    """`export_model`'s keyword arguments (see there)."""

    format: str = "saved_model"
    overwrite: bool = False
    version: object = None
    sample: object = None
    sample_size: int = DEFAULT_SAMPLE_SIZE
    atol: float = DEFAULT_ATOL
    quantize: str = None
    representative_data: object = None
    eval_data: object = None
    input_name: str = None
    opset: int = None
    data: object = None
    data_dir: str = None
    calibration_size: int = DEFAULT_CALIBRATION_SIZE
    eval_size: int = DEFAULT_EVAL_SIZE
    jit_compile: bool = False

    def check(self):
        """Raise a ValueError (ImportError for ONNX without its extra) before any work."""
        fmt, quantize = self.format, self.quantize
        if fmt not in FORMATS:
            raise ValueError(f"Unknown export format. Known: {list(FORMATS)}. Received: format={fmt!r}")
        if quantize is not None and quantize not in QUANTIZATIONS:
            raise ValueError(
                f"Unknown quantization. Known: {list(QUANTIZATIONS)}. Received: quantize={quantize!r}"
            )
        if quantize is not None and fmt != "tflite":
            raise ValueError(
                f"Quantization is for format='tflite'. Received: format={fmt!r}, quantize={quantize!r}"
            )
        if self.version is not None and fmt != "saved_model":
            raise ValueError(f"`version` is for format='saved_model'. Received: format={fmt!r}")
        if not isinstance(self.jit_compile, bool):
            raise ValueError(
                f"`jit_compile` must be True or False. Received: jit_compile={self.jit_compile!r}")
        if self.jit_compile and fmt != "saved_model":
            raise ValueError(
                f"`jit_compile` is for format='saved_model'. Received: format={fmt!r}")
        if not (isinstance(self.atol, (int, float)) and self.atol >= 0):
            raise ValueError(f"`atol` must be a number >= 0. Received: atol={self.atol!r}")
        if fmt == "onnx":
            onnx_format.require_onnx()

    @property
    def data_sizes(self):
        return {"sample_size": self.sample_size, "calibration_size": self.calibration_size,
                    "eval_size": self.eval_size}


def versioned_target(path, version):
    """`path`, or TF Serving's `path/<version>` (`version` an int >= 1 or "auto": one above the highest)."""
    path = pathlib.Path(path)
    if version is None:
        return path
    if version == "auto":
        existing = [int(p.name) for p in path.iterdir() if p.name.isdigit()] if path.is_dir() else []
        return path / str(max(existing, default=0) + 1)
    try:
        version = check_int("version", version, minimum=1)
    except ValueError:
        raise ValueError(
            f"`version` must be a positive int or 'auto'. Received: version={version!r}"
        ) from None
    return path / str(version)


@dataclasses.dataclass
class ExportJob:
    """The model to export, its signature, and the Keras outputs its artifact is held to."""

    model: object
    spec: object
    in_name: str
    out_names: list
    x: np.ndarray
    reference: dict
    atol: float

    def check(self, run, what):
        """Parity of `run(batch)` on the check batch and on its first row alone."""
        parity = check_parity(self.reference, run(self.x), self.atol, what)
        return parity.worst(
            check_parity(self.reference_one, run(self.x[:1]), self.atol, f"{what} (batch of 1)")
        )

    @property
    def reference_one(self):
        """Keras's outputs for a batch of the first row alone (kernels differ by batch size)."""
        return keras_outputs(self.model, self.x[:1], self.out_names)


@dataclasses.dataclass
class CheckData:
    """What an export is checked on besides the check batch, and where it all came from."""

    sample: object
    sample_source: str
    representative: object
    evaluation: object
    eval_source: str
    note: str = ""


def _check_data(options, source):
    """The `CheckData` from the given arrays, completed by `data` (or the run's dataset)."""
    real, data_note = find_real_data(source, options.data, options.data_dir, options.data_sizes)
    checks = CheckData(options.sample, "given", options.representative_data,
                       options.eval_data, "eval_data")
    if real is not None:
        if checks.sample is None:
            checks.sample, checks.sample_source = real.sample, f"{real.name} test images"
        if checks.representative is None:
            checks.representative = real.representative
        if checks.evaluation is None:
            checks.evaluation, checks.eval_source = real.evaluation, f"{real.name} test images"
    if options.quantize is not None and checks.representative is None:
        raise ValueError(
            "int8 quantization needs `representative_data` (a sample of the training inputs) "
            "or `data`" + (f"; {data_note}" if data_note else "")
        )
    checks.note = data_note
    return checks


def _precision_note(original, job):
    """What exporting a mixed-precision `original` as its float32 copy changed."""
    name = policy_name(original)
    gap = compare_outputs(job.reference, keras_outputs(original, job.x, job.out_names)).max_abs_diff
    return (
        f"{name} model exported in float32 (checked against its float32 copy; the {name} "
        f"outputs differ from float32 by up to {gap:.3g})"
    )


def prepare_job(source, options):
    """(ExportJob, CheckData, note): the model in export precision and its reference outputs."""
    model = original = load_model(source)
    if options.format != "keras" and is_reduced_precision(original):
        model = float32_model(original)
    in_name, out_names = io_names(model, options.input_name)
    spec = input_spec(model, in_name)
    checks = _check_data(options, source)
    x, default_source = as_sample(checks.sample, spec, options.sample_size)
    if checks.sample is None:
        checks.sample_source = default_source + (f"; {checks.note}" if checks.note else "")
    reference = keras_outputs(model, x, out_names)
    job = ExportJob(model, spec, in_name, out_names, x, reference, float(options.atol))
    return job, checks, (_precision_note(original, job) if model is not original else "")


def _write_artifact(job, options, checks, temporary):
    """Write and verify the format's artifact at `temporary`: the format's result fields."""
    if options.format == "saved_model":
        return saved_model.export_saved_model(job, temporary, options.jit_compile)
    if options.format == "tflite":
        return tflite.export_tflite(
            job, temporary, options.quantize, checks.representative, checks.evaluation,
            checks.eval_source, options.calibration_size,
        )
    if options.format == "onnx":
        return onnx_format.export_onnx(job, temporary, options.opset)
    return keras_format.export_keras(job, temporary)


def export_model(
    model_or_run_dir, path, format="saved_model", *, overwrite=False, version=None,
    sample=None, sample_size=DEFAULT_SAMPLE_SIZE, atol=DEFAULT_ATOL, quantize=None,
    representative_data=None, eval_data=None, input_name=None, opset=None, data=None,
    data_dir=None, calibration_size=DEFAULT_CALIBRATION_SIZE, eval_size=DEFAULT_EVAL_SIZE,
    jit_compile=False,
):
    """Export a model, verify the artifact against the Keras model, then move it into place.

    Args:
        model_or_run_dir: a `keras.Model`, a `.keras` file, or a training run
            directory (its `model.keras`, with `final.weights.h5` if present).
        path: where to write: a directory for "saved_model", a file otherwise.
        format: "saved_model" (signature "serve", also "serving_default"),
            "tflite", "onnx" (needs the `onnx` extra) or "keras".
        overwrite: replace an existing `path`; otherwise it is refused.
        version: SavedModel only: write TF Serving's layout `path/<version>`;
            an int >= 1 or "auto" (one above the highest existing version).
        sample: the batch (N, ...) the export is verified on; defaults to
            `sample_size` standard-normal inputs. Real inputs are better.
        atol: largest allowed |exported - Keras| (float formats).
        quantize: TFLite only: "int8" for full-integer post-training
            quantization (float32 input and output kept).
        representative_data: with `quantize="int8"`: calibration inputs from
            the training data, an array or an `(x, y)` pair (at most
            `calibration_size` of them are used, drawn with a fixed seed).
        eval_data: with `quantize="int8"`: an `(x, y)` pair to measure the
            accuracy drop on; defaults to the representative data.
        input_name: name of the serving input (default: the Keras input's name).
        opset: ONNX opset (default: tf2onnx's).
        data: real data for whichever of `sample`, `representative_data` and
            `eval_data` is not given: a dataset name for
            `keras_prelu.training.data.load` (e.g. "digits"), a loaded `Data`,
            or a `RealData`. By default, a run directory's `model_card.json`
            dataset, when it loads offline.
        data_dir: TFDS data folder for `data` given by name.
        calibration_size, eval_size: with `data`: how many training images
            calibrate int8, how many test images measure its accuracy.
        jit_compile: SavedModel only: serve the whole model as one XLA
            computation (`tf.function(jit_compile=True)`). Element-wise work is
            fused, so PReLU costs what ReLU does, and small batches run
            faster; the server needs XLA (Python TensorFlow has it; TF Serving
            needs `--xla_cpu_compilation_enabled=true` on CPU), and each new
            batch size is compiled on its first call (seconds).

    Returns:
        An `ExportResult`; `print(result.summary())` for a report.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
        ParityError: the artifact's outputs differ from Keras beyond `atol`.
        ExportError: conversion failed or a structural check failed (for
            instance PReLU not converted to the native TFLite op).
        ImportError: "onnx" without tf2onnx / onnxruntime.
    """
    options = ExportOptions(
        format=format, overwrite=overwrite, version=version, sample=sample,
        sample_size=sample_size, atol=atol, quantize=quantize,
        representative_data=representative_data, eval_data=eval_data, input_name=input_name,
        opset=opset, data=data, data_dir=data_dir, calibration_size=calibration_size,
        eval_size=eval_size, jit_compile=jit_compile,
    )
    options.check()
    target = versioned_target(path, version)
    # Refuses an existing target before the slow work; removes what it created on failure.
    with TargetLock(target), \
            atomic_output(target, overwrite, suffix=SUFFIXES.get(format, "")) as temporary:
        job, checks, note = prepare_job(model_or_run_dir, options)
        fields = _write_artifact(job, options, checks, temporary)
        if not os.path.lexists(temporary):
            raise ExportError(f"The exporter wrote nothing to {str(temporary)!r}")
    parity = fields.pop("parity")
    return ExportResult(
        format=format, path=os.fspath(target), max_abs_diff=parity.max_abs_diff,
        max_scaled_diff=parity.max_scaled_diff, output_scale=parity.output_scale,
        atol=float(atol), sample_size=len(job.x), sample_source=checks.sample_source,
        note=note, jit_compile=options.jit_compile, **fields,
    )
