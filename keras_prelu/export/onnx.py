"""ONNX (the `onnx` extra: tf2onnx, onnxruntime): converted with tf2onnx under
`export_friendly()`, PReLU's plain pattern fused into the native `PRelu` op with a
slope that broadcasts as ONNX requires (checked), run with onnxruntime."""

import collections
import importlib
import os

import numpy as np
import tensorflow as tf

from keras_prelu.export.common import ExportError
from keras_prelu.export.signature import serving_function
from keras_prelu.ops import export_friendly


def onnx_available():
    """(True, "") when tf2onnx and onnxruntime import, else (False, the reason)."""
    try:
        importlib.import_module("onnxruntime")
        importlib.import_module("tf2onnx")
    except Exception as error:  # ImportError, or a protobuf/TF incompatibility
        return False, f"{type(error).__name__}: {error}"
    return True, ""


def require_onnx():
    """Raise an ImportError naming the `onnx` extra unless `onnx_available()`."""
    ok, reason = onnx_available()
    if not ok:
        raise ImportError(
            "ONNX export needs the 'onnx' extra (pip install 'keras-prelu[onnx]': "
            f"tf2onnx and onnxruntime). {reason}"
        )


def convert_onnx(model, spec, in_name, out_names, file, opset=None):
    """Convert the serving signature with tf2onnx, fuse PReLU, check and save to `file`: the proto."""
    require_onnx()
    import onnx
    import tf2onnx

    with export_friendly():
        function = tf.function(
            serving_function(model, in_name, out_names), input_signature=[spec], autograph=False
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


# ---------------------------------------------------------------------------
# PReLU fusion
# ---------------------------------------------------------------------------


class _GraphIndex:
    """Who produces and who consumes each tensor of an ONNX graph."""

    def __init__(self, graph):
        self.producers = {out: node for node in graph.node for out in node.output}
        self.consumers = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.initializers = {init.name: init for init in graph.initializer}
        self.outputs = {out.name for out in graph.output}

    def single_use(self, node):
        return len(self.consumers.get(node.output[0], [])) == 1 and node.output[0] not in self.outputs

    def producer(self, name, op_type):
        node = self.producers.get(name)
        return node if node is not None and node.op_type == op_type else None


def _perm_of(node):
    for attribute in node.attribute:
        if attribute.name == "perm":
            return list(attribute.ints)
    return None


def _to_layout(slope, p, q):
    """`slope` padded to rank len(p) and transposed by `q`, None unless q inverts p."""
    if p is None or q is None or len(p) != len(q) or [p[i] for i in q] != list(range(len(p))):
        return None
    if slope.ndim > len(p):
        return None
    return np.transpose(slope.reshape((1,) * (len(p) - slope.ndim) + slope.shape), q)


def _match_negative_part(index, relu, mul, back, negative_in, const):
    """(x, slope, nodes to remove) when `mul` is [Transpose](Relu(Neg(x))) x constant `const`."""
    from onnx import numpy_helper

    if const not in index.initializers:
        return None
    x = relu.input[0]
    forward = index.producer(negative_in, "Transpose")
    if (forward is None) != (back is None):
        return None
    neg_relu = index.producer(forward.input[0] if forward else negative_in, "Relu")
    neg = index.producer(neg_relu.input[0], "Neg") if neg_relu is not None else None
    if neg is None or neg.input[0] != x:
        return None
    chain = [relu, mul, neg_relu, neg] + ([forward, back] if forward else [])
    if not all(index.single_use(node) for node in chain):
        return None
    slope = -numpy_helper.to_array(index.initializers[const])
    if forward is not None:
        slope = _to_layout(slope, _perm_of(forward), _perm_of(back))
        if slope is None:
            return None
    return x, slope, chain


def _match_prelu(index, add):
    """(x, slope array, nodes to remove) if `add` ends a PReLU pattern, else None."""
    for relu_in, product_in in (add.input, add.input[::-1]):
        relu = index.producer(relu_in, "Relu")
        if relu is None:
            continue
        back = index.producer(product_in, "Transpose")
        mul = index.producer(back.input[0] if back else product_in, "Mul")
        if mul is None:
            continue
        for negative_in, const in (mul.input, mul.input[::-1]):
            found = _match_negative_part(index, relu, mul, back, negative_in, const)
            if found is not None:
                return found
    return None


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
    from onnx import helper, numpy_helper

    graph = proto.graph
    index = _GraphIndex(graph)
    removed, replacements, new_inits = set(), {}, []
    for node in graph.node:
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        found = _match_prelu(index, node)
        if found is None:
            continue
        x, slope, chain = found
        base = node.name or node.output[0]
        slope_name = f"{base}/prelu_slope"
        new_inits.append(numpy_helper.from_array(np.ascontiguousarray(slope), slope_name))
        replacements[id(node)] = helper.make_node(
            "PRelu", [x, slope_name], [node.output[0]], name=f"{base}/PRelu"
        )
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


# ---------------------------------------------------------------------------
# Checks and running
# ---------------------------------------------------------------------------


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
    import onnx

    def describe(values):
        found = {}
        for value in values:
            tensor = value.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
            found[value.name] = (dtype, dims)
        return found

    return describe(proto.graph.input), describe(proto.graph.output)


def export_onnx(job, file, opset=None):
    """Convert, check and write `job`'s model to `file`: {parity, inputs, outputs, ops}."""
    proto = convert_onnx(job.model, job.spec, job.in_name, job.out_names, file, opset=opset)
    _check_onnx_slopes(proto)
    parity = job.check(lambda x: run_onnx(file, x, job.in_name), "The ONNX model")
    inputs, outputs = _onnx_io(proto)
    return {"parity": parity, "inputs": inputs, "outputs": outputs,
                "ops": dict(collections.Counter(node.op_type for node in proto.graph.node))}
