"""Functional forms of the rectifiers: `prelu`, `leaky_relu`, `prelu_inverse`.

They accept any tensor-like input. `prelu` has a hand-written gradient:
dx = upstream where x >= 0 else alpha * upstream, and
dalpha = sum of x * upstream over the entries where x < 0, reduced to alpha's
shape. On the TensorFlow backend, while a gradient tape may record, both
directions run as fused XLA clusters, or, for float32 training steps on CPU
outside XLA, as the hand-written one-pass kernels of `keras_prelu.native`;
graphs no tape records (inference, SavedModels for serving) get a plain-op
forward with no XLA cluster (see `keras_prelu._tf_kernels`).

Inside `with export_friendly():` `prelu` instead emits the plain pattern
`relu(x) + (-alpha) * relu(-x)`, which graph converters recognise (the TFLite
converter fuses it into its native PRELU op) and which needs no XLA. Inside
`with constant_slopes(...)`, given slope variables are traced as constants (the
exported SavedModel's serving graph).
"""

import contextlib
import threading

import keras
import numpy as np
from keras import ops

from keras_prelu.utils.validation import check_number


def _broadcast_reduce_axes(x_shape, alpha_shape):
    """Axes of `x` that must be summed to bring a full-size gradient to alpha's shape."""
    x_rank, alpha_rank = len(x_shape), len(alpha_shape)
    if alpha_rank > x_rank:
        raise ValueError(
            "`alpha` must broadcast to `x`; it has more dimensions than `x`. "
            f"Received: x.shape={tuple(x_shape)}, alpha.shape={tuple(alpha_shape)}"
        )
    offset = x_rank - alpha_rank
    axes = list(range(offset))
    for i, size in enumerate(alpha_shape):
        x_size = x_shape[offset + i]
        if size is not None and size != 1 and x_size is not None and size != x_size:
            raise ValueError(
                "`alpha` must broadcast to `x`: each of its sizes must be 1 or `x`'s. "
                f"Received: x.shape={tuple(x_shape)}, alpha.shape={tuple(alpha_shape)}"
            )
        if size == 1 and x_size != 1:
            axes.append(offset + i)
    return tuple(axes)


def _check_float(x, name="x"):
    dtype = keras.backend.standardize_dtype(x.dtype)
    if not keras.backend.is_float_dtype(dtype):
        raise ValueError(
            f"`{name}` must have a floating-point dtype. Received: {name}.dtype={dtype}"
        )


def _generic_prelu(x, alpha, reduce_axes):
    """Backend-agnostic PReLU built on `keras.ops.custom_gradient`."""

    @ops.custom_gradient
    def _prelu(x, alpha):
        negative = ops.less(x, 0)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            dx = ops.where(negative, upstream * alpha, upstream)
            dalpha = ops.where(negative, upstream * x, ops.zeros_like(x))
            if reduce_axes:
                dalpha = ops.sum(dalpha, axis=reduce_axes, keepdims=True)
            return dx, ops.reshape(dalpha, ops.shape(alpha))

        return ops.where(negative, x * alpha, x), grad

    return _prelu(x, alpha)


_export_state = threading.local()


@contextlib.contextmanager
def export_friendly():
    """Make `prelu` emit converter-friendly plain ops while tracing in this thread.

    Within the block, `prelu(x, alpha)` computes `relu(x) + (-alpha) * relu(-x)`
    (Keras 2's PReLU graph) with `alpha` reshaped to rank `rank(x) - 1`, the
    pattern the TFLite converter fuses into its builtin PRELU op (inputs of rank
    2 to 4; higher ranks get `where(x < 0, alpha * x, x)`). No XLA-compiled
    functions are traced, so the TFLite and ONNX converters see only ordinary
    ops. The values equal those of the fast kernel exactly. (SavedModels for
    serving are traced without it: the inference form outside this block is
    faster with plain TensorFlow and is XLA-free too.)

    The switch is per thread (a training loop in another thread keeps the fast
    kernel) and nests; it only affects functions traced inside the block.
    """
    depth = getattr(_export_state, "depth", 0)
    _export_state.depth = depth + 1
    try:
        yield
    finally:
        _export_state.depth = depth


def is_export_friendly():
    """True inside an `export_friendly()` block of the current thread."""
    return getattr(_export_state, "depth", 0) > 0


_constant_state = threading.local()


@contextlib.contextmanager
def constant_slopes(values):
    """Trace `prelu` with these slope variables replaced by constants of the given values.

    `values`: (slope variable, its value as an array) pairs. Within the block (per
    thread, nesting), `prelu(x, variable)` uses the constant, so the check of the
    slopes that the inference form otherwise runs at every call (see
    `keras_prelu._tf_kernels`) is decided when tracing. An exported serving
    graph traced this way ignores later changes to the variables.
    """
    previous = getattr(_constant_state, "values", {})
    _constant_state.values = {**previous, **{id(v): (v, value) for v, value in values}}
    try:
        yield
    finally:
        _constant_state.values = previous


def _constant_for(alpha):
    found = getattr(_constant_state, "values", {}).get(id(alpha))
    return None if found is None or found[0] is not alpha else found[1]


def _export_prelu(x, alpha):
    """PReLU as plain ops in the pattern converters fuse (see `export_friendly`)."""
    rank, alpha_shape = len(x.shape), tuple(alpha.shape)
    if len(alpha_shape) == rank and rank > 0 and alpha_shape[0] == 1:
        alpha_shape = alpha_shape[1:]  # a leading batch axis of size 1
    if 2 <= rank <= 4 and len(alpha_shape) <= rank - 1:
        # TFLite's PRELU wants alpha of rank(x) - 1, broadcasting from the right.
        alpha = ops.reshape(alpha, (1,) * (rank - 1 - len(alpha_shape)) + alpha_shape)
        return ops.relu(x) + ops.negative(alpha) * ops.relu(ops.negative(x))
    return ops.where(ops.less(x, 0), x * alpha, x)


def prelu(x, alpha):
    """Parametric ReLU: `x` where `x >= 0`, `alpha * x` elsewhere.

    Args:
        x: floating-point tensor.
        alpha: slopes broadcastable to `x` (a scalar, one per channel, ...).
            It is cast to `x`'s dtype, so a float32 slope works with a
            float16 or bfloat16 input.

    Returns:
        A tensor of `x`'s shape and dtype.
    """
    x = ops.convert_to_tensor(x)
    _check_float(x)
    constant = _constant_for(alpha)
    alpha = ops.cast(alpha if constant is None else constant, x.dtype)
    reduce_axes = _broadcast_reduce_axes(tuple(x.shape), tuple(alpha.shape))
    if is_export_friendly():
        return _export_prelu(x, alpha)
    if keras.backend.backend() == "tensorflow":
        from keras_prelu import _tf_kernels

        return _tf_kernels.prelu(x, alpha, reduce_axes)
    return _generic_prelu(x, alpha, reduce_axes)


def prepare_training_kernels():
    """Start loading (on a first run: compiling) PReLU's native CPU training kernels in the
    background, so that the first training step does not wait for them. TensorFlow only;
    returns the thread, or None where there is nothing to prepare."""
    if keras.backend.backend() != "tensorflow":
        return None
    from keras_prelu import _tf_kernels

    return _tf_kernels.prepare_native()


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU with a fixed slope (default 0.01, Maas et al. 2013), one fused op."""
    negative_slope = check_number("negative_slope", negative_slope, minimum=0.0)
    x = ops.convert_to_tensor(x)
    _check_float(x)
    return ops.leaky_relu(x, negative_slope=negative_slope)


def _concrete_slopes(alpha, dtype):
    """The slopes as a NumPy array in `dtype` (so 1e-46 is 0 in float32), None while tracing;
    a value that is not numeric raises a ValueError."""
    if isinstance(alpha, (str, bytes)):
        raise ValueError(f"`alpha` must be numeric. Received: alpha={alpha!r}")
    try:
        values = ops.convert_to_numpy(alpha)
    except Exception:  # a symbolic tensor inside a traced function
        return None
    try:
        return np.asarray(values, dtype=keras.backend.standardize_dtype(dtype))
    except (TypeError, ValueError):
        raise ValueError(f"`alpha` must be numeric. Received: alpha={alpha!r}") from None


def prelu_inverse(y, alpha):
    """Invert `prelu`: `y` where `y >= 0`, `y / alpha` elsewhere.

    Only defined for strictly positive slopes: with `alpha <= 0` PReLU is not
    injective (several inputs share one output), so a concrete non-positive
    slope raises a ValueError. Symbolic slopes cannot be checked while tracing.
    """
    y = ops.convert_to_tensor(y)
    _check_float(y, "y")
    alpha_values = _concrete_slopes(alpha, y.dtype)
    if alpha_values is not None and not np.all(alpha_values > 0):
        raise ValueError(
            "prelu_inverse needs every slope > 0 (in the dtype of `y`): with alpha <= 0, PReLU "
            "maps different inputs to the same output, so it is not invertible. "
            f"Received: alpha with minimum {np.min(np.asarray(ops.convert_to_numpy(alpha), 'float64'))}"
        )
    alpha = ops.cast(alpha, y.dtype)
    return ops.where(ops.less(y, 0), y / alpha, y)
