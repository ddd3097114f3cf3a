"""`keras-prelu export SOURCE --format saved_model|tflite|onnx|keras --out PATH`: export and verify.

SOURCE is a training run directory (its `model.keras`, with `final.weights.h5`
if present) or a `.keras` file. The artifact is written atomically, then the
command runs it on a batch and prints the largest difference from the Keras
model; a mismatch is an error (exit 1) and leaves nothing behind.
"""

import json
import os
import sys

from keras_prelu.commands.flags import UsageError, register_unavailable, user_errors_as_usage
from keras_prelu.utils.backends import tensorflow_installed
from keras_prelu.utils.run_layout import CONFIG, MODEL_FILE, WEIGHTS_FILE


def _version(text):
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"--version must be a positive integer or 'auto'. Received: {text!r}")
    return value


def _check_source(source):
    """Refuse, before any slow work, what `export.load_model` cannot read."""
    if not os.path.exists(source):
        raise UsageError(f"no such run directory or .keras file: {source!r}")
    if os.path.isdir(source):
        def has(name):
            return os.path.isfile(os.path.join(source, name))

        if has(MODEL_FILE) or (has(CONFIG) and has(WEIGHTS_FILE)):
            return
        if has(CONFIG):
            raise UsageError(f"{source!r} has no {MODEL_FILE} yet: the run has not finished")
        raise UsageError(f"{source!r} has no {MODEL_FILE}: it is not a run directory")
    if not source.endswith(".keras"):
        raise UsageError(f"SOURCE must be a run directory or a .keras file. Received: {source!r}")


def _check_flags(args):
    if args.format == "keras" and not args.out.endswith(".keras"):
        raise UsageError(f"--format keras needs an --out path ending in .keras. Received: {args.out!r}")
    for flag, value in (("--sample-size", args.sample_size), ("--calibration-size", args.calibration_size),
                        ("--eval-size", args.eval_size)):
        if value < 1:
            raise UsageError(f"{flag} must be >= 1. Received: {value}")
    if not args.atol >= 0:
        raise UsageError(f"--atol must be >= 0. Received: {args.atol}")
    version = None if args.version is None else _version(args.version)
    if version is not None and args.format != "saved_model":
        raise UsageError("--version is for --format saved_model (TF Serving's PATH/VERSION layout)")
    if args.quantize and args.format != "tflite":
        raise UsageError("--quantize is for --format tflite")
    if args.jit_compile and args.format != "saved_model":
        raise UsageError("--jit-compile is for --format saved_model")
    if args.format == "onnx":
        ok, reason = export.onnx_available()
        if not ok:
            raise UsageError(
                "--format onnx needs the 'onnx' extra: pip install 'keras-prelu[onnx]' "
                f"(tf2onnx, onnxruntime); {reason}"
            )
    return version


def _real_data(args):
    """The `--data` dataset as `export.RealData`, or None (then the run's own dataset is tried)."""
    if args.data:
        try:
            return export.dataset_arrays(
                args.data, args.data_dir, sample_size=args.sample_size,
                calibration_size=args.calibration_size, eval_size=args.eval_size,
            )
        except ValueError as error:  # keras_prelu.training.data.DataError is a ValueError
            raise UsageError(f"--data {args.data}: {str(error).splitlines()[0]}") from None
    if args.quantize and export.run_dataset(args.source) is None:
        raise UsageError(
            "--quantize int8 needs training data for calibration: pass --data NAME "
            "(or export a run directory whose model_card.json names its dataset)"
        )
    return None


def _run(args):
    _check_source(args.source)
    version = _check_flags(args)
    data = _real_data(args)
    try:
        with user_errors_as_usage(FileExistsError, FileNotFoundError, ValueError, ImportError):
            result = export.export_model(
                args.source, args.out, args.format, overwrite=args.overwrite, version=version,
                sample_size=args.sample_size, atol=args.atol, quantize=args.quantize,
                input_name=args.input_name, opset=args.opset, data=data, data_dir=args.data_dir,
                calibration_size=args.calibration_size, eval_size=args.eval_size,
                jit_compile=args.jit_compile,
            )
    except export.ExportError as error:
        print(f"keras-prelu: error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=list))
    else:
        print(result.summary())
    return 0


try:  # export writes TensorFlow formats: without TensorFlow the command says so in one line
    from keras_prelu import export
except ImportError as missing:
    if tensorflow_installed():  # a real import error, not a missing TensorFlow
        raise
    export, _MISSING = None, missing


def register(subparsers):
    if export is None:
        register_unavailable(subparsers, ["export"], _MISSING)
        return
    parser = subparsers.add_parser(
        "export",
        help="export a run or .keras model to SavedModel, TFLite, ONNX or .keras, verified",
        description="Export a training run or a .keras model to SavedModel, TFLite, ONNX or .keras, "
        "then run the artifact on a batch and compare it with the Keras model (a mismatch is an "
        "error and leaves nothing behind).",
    )
    parser.add_argument("source", metavar="RUN_DIR_OR_.keras", help="training run directory or .keras file")
    parser.add_argument("--format", choices=export.FORMATS, default="saved_model", help="default: saved_model")
    parser.add_argument("--out", required=True, metavar="PATH", help="where to write (refused if it exists)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing PATH")
    parser.add_argument(
        "--version", metavar="N|auto",
        help="SavedModel only: write TF Serving's layout PATH/N/ ('auto': one above the highest)",
    )
    parser.add_argument(
        "--jit-compile", action="store_true",
        help="SavedModel only: serve the model as one XLA computation (PReLU as cheap as ReLU, "
        "faster small batches; the server needs XLA, each new batch size compiles once)",
    )
    parser.add_argument("--quantize", choices=export.QUANTIZATIONS,
                        help="TFLite only: int8 post-training quantization")
    parser.add_argument(
        "--data", metavar="NAME",
        help="dataset for the check batch, int8 calibration and accuracy (e.g. digits, mnist, "
        "cifar10); default: the run's model_card.json dataset, else random inputs",
    )
    parser.add_argument("--data-dir", metavar="DIR", help="TFDS data folder for --data")
    parser.add_argument("--sample-size", type=int, default=export.DEFAULT_SAMPLE_SIZE, metavar="N",
                        help=f"check batch size (default {export.DEFAULT_SAMPLE_SIZE})")
    parser.add_argument("--calibration-size", type=int, default=export.DEFAULT_CALIBRATION_SIZE, metavar="N",
                        help=f"training images for int8 calibration (default {export.DEFAULT_CALIBRATION_SIZE})")
    parser.add_argument("--eval-size", type=int, default=export.DEFAULT_EVAL_SIZE, metavar="N",
                        help=f"test images for the int8 accuracy drop (default {export.DEFAULT_EVAL_SIZE})")
    parser.add_argument("--atol", type=float, default=export.DEFAULT_ATOL,
                        help=f"allowed |exported - Keras|, times max(1, |output|) (default {export.DEFAULT_ATOL:g})")
    parser.add_argument("--input-name", metavar="NAME", help="serving input name (default: the model's)")
    parser.add_argument("--opset", type=int, metavar="N", help="ONNX opset (default: tf2onnx's)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=_run)
