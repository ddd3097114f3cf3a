"""SavedModel: written with `keras.export.ExportArchive` (PReLU in its plain inference form,
see `keras_prelu._tf_kernels`, with its slopes as constants), checked for XLA-only functions,
and served in a fresh process where Keras cannot be imported. With `jit_compile=True` the
serving function is instead one XLA computation, and the check is that it is."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from keras_prelu.export.common import SERVING_ENDPOINT, ExportError
from keras_prelu.export.signature import serving_function
from keras_prelu.export.verify import check_parity
from keras_prelu.ops import constant_slopes
from keras_prelu.utils.files import scratch_directory
from keras_prelu.utils.models import slope_variables


def write_saved_model(model, spec, in_name, out_names, directory, jit_compile=False):
    """Write `model`'s serving signature `SERVING_ENDPOINT` (and "serving_default") to `directory`.

    Traced without a gradient tape, PReLU gets the plain inference form (no XLA cluster,
    fastest with plain TensorFlow); a converter's scratch copy is written inside
    `keras_prelu.ops.export_friendly()` instead (see `export.tflite`). With `jit_compile`,
    the whole serving function is one XLA computation.
    """
    serve = serving_function(model, in_name, out_names)
    if jit_compile:
        serve = tf.function(serve, jit_compile=True, autograph=False)
    archive = keras.export.ExportArchive()
    archive.track(model)
    with constant_slopes([] if jit_compile else prelu_slopes(model)):
        archive.add_endpoint(name=SERVING_ENDPOINT, fn=serve, input_signature=[spec])
        archive.write_out(os.fspath(directory), verbose=False)


def prelu_slopes(model):
    """(slope variable, its value) of `model`'s PReLU layers (`utils.models.slope_variables`).

    The plain SavedModel's serving graph holds them as constants: each PReLU's form is then
    chosen when tracing, with no run-time check of its slopes per layer and call (about 8%
    of a ResNet-20's latency at batch 1), and one shared slope becomes TensorFlow's LeakyRelu.
    """
    return [(alpha, keras.ops.convert_to_numpy(alpha))
            for alpha in slope_variables(model).values()]


def saved_model_xla_functions(directory):
    """Names of the functions in a SavedModel marked `_XlaMustCompile` (they need XLA to serve)."""
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
    with scratch_directory("serve") as scratch:
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
        report_lines = [line for line in proc.stdout.splitlines() if line.startswith("REPORT ")]
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
    parity = check_parity(job.reference, full, job.atol, "The SavedModel")
    parity = parity.worst(
        check_parity(job.reference_one, single, job.atol, "The SavedModel (batch of 1)")
    )
    inputs = {k: (dtype, tuple(shape)) for k, (dtype, shape) in report["inputs"].items()}
    outputs = {k: (dtype, tuple(shape)) for k, (dtype, shape) in report["outputs"].items()}
    return parity, inputs, outputs


def export_saved_model(job, directory, jit_compile=False):
    """Write `job`'s model to `directory` and verify it: {parity, inputs, outputs}."""
    write_saved_model(job.model, job.spec, job.in_name, job.out_names, directory, jit_compile)
    xla = saved_model_xla_functions(directory)
    if jit_compile and not xla:
        raise ExportError("The SavedModel was asked to be XLA-compiled but has no XLA function")
    if xla and not jit_compile:
        raise ExportError(
            f"The SavedModel has {len(xla)} XLA-only functions (e.g. {xla[0]}); "
            "PReLU's XLA kernels were traced into it instead of its inference form"
        )
    parity, inputs, outputs = _verify_saved_model(directory, job)
    return {"parity": parity, "inputs": inputs, "outputs": outputs}
