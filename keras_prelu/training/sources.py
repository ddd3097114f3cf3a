"""Image-classification data as NumPy arrays, without TensorFlow: the bundled `digits` and
CIFAR-10 from a JPEG archive (`cifar10_jpeg.npz`).

    arrays = sources.digits_arrays(val_split=0.1, seed=0)
    arrays = sources.jpeg_archive_arrays("data/cifar10_jpeg.npz")   # decoded once, then cached
    images, labels = arrays.train                                    # uint8 [N, 32, 32, 3], int32 [N]

The archive (keys `data`: concatenated JPEG bytes, `offsets`: [N + 1],
`y_train`, `y_test`; the train images first, in order) is decoded with Pillow
in threads the first time and cached as an `.npz` in
`keras_prelu.utils.files.cache_dir()/datasets/`, named by a SHA-256 of the
archive; a cache file that is damaged or does not match its archive is
decoded anew and rewritten. Also what both data front ends share
(`DatasetInfo`, `DataError`, `check_augment`, the `Splits` base class of
`data.Data` and `array_data.ArrayData`, the validation hold-out and the
per-channel mean and std). Imports NumPy, Pillow and the package's utils only.
"""

import concurrent.futures
import dataclasses
import hashlib
import io
import os
import pathlib
import typing
import zipfile

import numpy as np

from keras_prelu.utils import files
from keras_prelu.utils.validation import check_choice

DIGITS = "digits"
CIFAR10 = "cifar10"
#: The JPEG archive `--data-dir` may hold (or be) for dataset "cifar10".
ARCHIVE_NAME = "cifar10_jpeg.npz"
ARCHIVE_CLASSES = 10
IN_MEMORY_LIMIT_BYTES = 2 * 1024**3
AUGMENTATIONS = (None, "pad_crop", "pad_crop_flip")
SPLITS = ("train", "test", "val")
#: Part of the cache file's name: a new layout, or a different decoder, is a new name.
CACHE_FORMAT = 1
_DECODE_CHUNK = 2048


def check_augment(augment):
    if augment not in AUGMENTATIONS:
        raise ValueError(
            f"`augment` must be one of {list(AUGMENTATIONS)}. Received: augment={augment!r}"
        )
    return augment


class DataError(ValueError):
    """Unknown dataset, a dataset that is not image classification, or data that cannot be had."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str
    num_classes: int
    image_shape: tuple
    train_examples: int
    test_examples: int
    test_split: str
    mean: tuple
    std: tuple
    val_examples: int = 0

    def to_dict(self):
        data = dataclasses.asdict(self)
        data["image_shape"] = list(self.image_shape)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data


class Splits:
    """What every dataset front end (`data.Data`, `array_data.ArrayData`) keeps the same way:
    `info`, the train / test (optional validation) splits and the pixel `scale`."""

    def __init__(self, info, train, test, val=None, scale=255.0):
        self.info = info
        self._splits = {"train": train, "test": test, "val": val}
        self.scale = float(scale)

    def _renormalized(self, mean, std):
        """(`info` with another mean and std, the three splits) for `with_normalization`."""
        mean = tuple(float(m) for m in mean)
        std = tuple(float(s) for s in std)
        if len(mean) != len(self.info.mean) or len(std) != len(self.info.std):
            raise DataError(
                f"The normalisation has {len(mean)} channels; dataset {self.info.name!r} has "
                f"{len(self.info.mean)}. Received: mean={mean}"
            )
        info = dataclasses.replace(self.info, mean=mean, std=std)
        return info, (self._splits["train"], self._splits["test"], self._splits["val"])

    def split(self, name):
        check_choice("split", name, SPLITS)
        if self._splits[name] is None:
            raise DataError(f"This dataset has no {name!r} split loaded. Received: split={name!r}")
        return self._splits[name]

    @property
    def has_val(self):
        return self._splits["val"] is not None

    def num_examples(self, split="train"):
        return {
            "train": self.info.train_examples,
            "test": self.info.test_examples,
            "val": self.info.val_examples,
        }[split]

    def steps_per_epoch(self, batch_size):
        """Full batches per training epoch (the last partial batch is dropped)."""
        return self.info.train_examples // batch_size


@dataclasses.dataclass(frozen=True)
class Arrays:
    """One dataset in memory: `info` and `(images, labels)` splits (images [N, H, W, C] uint8 or
    float32, labels int32); pixel values divided by `scale` lie in [0, 1]."""

    info: DatasetInfo
    train: tuple
    test: tuple
    val: typing.Optional[tuple] = None
    scale: float = 255.0


def mean_std(images, scale):
    """Per-channel mean and std of [N, H, W, C] images scaled to [0, 1], in float64."""
    flat = images.reshape(-1, images.shape[-1])
    if flat.dtype == np.uint8:  # exact from histograms: 0.3 s for CIFAR-10 instead of 2.4 s
        counts = np.zeros((flat.shape[-1], 256), np.int64)
        for start in range(0, len(flat), 1 << 20):
            chunk = flat[start:start + (1 << 20)]
            for channel in range(flat.shape[-1]):
                counts[channel] += np.bincount(chunk[:, channel], minlength=256)
        values = np.arange(256, dtype=np.float64) / scale
        mean = counts @ values / len(flat)
        std = np.sqrt(np.maximum(counts @ (values * values) / len(flat) - mean * mean, 1e-12))
        return tuple(float(m) for m in mean), tuple(float(s) for s in std)
    total = np.zeros(flat.shape[-1])
    total_sq = np.zeros(flat.shape[-1])
    for start in range(0, len(flat), 1 << 22):
        chunk = flat[start:start + (1 << 22)].astype(np.float64) / scale
        total += chunk.sum(0)
        total_sq += (chunk * chunk).sum(0)
    mean = total / len(flat)
    std = np.sqrt(np.maximum(total_sq / len(flat) - mean * mean, 1e-12))
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def split_val(images, labels, val_split, seed):
    """`((train images, labels), (val images, labels) or None)`: a `val_split` fraction of the
    training split held out, drawn from `seed`."""
    if not val_split:
        return (images, labels), None
    if not 0.0 < val_split < 1.0:
        raise DataError(f"`val_split` must be in [0, 1). Received: val_split={val_split}")
    order = np.random.default_rng([int(seed), 7919]).permutation(len(labels))
    n_val = max(1, int(round(val_split * len(labels))))
    val, train = order[:n_val], order[n_val:]
    return (images[train], labels[train]), (images[val], labels[val])


def _arrays(name, source, num_classes, test_split, train, test, val_split, seed, scale):
    """`Arrays` with the validation hold-out taken and mean/std measured on what is left."""
    (x_train, y_train), val = split_val(*train, val_split, seed)
    mean, std = mean_std(x_train, scale)
    info = DatasetInfo(
        name=name,
        source=source,
        num_classes=num_classes,
        image_shape=tuple(x_train.shape[1:]),
        train_examples=len(y_train),
        test_examples=len(test[1]),
        test_split=test_split,
        mean=mean,
        std=std,
        val_examples=0 if val is None else len(val[1]),
    )
    return Arrays(info, (x_train, y_train), test, val, scale=scale)


def digits_arrays(val_split=0.0, seed=0):
    """scikit-learn's 1,797 8x8 digits: float32 [N, 8, 8, 1] in [0, 1] (scale 1), stratified 80/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)[..., None]  # 0..16 -> [0, 1]
    labels = bunch.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.2, random_state=0, stratify=labels
    )
    source = "scikit-learn load_digits (UCI optical digits, 8x8); stratified 80/20 split, random_state=0"
    return _arrays(DIGITS, source, 10, "test (20% of load_digits)", (x_train, y_train),
                   (x_test, y_test), val_split, seed, scale=1.0)


# ---------------------------------------------------------------------------
# The JPEG archive
# ---------------------------------------------------------------------------


def archive_path(data_dir):
    """The JPEG archive `data_dir` names (the `.npz` itself, or a folder holding `ARCHIVE_NAME`),
    or None when it names none. A `.npz` path that is not a file raises a DataError."""
    if data_dir is None:
        return None
    path = pathlib.Path(data_dir)
    if path.suffix == ".npz":
        if not path.is_file():
            raise DataError(f"no JPEG archive at {str(path)!r}. Received: data_dir={str(data_dir)!r}")
        return path
    candidate = path / ARCHIVE_NAME
    return candidate if candidate.is_file() else None


def archive_digest(path):
    """SHA-256 (hex) of the archive file's bytes (about 0.1 s for CIFAR-10's 62 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(path, digest):
    """Where the decoded arrays of archive `path` (with SHA-256 `digest`) are cached."""
    stem = pathlib.Path(path).name.removesuffix(".npz")
    return files.cache_dir() / "datasets" / f"{stem}-decoded-v{CACHE_FORMAT}-{digest[:20]}.npz"


def _read_archive(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            data, offsets = archive["data"], archive["offsets"].astype(np.int64)
            y_train, y_test = archive["y_train"], archive["y_test"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(
            f"{str(path)!r} is not a readable JPEG archive (keys data, offsets, y_train, y_test): "
            f"{type(error).__name__}: {str(error).strip()[:200]}"
        ) from None
    labels = np.concatenate([y_train, y_test]).astype(np.int32)
    if (offsets.ndim != 1 or len(offsets) != len(labels) + 1 or offsets[0] != 0
            or offsets[-1] != len(data) or np.any(np.diff(offsets) <= 0)):
        raise DataError(f"the offsets of JPEG archive {str(path)!r} do not match its "
                        f"{len(labels)} labels and {len(data)} bytes")
    if labels.size and (labels.min() < 0 or labels.max() >= ARCHIVE_CLASSES):
        raise DataError(f"JPEG archive {str(path)!r} has labels outside 0..{ARCHIVE_CLASSES - 1}")
    return data, offsets, labels, len(y_train)


def decode_jpegs(data, offsets, threads=None):
    """uint8 [N, H, W, 3] RGB from the JPEGs `data[offsets[i]:offsets[i + 1]]`, all one size,
    decoded with Pillow in `threads` threads (default: the CPU count, at most 8). For 32x32
    images Pillow's header parsing in Python dominates, so threads gain little (~8 s for 60,000)."""
    from PIL import Image

    count = len(offsets) - 1

    def decode(i):
        try:
            with Image.open(io.BytesIO(data[offsets[i]:offsets[i + 1]].tobytes())) as image:
                return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        except (OSError, ValueError) as error:  # PIL.UnidentifiedImageError is an OSError
            raise DataError(f"image {i} of the archive is not a readable JPEG: {error}") from None

    first = decode(0)
    images = np.empty((count,) + first.shape, np.uint8)

    def decode_range(start):
        for i in range(start, min(start + _DECODE_CHUNK, count)):
            pixels = decode(i)
            if pixels.shape != first.shape:
                raise DataError(f"image {i} of the archive is {pixels.shape[:2]}, image 0 "
                                f"{first.shape[:2]}: all images must have one size")
            images[i] = pixels

    threads = threads or max(1, min(8, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(decode_range, range(0, count, _DECODE_CHUNK)))  # re-raises a worker's error
    return images


def _load_cache(cache, digest, labels):
    """The cached images, or None when the file is absent, damaged or not this archive's."""
    try:
        with np.load(cache, allow_pickle=False) as stored:
            if str(stored["digest"]) != digest or not np.array_equal(stored["labels"], labels):
                return None
            images = stored["images"]  # read in full: zipfile checks the CRC of every byte
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(labels):
        return None
    return images


def _save_cache(cache, digest, images, labels):
    """Write the cache atomically; a cache that cannot be written is skipped (the data still load)."""
    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, digest=np.array(digest), images=images, labels=labels)

    try:
        files.atomic_write(cache, write)
    except OSError:
        return False
    return True


def decoded_archive(path):
    """`(images, labels, n_train)` of a JPEG archive: from the cache when it holds this archive,
    else decoded (then cached)."""
    data, offsets, labels, n_train = _read_archive(path)
    digest = archive_digest(path)
    cache = cache_path(path, digest)
    images = _load_cache(cache, digest, labels)
    if images is None:
        images = decode_jpegs(data, offsets)
        _save_cache(cache, digest, images, labels)
    return images, labels, n_train


def jpeg_archive_arrays(path, val_split=0.0, seed=0):
    """CIFAR-10 from its JPEG archive: uint8 [N, 32, 32, 3] images (scale 255), int32 labels;
    the first `len(y_train)` images are the train split, the rest the test split."""
    path = pathlib.Path(path)
    images, labels, n_train = decoded_archive(path)
    source = f"jpeg-archive:{path.name} (JPEG re-encoded CIFAR-10)"
    return _arrays(CIFAR10, source, ARCHIVE_CLASSES, "test", (images[:n_train], labels[:n_train]),
                   (images[n_train:], labels[n_train:]), val_split, seed, scale=255.0)
