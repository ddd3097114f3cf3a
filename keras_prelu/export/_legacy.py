"""Export a Keras model to SavedModel, TFLite, ONNX or `.keras`, verified against the Keras model.

    from keras_prelu.export import export_model
    result = export_model("runs/resnet20_prelu", "serving/resnet20", version=1)
    print(result.summary())

Every export is traced under `keras_prelu.ops.export_friendly()`, so PReLU
becomes `relu(x) + (-alpha) * relu(-x)`: plain TensorFlow ops (no XLA
clusters) that the TFLite converter fuses into its builtin PRELU op and that
tf2onnx turns into ONNX `PRelu` (after `_fuse_onnx_prelu`). LeakyReLU and RReLU
(at inference) are `tf.nn.leaky_relu`, i.e. LEAKY_RELU / LeakyRelu.

Writes are atomic: the artifact is written into a hidden temporary sibling of
the target, verified there, and only then renamed into place; on any failure
(including KeyboardInterrupt) the temporary sibling is removed and an existing
target is left untouched. An existing target is refused unless `overwrite=True`.

Verification runs the exported artifact on a batch (and on its first row
alone, to exercise the dynamic batch size) and compares every output with the
Keras model's: `|exported - Keras| <= atol * max(1, max |Keras output|)`,
atol = 1e-5 by default, i.e. absolute for outputs within [-1, 1] and relative
beyond, where float32 rounding grows with the magnitude. A mismatch raises
`ParityError`. The SavedModel is checked in a fresh Python process in which
`keras` and `keras_prelu` cannot be imported, so it is known to serve with
plain TensorFlow. Mixed-precision models are exported as float32 copies.
"""

import contextlib
import dataclasses
import importlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
import warnings

import keras
import numpy as np

from keras_prelu import layers as prelu_layers
from keras_prelu.ops import export_friendly

FORMATS = ("saved_model", "tflite", "onnx", "keras")
QUANTIZATIONS = ("int8",)
DEFAULT_ATOL = 1e-5
SERVING_ENDPOINT = "serve"
RUN_MODEL_FILE = "model.keras"
RUN_WEIGHTS_FILE = "final.weights.h5"
_DEFAULT_SAMPLE_SIZE = 8
_MAX_CALIBRATION_SAMPLES = 256
_INTERPRETER_WARNING = r"(?s).*tf\.lite\.Interpreter is deprecated"


class ExportError(RuntimeError):
    """The export could not be produced or failed its own checks; nothing was written."""


class ParityError(ExportError):
    """The exported artifact's outputs differ from the Keras model's beyond the tolerance."""


@dataclasses.dataclass
class ExportResult:
    """What `export_model` wrote and how it was verified.

    Attributes:
        format: one of `FORMATS`.
        path: the artifact written (for a versioned SavedModel, `PATH/VERSION`).
        max_abs_diff: largest |exported - Keras| over the outputs of the check
            batch (and of its first row alone, which checks a batch of 1).
        max_scaled_diff: the same divided by max(1, |Keras output|); this is
            what is held to `atol` (see `Parity`).
        output_scale: largest |Keras output| on the check batch.
        atol: the tolerance.
        sample_size: number of inputs in the check batch.
        sample_source: where the check batch came from ("given", "random normal").
        inputs: {name: (dtype, shape)} of the exported signature (batch as -1).
        outputs: {name: (dtype, shape)} likewise.
        ops: for TFLite and ONNX, {op name: count} of the written graph.
        note: e.g. that a mixed-precision model was exported as float32.
        quantization: for int8 TFLite, figures of the quantized model against
            the Keras model (accuracies, drop in percentage points, agreement,
            max |diff|); the parity fields above then describe the float
            conversion of the same graph, which is checked before quantizing.
    """

    format: str
    path: str
    max_abs_diff: float
    max_scaled_diff: float
    output_scale: float
    atol: float
    sample_size: int
    sample_source: str
    inputs: dict
    outputs: dict
    ops: dict = None
    quantization: dict = None
    note: str = ""

    def summary(self):
        """Human-readable lines, as printed by `keras-prelu export`."""
        lines = [f"exported {self.format} to {self.path}"]
        ins = ", ".join(f"{n} {d}{list(s)}" for n, (d, s) in self.inputs.items())
        outs = ", ".join(f"{n} {d}{list(s)}" for n, (d, s) in self.outputs.items())
        signature = f"signature '{SERVING_ENDPOINT}': " if self.format == "saved_model" else ""
        lines.append(f"  {signature}inputs {ins} -> outputs {outs}")
        if self.ops:
            lines.append("  ops: " + ", ".join(f"{n} x{c}" for n, c in sorted(self.ops.items())))
        what = "float conversion parity" if self.quantization else "parity"
        tolerance = f"{self.atol:g}" + (" x max(1, |output|)" if self.output_scale > 1 else "")
        lines.append(
            f"  {what} vs Keras on {self.sample_size} inputs ({self.sample_source}): "
            f"max |diff| = {self.max_abs_diff:.3g} (outputs up to {self.output_scale:.3g}; "
            f"tolerance {tolerance})"
        )
        if self.note:
            lines.append(f"  note: {self.note}")
        q = self.quantization
        if q:
            if q.get("accuracy_keras") is not None:
                lines.append(
                    f"  int8 accuracy on {q['eval_size']} labelled samples ({q['eval_source']}): "
                    f"Keras {q['accuracy_keras']:.4f} -> int8 {q['accuracy_int8']:.4f} "
                    f"(drop {q['accuracy_drop_pp']:.2f} percentage points)"
                )
            agreement = (
                f"top-1 agreement {q['top1_agreement']:.4f}, "
                if q.get("top1_agreement") is not None else ""
            )
            lines.append(
                f"  int8 vs Keras on {q['eval_size']} samples: {agreement}"
                f"max |diff| = {q['max_abs_diff']:.3g} (calibrated on {q['calibration_size']} samples)"
            )
        return "\n".join(lines)

    def to_dict(self):
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_model(source):
    """A Keras model from a model, a `.keras` file or a training run directory.

    A run directory must hold `model.keras`; when it also holds
    `final.weights.h5`, those (final) weights are loaded into the model.
    """
    if isinstance(source, keras.Model):
        return source
    path = pathlib.Path(os.fspath(source))
    if not path.exists():
        raise FileNotFoundError(f"No such model file or run directory: {str(path)!r}")
    _import_zoo()
    if path.is_dir():
        model_file = path / RUN_MODEL_FILE
        if not model_file.is_file():
            unfinished = (path / RUN_CONFIG_FILE).is_file()
            raise FileNotFoundError(
                f"{str(path)!r} has no {RUN_MODEL_FILE}"
                + (" yet: the run has not finished" if unfinished else ": it is not a run directory")
            )
        model = keras.saving.load_model(model_file, compile=False)
        weights = path / RUN_WEIGHTS_FILE
        if weights.is_file():
            model.load_weights(weights)
        return model
    if path.suffix != ".keras":
        raise ValueError(
            f"Expected a .keras file or a run directory. Received: {str(path)!r}"
        )
    return keras.saving.load_model(path, compile=False)


def _import_zoo():
    """Register the zoo's custom objects, if the zoo is installed, before deserializing."""
    try:
        importlib.import_module("zoo")
    except ImportError:
        pass


RUN_CARD_FILE = "model_card.json"
RUN_CONFIG_FILE = "config.json"


def run_dataset(run_dir):
    """(dataset name, data_dir or None) a training run directory names, else None.

    Reads `model_card.json`'s `"dataset"` (a name, or a dict with `"name"`),
    and the TFDS folder from `config.json`'s `"settings"."data_dir"`.
    """
    run_dir = pathlib.Path(os.fspath(run_dir))

    def read(name):
        try:
            value = json.loads((run_dir / name).read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    card, config = read(RUN_CARD_FILE), read(RUN_CONFIG_FILE)
    settings = config.get("settings") if isinstance(config.get("settings"), dict) else {}
    dataset = card.get("dataset", settings.get("dataset"))
    if isinstance(dataset, dict):
        dataset = dataset.get("name")
    if not isinstance(dataset, str) or not dataset:
        return None
    data_dir = settings.get("data_dir")
    return dataset, data_dir if isinstance(data_dir, str) else None


@dataclasses.dataclass
class RealData:
    """Normalised real inputs from a `keras_prelu.data` dataset, for checks and calibration."""

    name: str
    sample: np.ndarray
    representative: tuple
    evaluation: tuple


def _take(dataset, count):
    xs, ys, total = [], [], 0
    for x, y in dataset:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
        total += len(ys[-1])
        if total >= count:
            break
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def dataset_arrays(data, data_dir=None, sample_size=_DEFAULT_SAMPLE_SIZE,
                   calibration_size=_MAX_CALIBRATION_SAMPLES, eval_size=1000, seed=0):
    """`RealData` from a dataset name or a loaded `keras_prelu.data.Data`.

    The check batch is the first `sample_size` test images, the calibration
    sample `calibration_size` training images drawn with `seed`, the
    evaluation set the first `eval_size` test images with labels; all
    normalised the way training normalises them.
    """
    from keras_prelu import data as data_lib

    if isinstance(data, str):
        data = data_lib.load(data, data_dir=data_dir, download=False)
    test = _take(data.eval_dataset(256, split="test"), max(eval_size, sample_size))
    if data.in_memory:
        images, labels = data.split("train")
        count = min(calibration_size, len(labels))
        pick = np.sort(np.random.default_rng(seed).choice(len(labels), count, replace=False))
        train = (np.asarray(data.normalize(images[pick])), np.asarray(labels[pick]))
    else:
        train = _take(data.eval_dataset(256, split="train"), calibration_size)
    return RealData(
        name=data.info.name,
        sample=test[0][:sample_size],
        representative=train,
        evaluation=(test[0][:eval_size], test[1][:eval_size]),
    )


def _is_reduced_precision(model):
    return any(
        keras.backend.standardize_dtype(getattr(layer, "compute_dtype", "float32")) != "float32"
        for layer in _all_layers(model)
        if not isinstance(layer, keras.layers.InputLayer)
    )


def _float32_policies(config):
    """A model config with every mixed or float16/bfloat16 dtype policy set to float32."""
    if isinstance(config, list):
        return [_float32_policies(item) for item in config]
    if not isinstance(config, dict):
        return config
    result = {}
    for key, value in config.items():
        if key == "dtype" and isinstance(value, dict) and value.get("class_name") == "DTypePolicy":
            value = {**value, "config": {**value.get("config", {}), "name": "float32"}}
        elif key == "dtype" and value in ("mixed_float16", "mixed_bfloat16", "float16", "bfloat16"):
            value = "float32"
        else:
            value = _float32_policies(value)
        result[key] = value
    return result


def float32_model(model):
    """`model` itself if it computes in float32, else a float32 copy with the same weights.

    Mixed-precision models keep float32 variables, so the copy holds exactly
    the trained values; TFLite builtins and most ONNX runtimes want float32.
    """
    if not _is_reduced_precision(model):
        return model
    copy = model.__class__.from_config(_float32_policies(model.get_config()))
    copy.set_weights([np.asarray(w, dtype="float32") for w in model.get_weights()])
    if _is_reduced_precision(copy):
        raise ExportError("Could not build a float32 copy of the mixed-precision model")
    return copy


# ---------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------


def _sanitize(name, fallback):
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(name or "")).strip("_")
    if not name:
        name = fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    return name


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model. Received: {type(model).__name__}")
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            "The model has no defined inputs; build it with keras.Input(...) "
            "(functional) or give a Sequential model an Input layer."
        )
    if len(inputs) != 1:
        raise ValueError(
            f"Export supports single-input models. Received a model with {len(inputs)} inputs."
        )
    return inputs[0]


def _io_names(model, input_name=None):
    model_input = _check_model(model)
    in_name = _sanitize(input_name or model_input.name, "input")
    try:
        raw = list(model.output_names)
    except (AttributeError, ValueError):
        raw = []
    count = len(keras.tree.flatten(model.outputs))
    if len(raw) != count:
        raw = [f"output_{i}" for i in range(count)]
    out_names = []
    for i, name in enumerate(raw):
        name = _sanitize(name, f"output_{i}")
        if name in out_names or name == in_name:
            name = f"{name}_{i}"
        out_names.append(name)
    return in_name, out_names


def _input_spec(model, in_name):
    import tensorflow as tf

    model_input = _check_model(model)
    shape = (None,) + tuple(model_input.shape[1:])
    return tf.TensorSpec(shape, keras.backend.standardize_dtype(model_input.dtype), name=in_name)


def _serving_function(model, in_name, out_names):
    """`fn(<in_name>=x) -> {output name: tensor}` running the model in inference mode."""

    def serve(x):
        outputs = keras.tree.flatten(model(x, training=False))
        return {name: value for name, value in zip(out_names, outputs)}

    # The argument name becomes the signature's input name in every format.
    serve.__signature__ = _single_arg_signature(in_name)
    return serve


def _single_arg_signature(name):
    import inspect

    return inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)])


# ---------------------------------------------------------------------------
# Reference outputs and comparisons
# ---------------------------------------------------------------------------


def _keras_outputs(model, x, out_names, batch_size=64):
    """The Keras model's outputs (its normal fast path) as {name: ndarray}."""
    chunks = {name: [] for name in out_names}
    for start in range(0, len(x), batch_size):
        outputs = keras.tree.flatten(model(x[start : start + batch_size], training=False))
        for name, value in zip(out_names, outputs):
            chunks[name].append(keras.ops.convert_to_numpy(value))
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


@dataclasses.dataclass(frozen=True)
class Parity:
    """How far an artifact's outputs are from the Keras model's.

    `max_abs_diff` is the largest |exported - Keras|; `max_scaled_diff` divides
    each output's differences by max(1, that output's largest |Keras value|),
    so it is the absolute difference for outputs within [-1, 1] and a relative
    one for larger outputs (float32 rounding grows with the magnitude: logits
    of 20 carry about 2e-6 of rounding between two correct kernels).
    """

    max_abs_diff: float
    max_scaled_diff: float
    output_scale: float

    def worst(self, other):
        return Parity(
            max(self.max_abs_diff, other.max_abs_diff),
            max(self.max_scaled_diff, other.max_scaled_diff),
            max(self.output_scale, other.output_scale),
        )


def compare_outputs(reference, got, what="The export"):
    """`Parity` of `got` against `reference` ({name: array}); missing or misshapen outputs raise."""
    worst_abs = worst_scaled = scale = 0.0
    for name, ref in reference.items():
        if name not in got:
            raise ExportError(f"{what} has no output {name!r}; it has {sorted(got)}")
        value = np.asarray(got[name])
        if value.shape != ref.shape:
            raise ExportError(
                f"{what} output {name!r} has shape {value.shape}, the Keras model's {ref.shape}"
            )
        ref64, value64 = ref.astype("float64"), value.astype("float64")
        same_nonfinite = (~np.isfinite(ref64)) & (ref64 == value64)
        diff = np.where(same_nonfinite, 0.0, np.abs(ref64 - value64))
        diff = np.where(np.isnan(diff), np.inf, diff)
        if not diff.size:
            continue
        finite = np.abs(ref64[np.isfinite(ref64)])
        output_scale = float(finite.max()) if finite.size else 0.0
        worst_abs = max(worst_abs, float(diff.max()))
        worst_scaled = max(worst_scaled, float(diff.max()) / max(1.0, output_scale))
        scale = max(scale, output_scale)
    return Parity(worst_abs, worst_scaled, scale)


def _check_parity(reference, got, atol, what):
    parity = compare_outputs(reference, got, what)
    if not parity.max_scaled_diff <= atol:
        raise ParityError(
            f"{what} differs from the Keras model: max |diff| = {parity.max_abs_diff:.3g} "
            f"(outputs up to {parity.output_scale:.3g} in magnitude) > tolerance {atol:g}"
            + (" x max(1, |output|)" if parity.output_scale > 1 else "")
        )
    return parity


def _as_sample(sample, spec, size, seed=0):
    """(batch as ndarray of the signature dtype, description)."""
    if sample is None:
        rng = np.random.default_rng(seed)
        shape = (size,) + tuple(spec.shape[1:])
        if any(s is None for s in shape):
            raise ValueError(
                f"The model's input shape {tuple(spec.shape)} has unknown sizes beyond the "
                "batch; pass a `sample` batch to verify the export with."
            )
        return rng.standard_normal(shape).astype(spec.dtype.as_numpy_dtype), "random normal"
    x = np.asarray(sample)
    expected = tuple(spec.shape[1:])
    if x.ndim != len(expected) + 1 or any(
        e is not None and e != s for e, s in zip(expected, x.shape[1:])
    ):
        raise ValueError(
            f"The sample batch must have shape (N,) + {expected}. Received: shape {x.shape}"
        )
    if len(x) == 0:
        raise ValueError("The sample batch is empty.")
    return x.astype(spec.dtype.as_numpy_dtype), "given"


# ---------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------


def _remove(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


@contextlib.contextmanager
def _atomic_output(target, overwrite, suffix=""):
    """Yield a temporary sibling path to write into; rename it to `target` on success.

    Refuses an existing `target` unless `overwrite`. On any exception the
    temporary sibling and any parent directories created here are removed, and
    an existing target stays as it was.
    """
    target = pathlib.Path(target)
    if os.path.lexists(target) and not overwrite:
        raise FileExistsError(
            f"{str(target)!r} already exists; pass overwrite=True (--overwrite) to replace it"
        )
    created = []
    parent = target.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    token = uuid.uuid4().hex[:12]
    temporary = target.parent / f".{target.name}.tmp-{token}{suffix}"
    backup = target.parent / f".{target.name}.old-{token}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        if not os.path.lexists(temporary):
            raise ExportError(f"The exporter wrote nothing to {str(temporary)!r}")
        if not overwrite:
            _rename_no_clobber(temporary, target)
        elif os.path.lexists(target):
            os.rename(target, backup)
            try:
                os.rename(temporary, target)
            except BaseException:
                os.rename(backup, target)
                raise
            _remove(backup)
        else:
            os.rename(temporary, target)
    except BaseException:
        if os.path.lexists(temporary):
            _remove(temporary)
        for directory in created:  # innermost first
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise


def _rename_no_clobber(source, target):
    """Move `source` to `target`, failing if `target` appeared meanwhile (another export)."""
    exists = FileExistsError(
        f"{str(target)!r} already exists; pass overwrite=True (--overwrite) to replace it"
    )
    if os.path.isdir(source):
        if os.path.lexists(target):
            raise exists
        try:
            os.rename(source, target)  # fails on a non-empty directory that appeared
        except OSError:
            if os.path.lexists(target):
                raise exists from None
            raise
        return
    try:
        os.link(source, target)  # atomic, never replaces
    except FileExistsError:
        raise exists from None
    except OSError:  # file systems without hard links
        if os.path.lexists(target):
            raise exists from None
        os.rename(source, target)
        return
    os.unlink(source)


def _versioned_target(path, version):
    path = pathlib.Path(path)
    if version is None:
        return path
    if version == "auto":
        existing = [int(p.name) for p in path.iterdir() if p.name.isdigit()] if path.is_dir() else []
        return path / str(max(existing, default=0) + 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"`version` must be a positive int or 'auto'. Received: version={version!r}")
    return path / str(version)


# ---------------------------------------------------------------------------
# SavedModel
# ---------------------------------------------------------------------------


def _write_saved_model(model, spec, in_name, out_names, directory):
    with export_friendly():
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            name=SERVING_ENDPOINT,
            fn=_serving_function(model, in_name, out_names),
            input_signature=[spec],
        )
        archive.write_out(os.fspath(directory), verbose=False)


# Runs in a fresh interpreter: keras and keras_prelu cannot be imported there, so
# a SavedModel that loads and serves is independent of both.
_CLEAN_LOADER = r"""
import importlib.abc, importlib.machinery, json, sys

class _Blocked(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # As if keras were not installed: found without an origin, and fails to import.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras", "keras_prelu", "tf_keras"):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ImportError(f"{spec.name} is blocked: the SavedModel must serve without it")

    def exec_module(self, module):
        raise ImportError(f"{module.__name__} is blocked")

sys.meta_path.insert(0, _Blocked())
import numpy as np
import tensorflow as tf

model_dir, inputs_file, outputs_file, endpoint = sys.argv[1:5]
loaded = tf.saved_model.load(model_dir)
signature = loaded.signatures[endpoint]
kwargs = signature.structured_input_signature[1]
data = np.load(inputs_file)
(name,) = kwargs
x = data["x"]
outputs = {k: v.numpy() for k, v in signature(**{name: tf.constant(x)}).items()}
single = {k: v.numpy() for k, v in signature(**{name: tf.constant(x[:1])}).items()}
np.savez(outputs_file, **{"full/" + k: v for k, v in outputs.items()},
         **{"single/" + k: v for k, v in single.items()})
report = {
    "keras_imported": sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "keras_prelu")),
    "signatures": sorted(loaded.signatures),
    "inputs": {k: [v.dtype.name, [-1 if d is None else d for d in v.shape.as_list()]]
               for k, v in kwargs.items()},
    "outputs": {k: [v.dtype.name, [-1 if d is None else d for d in v.shape.as_list()]]
                for k, v in signature.structured_outputs.items()},
}
print("REPORT " + json.dumps(report))
"""


def run_saved_model_clean(model_dir, x, endpoint=SERVING_ENDPOINT, timeout=300):
    """Serve `x` through `model_dir`'s signature in a fresh process without Keras.

    Returns (outputs for x, outputs for x[:1], report) where report lists the
    signatures, the signature's inputs and outputs, and any keras module that
    got imported (none, since importing keras is blocked there).
    """
    with tempfile.TemporaryDirectory(prefix="keras_prelu_export_") as scratch:
        inputs_file = os.path.join(scratch, "inputs.npz")
        outputs_file = os.path.join(scratch, "outputs.npz")
        np.savez(inputs_file, x=x)
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        proc = subprocess.run(
            [sys.executable, "-c", _CLEAN_LOADER, os.path.abspath(model_dir), inputs_file,
             outputs_file, endpoint],
            capture_output=True, text=True, cwd=scratch, env=env, timeout=timeout,
        )
        report_lines = [l for l in proc.stdout.splitlines() if l.startswith("REPORT ")]
        if proc.returncode != 0 or not report_lines:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise ExportError(
                f"The SavedModel does not load and serve with plain TensorFlow: {tail}"
            )
        report = json.loads(report_lines[-1][len("REPORT "):])
        with np.load(outputs_file) as data:
            full = {k[len("full/"):]: data[k] for k in data.files if k.startswith("full/")}
            single = {k[len("single/"):]: data[k] for k in data.files if k.startswith("single/")}
    return full, single, report


def _verify_saved_model(directory, job):
    full, single, report = run_saved_model_clean(directory, job.x)
    if report["keras_imported"]:
        raise ExportError(f"Serving the SavedModel imported {report['keras_imported']}")
    if list(report["inputs"]) != [job.in_name]:
        raise ExportError(
            f"The signature's inputs are {list(report['inputs'])}, not [{job.in_name!r}]"
        )
    if report["inputs"][job.in_name][1][0] != -1:
        raise ExportError("The signature's batch size is fixed; it should be dynamic")
    parity = _check_parity(job.reference, full, job.atol, "The SavedModel")
    parity = parity.worst(
        _check_parity(job.reference_one, single, job.atol, "The SavedModel (batch of 1)")
    )
    inputs = {k: (dtype, tuple(shape)) for k, (dtype, shape) in report["inputs"].items()}
    outputs = {k: (dtype, tuple(shape)) for k, (dtype, shape) in report["outputs"].items()}
    return parity, inputs, outputs


# ---------------------------------------------------------------------------
# TFLite
# ---------------------------------------------------------------------------


def _convert_tflite(model, spec, in_name, out_names, representative=None):
    """TFLite flatbuffer of the serving signature, via a scratch SavedModel.

    Converting from a SavedModel freezes the variables and keeps the
    signature's input and output names.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="keras_prelu_tflite_") as scratch:
        saved = os.path.join(scratch, "saved_model")
        _write_saved_model(model, spec, in_name, out_names, saved)
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
        import tensorflow as tf

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


def _prelu_layers(model):
    return [layer for layer in _all_layers(model) if isinstance(layer, prelu_layers.PReLU)]


def _all_layers(model):
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(_all_layers(layer))
    return found


def _check_native_prelu(model, op_names):
    """Every keras_prelu PReLU (inputs of rank 2-4) must have become one PRELU op."""
    expected = 0
    for layer in _prelu_layers(model):
        shape = layer.input.shape if hasattr(layer, "input") else None
        if shape is not None and 2 <= len(shape) <= 4:
            expected += 1
    found = op_names.count("PRELU")
    if found < expected:
        raise ExportError(
            f"The TFLite model has {found} PRELU ops for {expected} PReLU layers: the "
            "converter decomposed PReLU (ops: " + ", ".join(sorted(set(op_names))) + ")"
        )


def _count(names):
    counts = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts


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


def _quantization_report(model, content, in_name, out_names, spec, calibration, evaluation):
    eval_x, eval_y, eval_source = evaluation
    eval_x = eval_x.astype(spec.dtype.as_numpy_dtype)
    reference = _keras_outputs(model, eval_x, out_names)
    got = {}
    for start in range(0, len(eval_x), 256):
        part = run_tflite(content, eval_x[start : start + 256], in_name)
        for name, value in part.items():
            got.setdefault(name, []).append(value)
    got = {name: np.concatenate(parts) for name, parts in got.items()}
    first = out_names[0]
    diff = compare_outputs(reference, got, "The int8 TFLite model").max_abs_diff
    agreement = None
    if reference[first].ndim == 2:
        agreement = float(np.mean(reference[first].argmax(-1) == got[first].argmax(-1)))
    acc_keras, acc_int8 = _accuracy(reference[first], eval_y), _accuracy(got[first], eval_y)
    return {
        "scheme": "int8 (full integer, float32 input/output)",
        "calibration_size": int(len(calibration)),
        "eval_size": int(len(eval_x)),
        "eval_source": eval_source,
        "max_abs_diff": diff,
        "top1_agreement": agreement,
        "accuracy_keras": acc_keras,
        "accuracy_int8": acc_int8,
        "accuracy_drop_pp": None if acc_keras is None else 100.0 * (acc_keras - acc_int8),
    }


# ---------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------


def onnx_available():
    """(True, "") when tf2onnx and onnxruntime import, else (False, the reason)."""
    try:
        importlib.import_module("onnxruntime")
        importlib.import_module("tf2onnx")
    except Exception as error:  # ImportError, or a protobuf/TF incompatibility
        return False, f"{type(error).__name__}: {error}"
    return True, ""


def _convert_onnx(model, spec, in_name, out_names, file, opset=None):
    import tensorflow as tf

    ok, reason = onnx_available()
    if not ok:
        raise ImportError(
            "ONNX export needs the 'onnx' extra (pip install 'keras-prelu[onnx]': "
            f"tf2onnx and onnxruntime). {reason}"
        )
    import onnx
    import tf2onnx

    with export_friendly():
        function = tf.function(
            _serving_function(model, in_name, out_names), input_signature=[spec], autograph=False
        )
        try:
            proto, _ = tf2onnx.convert.from_function(
                function, input_signature=[spec], opset=opset, output_path=None
            )
        except Exception as error:
            raise ExportError(f"ONNX conversion failed: {str(error).splitlines()[0]}") from error
    proto = _fuse_onnx_prelu(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, os.fspath(file))
    return proto


def _fuse_onnx_prelu(proto):
    """Rewrite PReLU's plain pattern into ONNX's native `PRelu` op.

    tf2onnx keeps `Add(Relu(x), Mul(Relu(Neg(x)), c))` (with `c = -alpha`),
    and when its layout optimizer cannot push a transpose through the `Mul`
    (slopes that vary along a spatial axis), the product is wrapped as
    `Transpose_q(Mul(Transpose_p(Relu(Neg(x))), c))` with q the inverse of p.
    Both become `PRelu(x, slope)`, the slope being `-c` padded to x's rank and
    moved to x's layout (`transpose(-c, q)`), so it broadcasts
    unidirectionally to x as ONNX requires (checked by `_check_onnx_slopes`).
    """
    from onnx import numpy_helper

    graph = proto.graph
    producers = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    initializers = {init.name: init for init in graph.initializer}
    graph_outputs = {out.name for out in graph.output}

    def single_use(node):
        return len(consumers.get(node.output[0], [])) == 1 and node.output[0] not in graph_outputs

    def producer(name, op_type):
        node = producers.get(name)
        return node if node is not None and node.op_type == op_type else None

    def perm_of(node):
        for attribute in node.attribute:
            if attribute.name == "perm":
                return list(attribute.ints)
        return None

    def match(add):
        """(x, slope array, nodes to remove) if `add` ends a PReLU pattern, else None."""
        for relu_in, product_in in (add.input, add.input[::-1]):
            relu = producer(relu_in, "Relu")
            if relu is None:
                continue
            x = relu.input[0]
            back = producer(product_in, "Transpose")
            mul = producer(back.input[0] if back else product_in, "Mul")
            if mul is None:
                continue
            for negative_in, const in (mul.input, mul.input[::-1]):
                if const not in initializers:
                    continue
                forward = producer(negative_in, "Transpose")
                if (forward is None) != (back is None):
                    continue
                neg_relu = producer(forward.input[0] if forward else negative_in, "Relu")
                neg = producer(neg_relu.input[0], "Neg") if neg_relu is not None else None
                if neg is None or neg.input[0] != x:
                    continue
                chain = [relu, mul, neg_relu, neg] + ([forward, back] if forward else [])
                if not all(single_use(node) for node in chain):
                    continue
                slope = -numpy_helper.to_array(initializers[const])
                if forward is not None:
                    p, q = perm_of(forward), perm_of(back)
                    if p is None or q is None or len(p) != len(q) or [p[i] for i in q] != list(range(len(p))):
                        continue
                    if slope.ndim > len(p):
                        continue
                    slope = np.transpose(slope.reshape((1,) * (len(p) - slope.ndim) + slope.shape), q)
                return x, slope, chain
        return None

    removed, replacements, new_inits = set(), {}, []
    for node in graph.node:
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        found = match(node)
        if found is None:
            continue
        x, slope, chain = found
        base = node.name or node.output[0]
        slope_name = f"{base}/prelu_slope"
        new_inits.append(numpy_helper.from_array(np.ascontiguousarray(slope), slope_name))
        replacements[id(node)] = _make_node("PRelu", [x, slope_name], [node.output[0]], f"{base}/PRelu")
        removed.update(id(n) for n in chain)
    if not replacements:
        return proto
    nodes = [replacements.get(id(n), n) for n in graph.node if id(n) not in removed]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(new_inits)
    used = {name for node in graph.node for name in node.input}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return proto


def _make_node(op_type, inputs, outputs, name):
    from onnx import helper

    return helper.make_node(op_type, inputs, outputs, name=name)


def onnx_prelu_slopes(proto):
    """[(slope shape, input shape)] for every PRelu node; unknown input sizes are -1, rank None."""
    import onnx
    from onnx import numpy_helper

    inferred = onnx.shape_inference.infer_shapes(proto)
    shapes = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input):
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            shapes[value.name] = tuple(
                d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim
            )
    inits = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    return [
        (tuple(inits[node.input[1]].shape), shapes.get(node.input[0]))
        for node in proto.graph.node
        if node.op_type == "PRelu" and node.input[1] in inits
    ]


def _unidirectional_broadcast(slope, shape):
    """Whether `slope` broadcasts to `shape` (ONNX/NumPy rules, slope side only)."""
    if shape is None or len(slope) > len(shape):
        return False
    return all(s == 1 or s == d for s, d in zip(reversed(slope), reversed(shape)))


def _check_onnx_slopes(proto):
    for slope, shape in onnx_prelu_slopes(proto):
        if not _unidirectional_broadcast(slope, shape):
            raise ExportError(
                f"An ONNX PRelu slope of shape {slope} does not broadcast to its input {shape}"
            )


def run_onnx(file, x, in_name):
    """Run an ONNX file with onnxruntime (CPU) on `x`: {output name: ndarray}."""
    import onnxruntime

    session = onnxruntime.InferenceSession(os.fspath(file), providers=["CPUExecutionProvider"])
    names = [out.name for out in session.get_outputs()]
    return dict(zip(names, session.run(names, {in_name: x})))


def _onnx_io(proto):
    def describe(values):
        import onnx

        found = {}
        for value in values:
            tensor = value.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
            found[value.name] = (np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name, dims)
        return found

    return describe(proto.graph.input), describe(proto.graph.output)


# ---------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------


def export_model(
    model_or_run_dir,
    path,
    format="saved_model",
    *,
    overwrite=False,
    version=None,
    sample=None,
    sample_size=_DEFAULT_SAMPLE_SIZE,
    atol=DEFAULT_ATOL,
    quantize=None,
    representative_data=None,
    eval_data=None,
    input_name=None,
    opset=None,
    data=None,
    data_dir=None,
    calibration_size=_MAX_CALIBRATION_SAMPLES,
    eval_size=1000,
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
            `eval_data` is not given: a dataset name for `keras_prelu.data.load`
            (e.g. "digits"), a loaded `Data`, or a `RealData`. By default, a run
            directory's `model_card.json` dataset, when it loads offline.
        data_dir: TFDS data folder for `data` given by name.
        calibration_size, eval_size: with `data`: how many training images
            calibrate int8, how many test images measure its accuracy.

    Returns:
        An `ExportResult`; `print(result.summary())` for a report.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
        ParityError: the artifact's outputs differ from Keras beyond `atol`.
        ExportError: conversion failed or a structural check failed (for
            instance PReLU not converted to the native TFLite op).
        ImportError: "onnx" without tf2onnx / onnxruntime.
    """
    if format not in FORMATS:
        raise ValueError(f"Unknown export format. Known: {list(FORMATS)}. Received: format={format!r}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantization. Known: {list(QUANTIZATIONS)}. Received: quantize={quantize!r}")
    if quantize is not None and format != "tflite":
        raise ValueError(f"Quantization is for format='tflite'. Received: format={format!r}, quantize={quantize!r}")
    if version is not None and format != "saved_model":
        raise ValueError(f"`version` is for format='saved_model'. Received: format={format!r}")
    if not (isinstance(atol, (int, float)) and atol >= 0):
        raise ValueError(f"`atol` must be a number >= 0. Received: atol={atol!r}")
    if format == "onnx":
        ok, reason = onnx_available()
        if not ok:
            raise ImportError(
                "ONNX export needs the 'onnx' extra (pip install 'keras-prelu[onnx]': "
                f"tf2onnx and onnxruntime). {reason}"
            )

    target = _versioned_target(path, version)
    if os.path.lexists(target) and not overwrite:  # refuse before the slow work
        raise FileExistsError(
            f"{str(target)!r} already exists; pass overwrite=True (--overwrite) to replace it"
        )
    model = load_model(model_or_run_dir)
    precision_note = ""
    if format != "keras" and _is_reduced_precision(model):
        original = model
        model = float32_model(original)
        precision_note = f"{_policy_name(original)} model exported in float32"
    in_name, out_names = _io_names(model, input_name)
    spec = _input_spec(model, in_name)
    real, data_note = _real_data(
        model_or_run_dir, data, data_dir,
        dict(sample_size=sample_size, calibration_size=calibration_size, eval_size=eval_size),
    )
    sample_source, eval_source = "given", "eval_data"
    if real is not None:
        if sample is None:
            sample, sample_source = real.sample, f"{real.name} test images"
        if representative_data is None:
            representative_data = real.representative
        if eval_data is None:
            eval_data, eval_source = real.evaluation, f"{real.name} test images"
    if quantize is not None and representative_data is None:
        raise ValueError(
            "int8 quantization needs `representative_data` (a sample of the training inputs) "
            "or `data`" + (f"; {data_note}" if data_note else "")
        )
    x, default_source = _as_sample(sample, spec, sample_size)
    if sample is None:
        sample_source = default_source + (f"; {data_note}" if data_note else "")
    reference = _keras_outputs(model, x, out_names)
    if precision_note:
        gap = compare_outputs(reference, _keras_outputs(original, x, out_names)).max_abs_diff
        precision_note += f" (checked against its float32 copy; the {_policy_name(original)} "
        precision_note += f"outputs differ from float32 by up to {gap:.3g})"
    job = _Job(model, spec, in_name, out_names, x, reference, float(atol))

    suffix = {"keras": ".keras", "tflite": ".tflite", "onnx": ".onnx"}.get(format, "")
    with _atomic_output(target, overwrite, suffix=suffix) as temporary:
        if format == "saved_model":
            fields = _export_saved_model(job, temporary)
        elif format == "tflite":
            fields = _export_tflite(
                job, temporary, quantize, representative_data, eval_data, eval_source,
                calibration_size,
            )
        elif format == "onnx":
            fields = _export_onnx(job, temporary, opset)
        else:
            fields = _export_keras(job, temporary)
    parity = fields.pop("parity")
    return ExportResult(
        format=format,
        path=os.fspath(target),
        max_abs_diff=parity.max_abs_diff,
        max_scaled_diff=parity.max_scaled_diff,
        output_scale=parity.output_scale,
        atol=float(atol),
        sample_size=int(len(x)),
        sample_source=sample_source,
        note=precision_note,
        **fields,
    )


def _policy_name(model):
    for layer in _all_layers(model):
        policy = getattr(layer, "dtype_policy", None)
        if policy is not None and getattr(policy, "compute_dtype", "float32") != "float32":
            return policy.name
    return "float32"


def _real_data(source, data, data_dir, sizes):
    """(RealData or None, note on why none was used)."""
    if isinstance(data, RealData):
        return data, ""
    if data is None:
        if isinstance(source, keras.Model) or not os.path.isdir(os.fspath(source)):
            return None, ""
        named = run_dataset(source)
        if named is None:
            return None, ""
        data, card_dir = named
        data_dir = data_dir or card_dir
        try:
            return dataset_arrays(data, data_dir, **sizes), ""
        except Exception as error:  # offline, not prepared, ...: say so, verify on random inputs
            first = (str(error).splitlines() or [type(error).__name__])[0]
            return None, f"the run's dataset {data!r} did not load: {first}"
    return dataset_arrays(data, data_dir, **sizes), ""


@dataclasses.dataclass
class _Job:
    model: object
    spec: object
    in_name: str
    out_names: list
    x: np.ndarray
    reference: dict
    atol: float

    def check(self, run, what):
        """Parity of `run(batch)` on the check batch and on its first row alone."""
        parity = _check_parity(self.reference, run(self.x), self.atol, what)
        return parity.worst(
            _check_parity(self.reference_one, run(self.x[:1]), self.atol, f"{what} (batch of 1)")
        )

    @property
    def reference_one(self):
        """Keras's outputs for a batch of the first row alone (kernels differ by batch size)."""
        return _keras_outputs(self.model, self.x[:1], self.out_names)


def saved_model_xla_functions(directory):
    """Names of the functions in a SavedModel marked `_XlaMustCompile` (they need XLA to serve)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(os.fspath(directory), "saved_model.pb"), "rb") as handle:
        proto.ParseFromString(handle.read())
    found = []
    for meta_graph in proto.meta_graphs:
        for function in meta_graph.graph_def.library.function:
            attr = function.attr.get("_XlaMustCompile")
            if attr is not None and attr.b:
                found.append(function.signature.name)
    return found


def _export_saved_model(job, directory):
    _write_saved_model(job.model, job.spec, job.in_name, job.out_names, directory)
    xla = saved_model_xla_functions(directory)
    if xla:
        raise ExportError(
            f"The SavedModel has {len(xla)} XLA-only functions (e.g. {xla[0]}); "
            "it was not traced under keras_prelu.ops.export_friendly()"
        )
    parity, inputs, outputs = _verify_saved_model(directory, job)
    return dict(parity=parity, inputs=inputs, outputs=outputs)


def _export_tflite(job, file, quantize, representative_data, eval_data, eval_source,
                   calibration_size=_MAX_CALIBRATION_SAMPLES):
    float_content = _convert_tflite(job.model, job.spec, job.in_name, job.out_names)
    _check_native_prelu(job.model, tflite_op_names(float_content))
    parity = job.check(lambda x: run_tflite(float_content, x, job.in_name), "The TFLite model")
    content, quantization = float_content, None
    if quantize == "int8":
        calib_x, calib_y = _split_labelled(representative_data, "representative_data")
        calib = calib_x
        if len(calib_x) > calibration_size:
            pick = np.random.default_rng(0).choice(len(calib_x), calibration_size, replace=False)
            calib = calib_x[np.sort(pick)]
        calib, _ = _as_sample(calib, job.spec, len(calib))
        if eval_data is not None:
            evaluation = _split_labelled(eval_data, "eval_data") + (eval_source,)
        else:
            evaluation = (calib_x, calib_y, "representative data")
        content = _convert_tflite(
            job.model, job.spec, job.in_name, job.out_names, representative=calib
        )
        _check_native_prelu(job.model, tflite_op_names(content))
        quantization = _quantization_report(
            job.model, content, job.in_name, job.out_names, job.spec, calib, evaluation
        )
    with open(file, "wb") as handle:
        handle.write(content)
    with open(file, "rb") as handle:  # describe what is on disk
        written = handle.read()
    inputs, outputs = _tflite_io(written)
    return dict(parity=parity, inputs=inputs, outputs=outputs,
                ops=_count(tflite_op_names(written)), quantization=quantization)


def _export_onnx(job, file, opset):
    proto = _convert_onnx(job.model, job.spec, job.in_name, job.out_names, file, opset=opset)
    _check_onnx_slopes(proto)
    parity = job.check(lambda x: run_onnx(file, x, job.in_name), "The ONNX model")
    inputs, outputs = _onnx_io(proto)
    return dict(parity=parity, inputs=inputs, outputs=outputs,
                ops=_count(node.op_type for node in proto.graph.node))


def _export_keras(job, file):
    job.model.save(file)
    reloaded = keras.saving.load_model(file, compile=False)
    parity = job.check(lambda x: _keras_outputs(reloaded, x, job.out_names), "The reloaded .keras model")

    def dims(shape):
        return tuple(-1 if s is None else int(s) for s in shape)

    inputs = {job.in_name: (job.spec.dtype.name, dims(job.spec.shape))}
    outputs = {
        name: (keras.backend.standardize_dtype(tensor.dtype), dims(tensor.shape))
        for name, tensor in zip(job.out_names, keras.tree.flatten(job.model.outputs))
    }
    return dict(parity=parity, inputs=inputs, outputs=outputs)
