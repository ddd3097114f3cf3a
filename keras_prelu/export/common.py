"""What every export module shares: the formats, the defaults and the errors."""

FORMATS = ("saved_model", "tflite", "onnx", "keras")
QUANTIZATIONS = ("int8",)
#: Largest allowed |exported - Keras|, times max(1, |Keras output|).
DEFAULT_ATOL = 1e-5
#: The SavedModel signature (also exported as "serving_default").
SERVING_ENDPOINT = "serve"
#: Inputs in the check batch when none is given.
DEFAULT_SAMPLE_SIZE = 8
#: At most this many representative inputs calibrate int8 quantization.
DEFAULT_CALIBRATION_SIZE = 256
#: Labelled test inputs the int8 accuracy drop is measured on, with `data`.
DEFAULT_EVAL_SIZE = 1000
#: File suffix of each single-file format (the temporary file must carry it).
SUFFIXES = {"keras": ".keras", "tflite": ".tflite", "onnx": ".onnx"}


class ExportError(RuntimeError):
    """The export could not be produced or failed its own checks; nothing was written."""


class ParityError(ExportError):
    """The exported artifact's outputs differ from the Keras model's beyond the tolerance."""
