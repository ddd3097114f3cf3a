"""Image-classification data as `tf.data` pipelines: any TFDS dataset by name, the bundled
scikit-learn `digits`, or CIFAR-10 from its JPEG archive.

    data = keras_prelu.data.load("digits")                 # offline, 1,437 train / 360 test
    data = keras_prelu.data.load("mnist", data_dir="...", download=False)
    data = keras_prelu.data.load("cifar10", data_dir="../shared/data")  # holds cifar10_jpeg.npz
    train = data.train_dataset(batch_size=128, epoch=0, seed=0, augment="pad_crop_flip")
    test = data.eval_dataset(batch_size=256)

Datasets small enough (< `IN_MEMORY_LIMIT_BYTES` of raw pixels) are read once
into memory as uint8 arrays and served by index: each epoch's order is a
permutation drawn from `(seed, epoch)`, and the batch-level augmentation
(pad + random crop, horizontal flip) draws stateless randomness from
`(seed, epoch, batch index)`, so any epoch can be replayed exactly after a
resume. Larger datasets stream from TFDS's files (decode, cache to memory
only if asked, seeded shuffle buffer). Images are scaled to [0, 1] and
standardised per channel with the training split's mean and std, recorded
in `info` so evaluation applies the same normalisation.

The arrays of `digits` and of the JPEG archive, and the names shared with the
TensorFlow-free front end (`array_data`), come from `sources`.
"""

import os
import socket

import numpy as np
import tensorflow as tf

from keras_prelu.training import sources
from keras_prelu.training.sources import (  # noqa: F401 - `data.X` names kept for callers
    AUGMENTATIONS,
    CIFAR10,
    DIGITS,
    IN_MEMORY_LIMIT_BYTES,
    SPLITS,
    DataError,
    DatasetInfo,
    check_augment,
)
from keras_prelu.training.sources import mean_std as _mean_std
from keras_prelu.training.sources import split_val as _split_val
from keras_prelu.utils.validation import close_matches

_PARALLEL_CALLS = max(1, min(4, os.cpu_count() or 1))


def _stateless_seed(*parts):
    """A shape-[2] int32 seed for stateless random ops from integers (tensors or Python)."""
    parts = [tf.cast(p, tf.int64) for p in parts]
    mixed = tf.constant(0x9E3779B9, tf.int64)
    for p in parts:
        mixed = (mixed * 1000003 + p) % 2147483647
    return tf.stack([tf.cast(mixed, tf.int32), tf.cast(parts[0] % 2147483647, tf.int32)])


def augment_batch(images, seed, augment, pad_fraction=0.125):
    """Pad + random crop (+ horizontal flip) a float batch [B, H, W, C], one draw per image.

    `seed` is a shape-[2] int32 tensor for stateless random ops. Padding is
    `round(pad_fraction * side)` zero pixels on each side (4 on 32x32).
    """
    check_augment(augment)
    if augment is None:
        return images
    shape = tf.shape(images)
    batch, height, width = shape[0], images.shape[1], images.shape[2]
    pad_h = int(round(pad_fraction * height))
    pad_w = int(round(pad_fraction * width))
    seeds = tf.random.experimental.stateless_split(seed, 3)
    if pad_h or pad_w:
        padded = tf.pad(images, [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]])
        off_y = tf.random.stateless_uniform([batch], seeds[0], 0, 2 * pad_h + 1, tf.int32)
        off_x = tf.random.stateless_uniform([batch], seeds[1], 0, 2 * pad_w + 1, tf.int32)
        rows = off_y[:, None] + tf.range(height)[None, :]
        cols = off_x[:, None] + tf.range(width)[None, :]
        images = tf.gather(padded, rows, axis=1, batch_dims=1)
        images = tf.gather(images, cols, axis=2, batch_dims=1)
    if augment == "pad_crop_flip":
        flip = tf.random.stateless_uniform([batch], seeds[2]) < 0.5
        images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
    return images


class Data(sources.Splits):
    """One dataset: train / test (and optional validation) splits plus `info`.

    Splits are uint8 or float [N, H, W, C] arrays in memory (`in_memory`), or
    TFDS `tf.data` datasets of raw (image, label) pairs.
    """

    def __init__(self, info, train, test, val=None, scale=255.0, in_memory=True):
        super().__init__(info, train, test, val, scale)
        self.in_memory = in_memory
        self._mean = tf.constant(np.asarray(info.mean, np.float32))
        self._std = tf.constant(np.asarray(info.std, np.float32))
        self._train_tensors = None

    def with_normalization(self, mean, std):
        """The same data standardised with another mean and std (e.g. those a model was trained with)."""
        info, splits = self._renormalized(mean, std)
        return Data(info, *splits, scale=self.scale, in_memory=self.in_memory)

    def normalize(self, images):
        images = tf.cast(images, tf.float32) / self.scale
        return (images - self._mean) / self._std

    def _scaled(self, images):
        return tf.cast(images, tf.float32) / self.scale

    def train_dataset(self, batch_size, epoch=0, seed=0, augment=None, pad_fraction=0.125,
                      shuffle_buffer=10_000):
        """Shuffled (by `(seed, epoch)`), augmented, normalised full batches of one epoch."""
        check_augment(augment)
        if batch_size > self.info.train_examples:
            raise DataError(
                f"The batch size is larger than the {self.info.train_examples} training images. "
                f"Received: batch_size={batch_size}"
            )

        def finish(index, batch):
            images, labels = batch
            images = self._scaled(images)
            images = augment_batch(images, _stateless_seed(seed, epoch, index), augment, pad_fraction)
            images = (images - self._mean) / self._std
            return images, tf.cast(labels, tf.int32)

        if self.in_memory:
            images, labels = self._splits["train"]
            order = np.random.default_rng([int(seed), int(epoch)]).permutation(len(labels))
            steps = len(labels) // batch_size
            order = order[: steps * batch_size].reshape(steps, batch_size)
            if self._train_tensors is None:
                self._train_tensors = (tf.constant(images), tf.constant(labels))
            images_t, labels_t = self._train_tensors
            ds = tf.data.Dataset.from_tensor_slices(order).map(
                lambda idx: (tf.gather(images_t, idx), tf.gather(labels_t, idx))
            )
        else:
            ds = self._splits["train"].shuffle(
                shuffle_buffer, seed=int(seed) * 100_003 + int(epoch), reshuffle_each_iteration=False
            )
            ds = ds.batch(batch_size, drop_remainder=True)
        ds = ds.enumerate().map(finish, num_parallel_calls=_PARALLEL_CALLS)
        return self._finish(ds)

    def eval_dataset(self, batch_size, split="test"):
        """Normalised batches of a whole split in a fixed order (the last batch may be partial)."""
        data = self.split(split)
        if self.in_memory:
            ds = tf.data.Dataset.from_tensor_slices(data)
        else:
            ds = data
        ds = ds.batch(batch_size).map(
            lambda x, y: (self.normalize(x), tf.cast(y, tf.int32)),
            num_parallel_calls=_PARALLEL_CALLS,
        )
        return self._finish(ds)

    @staticmethod
    def _finish(ds):
        options = tf.data.Options()
        # tf.data's autotuner wakes up at doubling intervals (10 ms ... 2.56 s) and
        # deleting an iterator waits for its next wake-up: up to 2.56 s lost at the
        # end of every epoch (measured: 6-step windows of ResNet-20 stretched from
        # ~3.5 s to 5.11 s). Fixed parallelism and prefetch instead.
        options.autotune.enabled = False
        # Shard by data under MultiWorkerMirroredStrategy (in-memory data has no files).
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        options.deterministic = True
        return ds.with_options(options).prefetch(2)


def _from_arrays(arrays):
    """The in-memory `Data` of a `sources.Arrays`."""
    return Data(arrays.info, arrays.train, arrays.test, arrays.val, scale=arrays.scale)


def _tfds_builder(name, data_dir):
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception:  # DatasetNotFoundError, or a name TFDS cannot even parse ("../x")
        close = close_matches(name, tfds.list_builders() + [DIGITS])
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise DataError(
            f"unknown dataset {name!r}: accepted are {DIGITS!r} (bundled) or a TFDS "
            f"image-classification dataset such as mnist, fashion_mnist, cifar10, cifar100{hint}"
        ) from None


def _check_image_classification(builder):
    from tensorflow_datasets import features as tfds_features

    features = builder.info.features
    keys = builder.info.supervised_keys
    image = features["image"] if "image" in features else None
    label = features["label"] if "label" in features else None
    if (
        keys != ("image", "label")
        or not isinstance(image, tfds_features.Image)
        or not isinstance(label, tfds_features.ClassLabel)
    ):
        raise DataError(
            f"dataset {builder.name!r} is not image classification (it needs 'image' and "
            "'label' class features); accepted are e.g. mnist, fashion_mnist, cifar10, cifar100"
        )
    return image, label


#: Where TFDS downloads most datasets from; checked before a download that could retry for minutes.
DOWNLOAD_HOST = ("storage.googleapis.com", 443)
DOWNLOAD_CHECK_SECONDS = 3.0


def _download_unreachable():
    """Why downloads cannot work (a sentence), or "" when the download host answers."""
    host, port = DOWNLOAD_HOST
    try:
        socket.create_connection((host, port), timeout=DOWNLOAD_CHECK_SECONDS).close()
    except OSError as error:
        return (f"no connection to {host} within {DOWNLOAD_CHECK_SECONDS:g} s "
                f"({error.strerror or type(error).__name__})")
    return ""


def _prepare(builder, name, data_dir, download):
    if builder.is_prepared():
        return
    where = data_dir or "the default TFDS folder (~/tensorflow_datasets)"
    if not download:
        raise DataError(
            f"dataset {name!r} is not prepared in {where} and downloads are off; pass "
            "--data-dir with a folder holding it prepared, or allow downloads"
        )
    unreachable = _download_unreachable()
    if unreachable:
        raise DataError(
            f"dataset {name!r} is not prepared in {where} and cannot be downloaded: "
            f"{unreachable}; pass --data-dir with a folder holding it prepared"
        )
    try:
        builder.download_and_prepare()
    except Exception as error:  # network, missing extras, disk
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"could not download and prepare dataset {name!r} into {where}: "
            f"{type(error).__name__}: {first_line[:200]}"
        ) from None


def _tfds_splits(builder):
    splits = set(builder.info.splits.keys())
    if "test" in splits:
        return "train", "test"
    if "validation" in splits:
        return "train", "validation"
    # Only a training split: hold out its last 10% as the test set.
    return "train[:90%]", "train[90%:]"


def _load_tfds(name, data_dir, download, val_split, seed, in_memory):
    import tensorflow_datasets as tfds

    builder = _tfds_builder(name, data_dir)
    image, label = _check_image_classification(builder)
    _prepare(builder, name, data_dir, download)
    train_split, test_split = _tfds_splits(builder)
    shape = tuple(image.shape)
    if any(d is None for d in shape):
        raise DataError(
            f"dataset {name!r} has images of varying size {shape}; only fixed-size image "
            "datasets are supported (e.g. mnist, fashion_mnist, cifar10, cifar100)"
        )
    n_train = builder.info.splits[train_split].num_examples
    n_test = builder.info.splits[test_split].num_examples
    if in_memory is None:
        in_memory = (n_train + n_test) * int(np.prod(shape)) <= IN_MEMORY_LIMIT_BYTES
    load = dict(data_dir=data_dir, download=False, as_supervised=True)
    source = f"tfds:{builder.name}:{builder.version}"
    if in_memory:
        x_train, y_train = (np.asarray(a) for a in tfds.as_numpy(
            tfds.load(name, split=train_split, batch_size=-1, **load)))
        x_test, y_test = (np.asarray(a) for a in tfds.as_numpy(
            tfds.load(name, split=test_split, batch_size=-1, **load)))
        (x_train, y_train), val = _split_val(x_train, y_train, val_split, seed)
        mean, std = _mean_std(x_train, 255.0)
        train, test = (x_train, y_train.astype(np.int32)), (x_test, y_test.astype(np.int32))
        if val is not None:
            val = (val[0], val[1].astype(np.int32))
        n_train, n_val = len(y_train), 0 if val is None else len(val[1])
    else:
        if val_split:
            raise DataError("`val_split` needs a dataset that fits in memory")
        train = tfds.load(name, split=train_split, shuffle_files=False, **load)
        test = tfds.load(name, split=test_split, shuffle_files=False, **load)
        total = np.zeros(shape[-1])
        total_sq = np.zeros(shape[-1])
        for images, _ in tfds.as_numpy(train.batch(4096)):
            chunk = images.reshape(-1, shape[-1]).astype(np.float64) / 255.0
            total += chunk.sum(0)
            total_sq += (chunk * chunk).sum(0)
        count = n_train * int(np.prod(shape[:-1]))
        mean_arr = total / count
        mean = tuple(float(m) for m in mean_arr)
        std = tuple(float(s) for s in np.sqrt(np.maximum(total_sq / count - mean_arr**2, 1e-12)))
        val, n_val = None, 0
    info = DatasetInfo(
        name=name,
        source=source,
        num_classes=int(label.num_classes),
        image_shape=shape,
        train_examples=int(n_train),
        test_examples=int(n_test),
        test_split=test_split,
        mean=mean,
        std=std,
        val_examples=n_val,
    )
    return Data(info, train, test, val, scale=255.0, in_memory=in_memory)


def load(name=DIGITS, data_dir=None, download=True, val_split=0.0, seed=0, in_memory=None):
    """Load a dataset by name: `"digits"` (bundled with scikit-learn) or any TFDS image-classification name.

    `"cifar10"` with a `data_dir` that holds `cifar10_jpeg.npz` (or is that file) is
    read from that JPEG archive (decoded once, then cached; see `sources`), in memory.

    Args:
        data_dir: TFDS data folder holding prepared datasets (default: TFDS's own).
        download: let TFDS download and prepare a dataset that is not prepared.
        val_split: fraction of the training split held out for validation.
        seed: the validation hold-out draw.
        in_memory: force (True) or forbid (False) reading the splits into memory;
            by default only datasets under `IN_MEMORY_LIMIT_BYTES` are.

    Raises:
        DataError: unknown or unsuitable dataset, or data that is not there offline.
    """
    if not isinstance(name, str) or not name:
        raise DataError(f"a dataset name is needed. Received: dataset={name!r}")
    if name == DIGITS:
        return _from_arrays(sources.digits_arrays(val_split, seed))
    archive = sources.archive_path(data_dir) if name == CIFAR10 else None
    if archive is not None:
        return _from_arrays(sources.jpeg_archive_arrays(archive, val_split, seed))
    return _load_tfds(name, data_dir, download, val_split, seed, in_memory)
