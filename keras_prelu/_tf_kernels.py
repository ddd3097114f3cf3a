"""TensorFlow kernels for PReLU.

Three implementations of the same function:

- Inference (no gradient tape may record, outside XLA): plain TensorFlow ops,
  no XLA cluster (one per PReLU costs a launch that dwarfs the math at batch
  1). With every slope in (0, 1), `maximum(x, alpha * x)` (two element-wise
  kernels); otherwise, and on GPU, `x * where(x < 0, alpha, 1)`. On CPU the
  choice is a `tf.cond` on the slopes at run time. Both forms are exact (equal
  to `where(x < 0, alpha * x, x)`) and differentiable. SavedModels traced for
  serving get this form; converter graphs get `ops.export_friendly`'s.
- XLA: the forward and the backward each compile to one small XLA cluster (even
  inside an otherwise un-compiled `tf.function`). Used inside `jit_compile=True`
  functions, and while a tape records for float16/bfloat16 and on GPU.
- Native (`keras_prelu.native`): hand-written multi-threaded CPU kernels whose
  backward writes `dx` and sums `dalpha` in one pass (XLA:CPU needs a second
  pass over `x` and `upstream` for the reduction). With every slope in
  [1e-6, 1e6] the backward reads the forward's output instead of `x` (as ReLU's
  gradient does), so the forward may overwrite `x` and training keeps no extra
  tensor; see `prelu_kernels.cc`. Used for float32 on CPU when a gradient tape
  is recording outside XLA, i.e. for training steps in graph or eager mode, so
  inference, SavedModel and converter graphs never contain it.
"""

import functools

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops
from tensorflow.python.saved_model import save_context

from keras_prelu import native

try:  # TensorFlow's private tape API: without it neither the native kernels nor the
    # inference form are chosen (the XLA kernels run everywhere).
    from tensorflow.python.eager.record import could_possibly_record as _tape_may_record
except ImportError:  # pragma: no cover - other TensorFlow versions
    def _tape_may_record():
        return None  # unknown


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _forward(x, alpha):
    return tf.where(x < 0, x * alpha, x)


@functools.lru_cache(maxsize=None)
def _backward_fn(reduce_axes):
    """A compiled backward pass for one broadcasting pattern of alpha."""

    @tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
    def backward(x, alpha, upstream):
        negative = x < 0
        dx = tf.where(negative, upstream * alpha, upstream)
        dalpha = tf.where(negative, upstream * x, tf.zeros_like(x))
        if reduce_axes:
            dalpha = tf.reduce_sum(dalpha, axis=list(reduce_axes), keepdims=True)
        return dx, tf.reshape(dalpha, tf.shape(alpha))

    return backward


def _xla_prelu(x, alpha, reduce_axes):
    @tf.custom_gradient
    def _prelu(x, alpha):
        def grad(upstream):
            return _backward_fn(reduce_axes)(x, alpha, upstream)

        return _forward(x, alpha), grad

    return _prelu(x, alpha)


def native_layout(x_rank, alpha_shape):
    """(first, last) slope axes of `x` when alpha's non-broadcast axes are contiguous.

    The native kernels view `x` as (outer, channels, inner) with one slope per
    channel; `channels` spans x's axes first..last (an empty span, first > last,
    is one shared slope). None when alpha's axes are not one contiguous block.
    """
    alpha_shape = (1,) * (x_rank - len(alpha_shape)) + tuple(alpha_shape)
    kept = [i for i, size in enumerate(alpha_shape) if size != 1]
    if not kept:
        return (x_rank, x_rank - 1)
    if kept != list(range(kept[0], kept[-1] + 1)):
        return None
    return (kept[0], kept[-1])


def _in_xla_context():
    graph = tf_ops.get_default_graph()
    while graph is not None:
        context = graph._get_control_flow_context()  # noqa: SLF001 - as tf's pfor does
        while context is not None:
            if context.IsXLAContext():
                return True
            context = context.outer_context
        graph = getattr(graph, "outer_graph", None)
    return False


@functools.lru_cache(maxsize=None)
def _gpu_visible():
    return bool(tf.config.list_logical_devices("GPU"))


def prepare_native():
    """Load the native kernels in the background where training would use them (CPU only)."""
    if not native.enabled() or _gpu_visible():
        return None
    return native.load_in_background()


def _native_module(x, alpha):
    """The native op module when it should run this call, else None."""
    if x.dtype != tf.float32 or alpha.dtype != tf.float32:
        return None
    if not _tape_may_record():  # inference: keep graphs converter-friendly
        return None
    if _in_xla_context() or save_context.in_save_context() or _gpu_visible():
        return None
    if x.shape.rank is None or native_layout(x.shape.rank, alpha.shape) is None:
        return None
    return native.load()


def _native_dims(x, alpha_shape):
    first, last = native_layout(x.shape.rank, alpha_shape)
    shape = tf.shape(x, out_type=tf.int64)
    outer = tf.reduce_prod(shape[:first])
    inner = tf.reduce_prod(shape[last + 1:])
    channels = tf.reduce_prod(shape[first:last + 1])
    return tf.stack([outer, channels, inner])


def _native_prelu(module, x, alpha):
    """PReLU as the native forward op; its registered gradient (below) runs the backward op.

    No `tf.custom_gradient` here: its gradient closure would keep `x` alive, while the
    registered gradient reads the op's outputs, so that the op may write y over x (see
    `prelu_kernels.cc`).
    """
    y, _ = module.keras_prelu_forward(x, tf.reshape(alpha, [-1]), _native_dims(x, alpha.shape))
    return y


def _native_gradient_of_forward(op, grad_y, grad_saved):
    """Gradient of `KerasPreluForward`: the backward op on y and on `saved` (x, or empty when
    y stands in for it). Reads none of the op's inputs but the slopes and dims."""
    y, saved = op.outputs
    alpha, dims = op.inputs[1], op.inputs[2]
    if grad_y is None:
        grad_y = tf.zeros_like(y)
    dx, dalpha = native.load().keras_prelu_backward(y, saved, alpha, grad_y, dims)
    if grad_saved is not None:  # second order: `saved` is x itself when it is not empty
        dx = tf.cond(tf.size(saved) > 0, lambda: dx + tf.reshape(grad_saved, tf.shape(dx)),
                     lambda: dx)
    return dx, dalpha, None


def _native_gradient_of_backward(op, grad_dx, grad_dalpha):
    """Gradient of `KerasPreluBackward`, for second-order derivatives (gradient penalties).

    With x viewed as (outer, channels, inner), u = upstream, and incoming
    gradients Gdx (like x) and Gda (per channel), over the entries where x < 0:
    d/du = alpha * Gdx + x * Gda (Gdx elsewhere), d/dx = u * Gda (0 elsewhere:
    the gradient is piecewise constant in x), d/dalpha = sum of u * Gdx. When y
    stands in for x (x = y / alpha where y < 0), the op's outputs are functions of
    y instead: d/dy = u * Gda / alpha, and d/dalpha gains -sum of u * y * Gda / alpha^2
    (through y, the forward op's gradient adds back what makes the total the same).
    """
    y, saved, alpha, upstream, dims = op.inputs
    y3 = tf.reshape(y, dims)
    u3 = tf.reshape(upstream, dims)
    a3 = tf.reshape(alpha, [1, -1, 1])
    gdx3 = tf.zeros_like(y3) if grad_dx is None else tf.reshape(grad_dx, dims)
    gda3 = tf.zeros_like(a3) if grad_dalpha is None else tf.reshape(grad_dalpha, [1, -1, 1])
    zeros = tf.zeros_like(y3)

    def from_x():
        x3 = tf.reshape(saved, dims)
        negative = x3 < 0
        d_upstream = tf.where(negative, a3 * gdx3 + x3 * gda3, gdx3)
        d_x = tf.where(negative, u3 * gda3, zeros)
        d_alpha = tf.reduce_sum(tf.where(negative, u3 * gdx3, zeros), axis=[0, 2])
        return d_upstream, zeros, tf.reshape(d_x, tf.shape(saved)), d_alpha

    def from_y():
        negative = y3 < 0
        d_upstream = tf.where(negative, a3 * gdx3 + (y3 / a3) * gda3, gdx3)
        d_y = tf.where(negative, u3 * gda3 / a3, zeros)
        d_alpha = tf.reduce_sum(
            tf.where(negative, u3 * gdx3 - u3 * y3 * gda3 / (a3 * a3), zeros), axis=[0, 2])
        return d_upstream, d_y, tf.zeros_like(saved), d_alpha

    d_upstream, d_y, d_saved, d_alpha = tf.cond(tf.size(saved) > 0, from_x, from_y)
    return (tf.reshape(d_y, tf.shape(y)), d_saved, tf.reshape(d_alpha, tf.shape(alpha)),
            tf.reshape(d_upstream, tf.shape(upstream)), None)


tf.RegisterGradient("KerasPreluForward")(_native_gradient_of_forward)
tf.RegisterGradient("KerasPreluBackward")(_native_gradient_of_backward)


def _select_prelu(x, alpha):
    """`x * where(x < 0, alpha, 1)`: exact for any slopes, three element-wise kernels."""
    return x * tf.where(x < 0, alpha, tf.ones((), x.dtype))


def _inference_prelu(x, alpha):
    """PReLU as plain ops for graphs no tape records (see the module docstring).

    For slopes strictly between 0 and 1, `alpha * x >= x` where x < 0 and `<= x`
    elsewhere (rounding is monotone; infinities and NaN included), so
    `maximum(x, alpha * x)` is PReLU bit for bit. `alpha * alpha < alpha` holds
    exactly for those slopes (never for 0, 1, a negative slope or NaN). The check
    costs a few scalar ops per call; on GPU it would copy the predicate to the
    host at every layer, so the GPU takes the select form. Constant slopes (an
    exported serving graph, see `keras_prelu.ops.constant_slopes`) are checked
    when tracing: no run-time check, on any device.
    """
    value = tf.get_static_value(alpha)
    if value is not None:
        in_unit_interval = bool(np.all(value * value < value))  # in alpha's dtype, as below
        if in_unit_interval and value.size == 1:
            # One shared slope: TensorFlow's LeakyRelu kernel (`x > 0 ? x : x * alpha`, exact
            # too), which its graph optimizer fuses into a preceding convolution like ReLU.
            return tf.nn.leaky_relu(x, alpha=value.item())
        return tf.maximum(x, alpha * x) if in_unit_interval else _select_prelu(x, alpha)
    if _gpu_visible():
        return _select_prelu(x, alpha)
    in_unit_interval = tf.reduce_all(alpha * alpha < alpha)
    return tf.cond(
        in_unit_interval, lambda: tf.maximum(x, alpha * x), lambda: _select_prelu(x, alpha)
    )


def prelu(x, alpha, reduce_axes):
    """PReLU; while a tape may record, with a hand-written gradient (`reduce_axes` sums
    dalpha to alpha's shape)."""
    if _tape_may_record() is False and not _in_xla_context():
        return _inference_prelu(x, alpha)
    module = _native_module(x, alpha)
    if module is not None:
        return _native_prelu(module, x, alpha)
    return _xla_prelu(x, alpha, reduce_axes)


def _as_nhwc(x):
    """(x as NHWC, a function giving an NHWC result x's shape back): a dense N x C input is
    seen as N x 1 x 1 x C; NHWC is left alone (a reshape would stand between the fused op
    and the graph optimizer's fusions)."""
    if x.shape.rank != 2:
        return x, lambda y: y
    shape = tf.shape(x)
    return tf.reshape(x, [shape[0], 1, 1, shape[1]]), lambda y: tf.reshape(y, shape)


def fused_batch_norm_inference(x, gamma, beta, mean, variance, epsilon):
    """Inference-mode batch normalisation over the last axis as one `FusedBatchNormV3` op
    (which TensorFlow's graph optimizer folds into a preceding convolution).

    `x`: float32 of rank 4 (NHWC) or 2 (seen as N x 1 x 1 x C).
    """
    x, restore = _as_nhwc(x)
    return restore(tf.compat.v1.nn.fused_batch_norm(
        x, gamma, beta, mean=mean, variance=variance, epsilon=epsilon, data_format="NHWC",
        is_training=False)[0])


def fused_batch_norm(x, gamma, beta, epsilon):
    """Training-mode batch normalisation over all but the last axis as TensorFlow's one
    `FusedBatchNormV3` op (one gradient op backward): (output, batch mean, biased batch variance).

    `x`: float32 of rank 4 (NHWC) or 2 (seen as N x 1 x 1 x C).
    """
    x, restore = _as_nhwc(x)
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
        x, gamma, beta, epsilon=epsilon, data_format="NHWC", is_training=True)[:3]
    count = tf.cast(tf.size(x) // tf.shape(x)[-1], x.dtype)
    # The op returns the unbiased (Bessel-corrected) variance; Keras keeps the biased one.
    variance = variance * ((count - 1.0) / tf.maximum(count, 1.0))
    return restore(y), mean, variance
