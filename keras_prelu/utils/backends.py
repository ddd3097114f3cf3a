"""Which Keras backend runs, and TensorFlow where it is optional.

The layers, the zoo, the diagnostics, training and the study run on every Keras
backend (TensorFlow, JAX, PyTorch) and import TensorFlow only where they use it
(the TensorFlow training loop and tf.data load only under the TensorFlow
backend). The parts that are TensorFlow programs (export, reading TensorBoard
event files) call `require_tensorflow` first, so that without TensorFlow they
fail with one line that says what is missing. `compiled` hands a function to
the backend's own compiler.
"""

import sys

import keras


def backend():
    """The name of the Keras backend: "tensorflow", "jax", "torch", ..."""
    return keras.backend.backend()


def is_tensorflow():
    """True when Keras runs on TensorFlow."""
    return backend() == "tensorflow"


def tensorflow_installed():
    """Whether TensorFlow can be imported (checked without importing it)."""
    import importlib.util

    if "tensorflow" in sys.modules:  # None there: imports of it are refused
        return sys.modules["tensorflow"] is not None
    return importlib.util.find_spec("tensorflow") is not None


def require_tensorflow(what):
    """The `tensorflow` module; an ImportError naming `what` and the missing package without it."""
    try:
        import tensorflow
    except ImportError:
        raise ImportError(f"{what} needs TensorFlow: pip install tensorflow") from None
    return tensorflow


def loaded_tensorflow():
    """The `tensorflow` module if this process has imported it, else None (never imports it).

    A `tf.data.Dataset` or a `tf.Tensor` can only exist once TensorFlow is imported, so
    checking for them needs no import.
    """
    module = sys.modules.get("tensorflow")
    return module if getattr(module, "data", None) is not None else None


def compiled(fn):
    """`fn` compiled by the backend's own compiler where that is cheap: `jax.jit` on JAX,
    `tf.function` (no XLA) on TensorFlow, `fn` itself (eager) on PyTorch and others.

    `fn` takes and returns tensors; a new input shape means a new compilation.
    """
    name = backend()
    if name == "jax":
        import jax

        return jax.jit(fn)
    if name == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=False)
    return fn
