"""Export a Keras model to SavedModel, TFLite, ONNX or `.keras`, verified against the Keras model.

    from keras_prelu.export import export_model
    result = export_model("runs/resnet20_prelu", "serving/resnet20", version=1)
    print(result.summary())
    export_model(model, "m.tflite", "tflite", quantize="int8", data="digits")

No export contains XLA clusters unless asked: `export_model(..., jit_compile=True)`
(`keras-prelu export --jit-compile`) makes a SavedModel whose serving function is
one XLA computation, for servers that have XLA. TFLite and ONNX are traced under
`keras_prelu.ops.export_friendly()`, so PReLU becomes
`relu(x) + (-alpha) * relu(-x)`: plain TensorFlow ops that the TFLite converter
fuses into its builtin PRELU op and that tf2onnx turns into ONNX `PRelu` (after
the fusion in `export.onnx`). The SavedModel, which is served by TensorFlow
itself, keeps PReLU's inference form (`maximum(x, alpha * x)` when every slope
is in (0, 1); see `keras_prelu._tf_kernels`), which TensorFlow runs faster. Its
serving graph holds the slopes as constants, so each layer's form is chosen when
exporting rather than checked at every call, and one shared slope becomes
TensorFlow's LeakyRelu (fused into a preceding convolution like ReLU); the slope
variables are still saved, but changing them after loading does not change what
the signature computes. LeakyReLU and RReLU (at inference) are
`tf.nn.leaky_relu`, i.e. LEAKY_RELU / LeakyRelu.

Writes are atomic (`keras_prelu.utils.files.atomic_output`): the artifact is
written into a hidden temporary sibling of the target, verified there, and
only then renamed into place; on any failure (including KeyboardInterrupt) the
temporary sibling is removed and an existing target is left untouched. An
existing target is refused unless `overwrite=True`.

Verification runs the exported artifact on a batch (and on its first row
alone, to exercise the dynamic batch size) and compares every output with the
Keras model's: `|exported - Keras| <= atol * max(1, max |Keras output|)`,
atol = 1e-5 by default, i.e. absolute for outputs within [-1, 1] and relative
beyond, where float32 rounding grows with the magnitude. A mismatch raises
`ParityError`. The SavedModel is checked in a fresh Python process in which
`keras` and `keras_prelu` cannot be imported, so it is known to serve with
plain TensorFlow. Mixed-precision models are exported as float32 copies.

Modules: `api` (`export_model`), `source` (the model and real data),
`signature`, `verify` (parity), one per format (`saved_model`, `tflite`,
`onnx`, `keras_format`), `common` (formats, defaults, errors), `result`.
"""

from keras_prelu.utils.backends import require_tensorflow

require_tensorflow("keras_prelu.export")  # a TensorFlow program: one clear line without it

from keras_prelu.export.api import export_model
from keras_prelu.export.common import (
    DEFAULT_ATOL,
    DEFAULT_CALIBRATION_SIZE,
    DEFAULT_EVAL_SIZE,
    DEFAULT_SAMPLE_SIZE,
    FORMATS,
    QUANTIZATIONS,
    SERVING_ENDPOINT,
    ExportError,
    ParityError,
)
from keras_prelu.export.onnx import onnx_available, onnx_prelu_slopes, run_onnx
from keras_prelu.export.result import ExportResult
from keras_prelu.export.saved_model import (
    run_saved_model_clean,
    saved_model_xla_functions,
)
from keras_prelu.export.source import (
    RealData,
    dataset_arrays,
    float32_model,
    load_model,
    run_dataset,
)
from keras_prelu.export.tflite import run_tflite, tflite_op_names
from keras_prelu.export.verify import Parity, compare_outputs

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_CALIBRATION_SIZE",
    "DEFAULT_EVAL_SIZE",
    "DEFAULT_SAMPLE_SIZE",
    "FORMATS",
    "QUANTIZATIONS",
    "SERVING_ENDPOINT",
    "ExportError",
    "ExportResult",
    "Parity",
    "ParityError",
    "RealData",
    "compare_outputs",
    "dataset_arrays",
    "export_model",
    "float32_model",
    "load_model",
    "onnx_available",
    "onnx_prelu_slopes",
    "run_dataset",
    "run_onnx",
    "run_saved_model_clean",
    "run_tflite",
    "saved_model_xla_functions",
    "tflite_op_names",
]
