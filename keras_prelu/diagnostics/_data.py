"""Turn what a user passes (a tf.data.Dataset, arrays, an (x, y) batch) into batches."""

import keras
import numpy as np
import tensorflow as tf


def as_dataset(data, batch_size=128):
    """A `tf.data.Dataset` of batches.

    Accepts a batched `tf.data.Dataset` (returned unchanged), or in-memory data
    in Keras's `fit` layout: `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`
    where `x` is an array, a tensor, or a list/dict of them; in-memory data is
    cut into batches of `batch_size`.
    """
    if isinstance(data, tf.data.Dataset):
        return data
    if data is None or callable(data) or hasattr(data, "__next__"):
        raise ValueError(
            "Expected a tf.data.Dataset or in-memory data (x, (x, y) or "
            f"(x, y, sample_weight)). Received: data={type(data).__name__}"
        )
    if isinstance(data, list):
        data = tuple(data)
    structure = keras.tree.map_structure(_to_tensor, data)
    sizes = {int(t.shape[0]) for t in keras.tree.flatten(structure) if t.shape.rank}
    if len(sizes) != 1:
        raise ValueError(
            f"All arrays must share their first (batch) dimension. Received: sizes={sorted(sizes)}"
        )
    return tf.data.Dataset.from_tensor_slices(structure).batch(batch_size)


def _to_tensor(value):
    if value is None:
        return None
    if isinstance(value, tf.Tensor):
        return value
    array = np.asarray(keras.ops.convert_to_numpy(value))
    if array.dtype == np.float64:
        array = array.astype(keras.config.floatx())
    return tf.convert_to_tensor(array)


def unpack(batch):
    """(x, y, sample_weight) from one dataset element."""
    return keras.utils.unpack_x_y_sample_weight(batch)


def first_batch(data, batch_size=128):
    """The first batch of `data` as (x, y, sample_weight)."""
    for batch in as_dataset(data, batch_size).take(1):
        return unpack(batch)
    raise ValueError("The data is empty. Received: data with no batches")
