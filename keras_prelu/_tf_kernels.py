"""TensorFlow kernels for PReLU: one fused XLA cluster forward, one backward.

Plain TensorFlow graph mode runs `where(x < 0, alpha * x, x)` as three kernels
and its autodiff adds five more; compiling the forward and the backward as two
small XLA clusters (even inside an otherwise un-compiled `tf.function`) reads
the input once per direction and computes `dx` and `dalpha` together.
"""

import functools

import tensorflow as tf


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


def prelu(x, alpha, reduce_axes):
    """PReLU with a hand-written gradient; `reduce_axes` sums dalpha to alpha's shape."""

    @tf.custom_gradient
    def _prelu(x, alpha):
        def grad(upstream):
            return _backward_fn(reduce_axes)(x, alpha, upstream)

        return _forward(x, alpha), grad

    return _prelu(x, alpha)
