"""Image-classification batches for every Keras backend, without TensorFlow: NumPy arrays on
the host, batches gathered, augmented and normalised on the backend's device with `keras.ops`.

    data = array_data.load("cifar10", data_dir="../shared/data")  # or "digits"
    for images, labels in data.train_dataset(128, epoch=3, seed=0, augment="pad_crop_flip"):
        ...  # float32 and int32 tensors of the running backend
    for images, labels in data.eval_dataset(256):
        ...

`ArrayData` has the interface of `data.Data` (the `tf.data` front end) and the
same epoch order: the permutation `np.random.default_rng([seed, epoch])` cut to
full batches. A split is uploaded to the device once (as stored: uint8, or
float32 for digits); each training step then sends one int32 [4, B] array, the
batch's indices, crop offsets and flips. The augmentation (zero padding of
`round(pad_fraction * side)` pixels, a random crop, an optional horizontal
flip) is one gather with per-example offsets, compiled once per batch shape by
the backend's compiler (`utils.backends.compiled`). Its random draws come from
NumPy seeded by `(seed, epoch, batch index)`, so an epoch replays exactly after a
resume; they are not `data.Data`'s TensorFlow draws (without augmentation the
two give the same batches). TensorFlow is imported only to load a TFDS dataset.
"""

import keras
import numpy as np

from keras_prelu.training import sources
from keras_prelu.training.sources import CIFAR10, DIGITS, DataError, check_augment
from keras_prelu.utils.backends import compiled

ops = keras.ops


class Batches:
    """A re-iterable run of `(images, labels)` batches: `len()`, and `take(n)` for the first n."""

    def __init__(self, count, make_batch):
        self._count = count
        self._make_batch = make_batch

    def __len__(self):
        return self._count

    def __iter__(self):
        for index in range(self._count):
            yield self._make_batch(index)

    def take(self, count):
        """The first `count` batches (all of them for a negative count, like `tf.data`)."""
        count = int(count)
        return Batches(self._count if count < 0 else min(count, self._count), self._make_batch)


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise DataError(f"The batch size must be an int >= 1. Received: batch_size={batch_size!r}")


def _normalize(images, stats):
    """`(images / scale - mean) / std`, float32; `stats` = (scale, mean, std) as tensors.

    Passed as arguments, not closed over: TensorFlow's graph optimiser turns a division by a
    constant into a multiplication by its reciprocal, one ulp away from `data.Data`'s values.
    """
    scale, mean, std = stats
    return (ops.cast(images, "float32") / scale - mean) / std


def _crop_and_flip(images, plan, pad_h, pad_w):
    """Crop each image of the zero-padded batch at its offsets `plan[1]` (rows) and `plan[2]`
    (columns), mirrored where `plan[3]` is 1: one gather of pixels from the flattened batch.
    (On CPU several times faster than `take_along_axis` under TensorFlow and PyTorch.)"""
    batch, height, width, channels = images.shape
    images = ops.pad(images, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]])
    padded_height, padded_width = height + 2 * pad_h, width + 2 * pad_w
    rows = plan[1][:, None] + ops.arange(height, dtype="int32")[None, :]
    forward = ops.arange(width, dtype="int32")[None, :]
    cols = plan[2][:, None] + ops.where(plan[3][:, None] > 0, (width - 1) - forward, forward)
    first = ops.arange(batch, dtype="int32")[:, None, None] * (padded_height * padded_width)
    pixels = first + rows[:, :, None] * padded_width + cols[:, None, :]
    flat = ops.reshape(images, (batch * padded_height * padded_width, channels))
    return ops.reshape(ops.take(flat, ops.reshape(pixels, (-1,)), axis=0),
                       (batch, height, width, channels))


class ArrayData(sources.Splits):
    """One dataset in memory: train / test (and optional validation) `(images, labels)` NumPy
    splits plus `info`; the interface of `data.Data` with batches of backend tensors."""

    in_memory = True

    def __init__(self, info, train, test, val=None, scale=255.0):
        super().__init__(info, train, test, val, scale)
        self._stats = None  # (scale, mean, std) as tensors, made on first use
        self._device = {}  # split -> (images, labels) on the device; shared with renormalised copies
        self._compiled = {}

    @classmethod
    def from_arrays(cls, arrays):
        """The `ArrayData` of a `sources.Arrays`."""
        return cls(arrays.info, arrays.train, arrays.test, arrays.val, scale=arrays.scale)

    def with_normalization(self, mean, std):
        """The same data standardised with another mean and std (e.g. those a model was trained with)."""
        info, splits = self._renormalized(mean, std)
        other = ArrayData(info, *splits, scale=self.scale)
        other._device, other._compiled = self._device, self._compiled
        return other

    def normalize(self, images):
        """`(images / scale - mean) / std` as a float32 tensor."""
        return _normalize(images, self._normalization())

    def _normalization(self):
        if self._stats is None:
            self._stats = tuple(ops.convert_to_tensor(np.asarray(v, np.float32))
                                for v in (self.scale, self.info.mean, self.info.std))
        return self._stats

    def _on_device(self, split):
        if split not in self._device:
            images, labels = self.split(split)
            self._device[split] = (ops.convert_to_tensor(images),
                                   ops.convert_to_tensor(np.asarray(labels, np.int32)))
        return self._device[split]

    def _function(self, key, make):
        if key not in self._compiled:
            self._compiled[key] = compiled(make())
        return self._compiled[key]

    def _train_function(self, augment, pad_h, pad_w):
        def make():
            def batch(images, labels, plan, stats):
                x = ops.take(images, plan[0], axis=0)
                if augment is not None:
                    x = _crop_and_flip(x, plan, pad_h, pad_w)
                return _normalize(x, stats), ops.take(labels, plan[0], axis=0)

            return batch

        return self._function(("train", augment, pad_h, pad_w), make)

    def train_dataset(self, batch_size, epoch=0, seed=0, augment=None, pad_fraction=0.125):
        """Shuffled (by `(seed, epoch)`), augmented, normalised full batches of one epoch."""
        check_augment(augment)
        _check_batch_size(batch_size)
        if batch_size > self.info.train_examples:
            raise DataError(
                f"The batch size is larger than the {self.info.train_examples} training images. "
                f"Received: batch_size={batch_size}"
            )
        steps = self.info.train_examples // batch_size
        order = np.random.default_rng([int(seed), int(epoch)]).permutation(self.info.train_examples)
        order = order[: steps * batch_size].reshape(steps, batch_size).astype(np.int32)
        height, width = self.info.image_shape[:2]
        pad_h, pad_w = int(round(pad_fraction * height)), int(round(pad_fraction * width))
        function = self._train_function(augment, pad_h, pad_w)

        def make_batch(index):
            plan = np.zeros((4, batch_size), np.int32)
            plan[0] = order[index]
            if augment is not None:
                rng = np.random.default_rng([int(seed), int(epoch), index])
                plan[1] = rng.integers(0, 2 * pad_h + 1, batch_size)
                plan[2] = rng.integers(0, 2 * pad_w + 1, batch_size)
                plan[3] = rng.random(batch_size) < 0.5 if augment == "pad_crop_flip" else 0
            images, labels = self._on_device("train")
            return function(images, labels, ops.convert_to_tensor(plan), self._normalization())

        return Batches(steps, make_batch)

    def eval_dataset(self, batch_size, split="test"):
        """Normalised batches of a whole split in a fixed order (the last batch may be partial)."""
        count = len(self.split(split)[1])
        _check_batch_size(batch_size)
        function = self._function(("eval",), lambda: _normalize)

        def make_batch(index):
            images, labels = self._on_device(split)
            start, stop = index * batch_size, min(count, (index + 1) * batch_size)
            return function(images[start:stop], self._normalization()), labels[start:stop]

        return Batches(-(-count // batch_size), make_batch)


def _tensorflow_data(name, data_dir, download, val_split, seed):
    """A TFDS dataset through `data.load` (in memory), or a DataError without TensorFlow."""
    try:
        from keras_prelu.training import data as data_lib
    except ImportError:
        raise DataError(
            f"dataset {name!r} needs TensorFlow (TFDS), which is not installed; without it "
            f"accepted are {DIGITS!r} and {CIFAR10!r} with --data-dir holding "
            f"{sources.ARCHIVE_NAME}. Received: dataset={name!r}"
        ) from None
    data = data_lib.load(name, data_dir=data_dir, download=download, val_split=val_split, seed=seed,
                         in_memory=True)
    val = data.split("val") if data.has_val else None
    return ArrayData(data.info, data.split("train"), data.split("test"), val, scale=data.scale)


def load(name=DIGITS, data_dir=None, download=True, val_split=0.0, seed=0):
    """Load a dataset by name as `ArrayData`: `"digits"`, `"cifar10"` from the JPEG archive
    `data_dir` holds (or is), else a TFDS dataset read into memory (needs TensorFlow).

    Raises:
        DataError: unknown or unsuitable dataset, data that is not there, or a TFDS dataset
            without TensorFlow.
    """
    if not isinstance(name, str) or not name:
        raise DataError(f"a dataset name is needed. Received: dataset={name!r}")
    if name == DIGITS:
        return ArrayData.from_arrays(sources.digits_arrays(val_split, seed))
    archive = sources.archive_path(data_dir) if name == CIFAR10 else None
    if archive is not None:
        return ArrayData.from_arrays(sources.jpeg_archive_arrays(archive, val_split, seed))
    return _tensorflow_data(name, data_dir, download, val_split, seed)
