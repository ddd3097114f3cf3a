"""Turn what a user passes (a tf.data.Dataset, arrays, an (x, y) batch) into batches.

On TensorFlow the diagnostics' compiled passes take a `tf.data.Dataset`
(`as_dataset`); on the other backends they iterate NumPy batches (`batches`).
In-memory data works everywhere; a `tf.data.Dataset` wherever TensorFlow is
installed (on JAX and PyTorch its batches are converted to NumPy).
"""

import keras
import numpy as np

from keras_prelu.utils.backends import is_tensorflow, loaded_tensorflow


def is_dataset(data):
    """True for a `tf.data.Dataset` (never imports TensorFlow: such data means it is loaded)."""
    tf = loaded_tensorflow()
    return tf is not None and isinstance(data, tf.data.Dataset)


def check(data):
    """A ValueError unless `data` is a `tf.data.Dataset` or in-memory data (not None, a
    function or an iterator)."""
    if not is_dataset(data) and (data is None or callable(data) or hasattr(data, "__next__")):
        raise ValueError(
            "Expected a tf.data.Dataset or in-memory data (x, (x, y) or "
            f"(x, y, sample_weight)). Received: data={type(data).__name__}"
        )


def _in_memory(data, convert):
    """In-memory data as a structure of `convert`ed arrays sharing their first dimension,
    and that dimension."""
    check(data)
    if isinstance(data, list):
        data = tuple(data)
    structure = keras.tree.map_structure(convert, data)
    sizes = {int(a.shape[0]) for a in keras.tree.flatten(structure) if len(a.shape)}
    if len(sizes) != 1:
        raise ValueError(
            f"All arrays must share their first (batch) dimension. Received: sizes={sorted(sizes)}"
        )
    return structure, sizes.pop()


def as_dataset(data, batch_size=128):
    """A `tf.data.Dataset` of batches (TensorFlow only).

    Accepts a batched `tf.data.Dataset` (returned unchanged), or in-memory data
    in Keras's `fit` layout: `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`
    where `x` is an array, a tensor, or a list/dict of them; in-memory data is
    cut into batches of `batch_size`.
    """
    if is_dataset(data):
        return data
    import tensorflow as tf

    def to_tensor(value):
        if value is None or isinstance(value, tf.Tensor):
            return value
        return tf.convert_to_tensor(_to_numpy(value))

    structure, _ = _in_memory(data, to_tensor)
    return tf.data.Dataset.from_tensor_slices(structure).batch(batch_size)


def batches(data, batch_size=128):
    """(x, y, sample_weight) NumPy batches of `data` (what `as_dataset` accepts), one by one."""
    if is_dataset(data):
        for batch in data:
            yield unpack(keras.tree.map_structure(_to_numpy, batch))
        return
    structure, size = _in_memory(data, _to_numpy)
    for start in range(0, size, batch_size):
        yield unpack(keras.tree.map_structure(lambda a: a[start : start + batch_size], structure))


def _to_numpy(value):
    if value is None:
        return None
    array = np.asarray(keras.ops.convert_to_numpy(value))
    if array.dtype == np.float64:
        array = array.astype(keras.config.floatx())
    return array


def unpack(batch):
    """(x, y, sample_weight) from one dataset element."""
    return keras.utils.unpack_x_y_sample_weight(batch)


def first_batch(data, batch_size=128):
    """The first batch of `data` as (x, y, sample_weight): tensors of a `tf.data.Dataset` on
    TensorFlow, else NumPy arrays."""
    if is_dataset(data) and is_tensorflow():
        for batch in data.take(1):
            return unpack(batch)
    else:
        for batch in batches(data, batch_size):
            return batch
    raise ValueError("The data is empty. Received: data with no batches")
