"""Data without TensorFlow: the JPEG archive (decoded once, cached) and `ArrayData`'s batches,
compared with `data.Data` here (TensorFlow backend) and on JAX and PyTorch in child processes
with TensorFlow unimportable (tests/array_data_checks.py).

A tiny JPEG archive written with Pillow in `tmp_path` stands in for CIFAR-10; the real one
(../shared/data/cifar10_jpeg.npz) is used by one slow test where it exists.
"""

import io
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import array_data_checks
from conftest import ROOT, SHARED_DATA, flip_a_byte_inside_the_largest_array, python_env
from keras_prelu.training import array_data, sources
from keras_prelu.training import data as data_lib

BACKENDS = ("jax", "torch")


def _images(count, seed, size=32):
    """Smooth random uint8 RGB images (JPEG keeps them within a few levels)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(count):
        freq, phase = rng.uniform(0.3, 1.5, (2, 3)), rng.uniform(0, 2 * np.pi, (2, 3))
        image = [128 + 90 * np.sin(2 * np.pi * freq[0, c] * xx + phase[0, c])
                 * np.cos(2 * np.pi * freq[1, c] * yy + phase[1, c]) for c in range(3)]
        images.append(np.clip(np.stack(image, -1), 0, 255).astype(np.uint8))
    return np.stack(images)


def write_archive(path, n_train=40, n_test=20, seed=0):
    """A JPEG archive in the format of cifar10_jpeg.npz; returns (source images, labels)."""
    images = _images(n_train + n_test, seed)
    labels = np.random.default_rng(seed).integers(0, 10, n_train + n_test).astype(np.uint8)
    blobs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=95)
        blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    names = np.array([f"{'train' if i < n_train else 'test'}/{i:04d}.jpg" for i in range(len(labels))])
    np.savez(path, data=np.concatenate(blobs), offsets=offsets, y_train=labels[:n_train],
             y_test=labels[n_train:], names=names)
    return images, labels


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("KERAS_PRELU_CACHE_DIR", str(folder))
    return folder / "datasets"


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "data" / sources.ARCHIVE_NAME
    path.parent.mkdir()
    images, labels = write_archive(path)
    return path, images, labels


def _no_decoding(*args, **kwargs):
    raise AssertionError("decoded although the cache holds this archive")


# ---------------------------------------------------------------------------
# The JPEG archive
# ---------------------------------------------------------------------------


def test_the_archive_decodes_to_its_images_labels_and_order(archive, cache):
    path, images, labels = archive
    arrays = sources.jpeg_archive_arrays(path)
    x_train, y_train = arrays.train
    x_test, y_test = arrays.test
    assert x_train.shape == (40, 32, 32, 3) and x_test.shape == (20, 32, 32, 3)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int32
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), labels)
    decoded = np.concatenate([x_train, x_test]).astype(int)
    errors = np.abs(decoded - images).mean(axis=(1, 2, 3))
    assert errors.max() < 4.0, errors  # JPEG (quality 95, 4:2:0 chroma): a few levels off
    others = np.abs(decoded[:, None] - images[None]).mean(axis=(2, 3, 4))
    assert (others.argmin(axis=1) == np.arange(60)).all()  # each image is its own source's
    info = arrays.info
    assert (info.name, info.num_classes, info.image_shape) == ("cifar10", 10, (32, 32, 3))
    assert info.source == "jpeg-archive:cifar10_jpeg.npz (JPEG re-encoded CIFAR-10)"
    assert (info.train_examples, info.test_examples, info.test_split, arrays.scale) == (40, 20, "test", 255.0)
    assert info.mean == pytest.approx(x_train.reshape(-1, 3).mean(0) / 255.0, rel=1e-9)
    assert info.std == pytest.approx(x_train.reshape(-1, 3).std(0) / 255.0, rel=1e-9)


def test_the_validation_hold_out_is_taken_before_the_statistics(archive, cache):
    arrays = sources.jpeg_archive_arrays(archive[0], val_split=0.25, seed=3)
    assert (arrays.info.train_examples, arrays.info.val_examples) == (30, 10)
    assert arrays.info.mean == pytest.approx(arrays.train[0].reshape(-1, 3).mean(0) / 255.0)


def test_decoded_once_then_loaded_from_the_cache(archive, cache, monkeypatch):
    first = sources.jpeg_archive_arrays(archive[0])
    (cached,) = cache.iterdir()
    assert cached.name.startswith("cifar10_jpeg-decoded-v1-")
    monkeypatch.setattr(sources, "decode_jpegs", _no_decoding)
    again = sources.jpeg_archive_arrays(archive[0])
    np.testing.assert_array_equal(again.train[0], first.train[0])
    np.testing.assert_array_equal(again.test[0], first.test[0])
    assert list(cache.iterdir()) == [cached]


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "another archive's"])
def test_a_damaged_or_foreign_cache_file_is_decoded_anew_and_rewritten(archive, cache, tmp_path, monkeypatch,
                                                                      damage):
    path = archive[0]
    reference = sources.jpeg_archive_arrays(path)
    (cached,) = cache.iterdir()
    if damage == "flip a byte":
        flip_a_byte_inside_the_largest_array(cached)
    elif damage == "truncate":
        cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])
    else:  # a valid cache file of another archive under this archive's name
        other = tmp_path / "other.npz"
        write_archive(other, seed=1)
        sources.jpeg_archive_arrays(other)
        other_cache = next(p for p in cache.iterdir() if p.name.startswith("other-"))
        os.replace(other_cache, cached)
    calls = []
    decode = sources.decode_jpegs
    monkeypatch.setattr(sources, "decode_jpegs", lambda *a: calls.append(1) or decode(*a))
    decoded = sources.jpeg_archive_arrays(path)
    assert calls == [1]
    np.testing.assert_array_equal(decoded.train[0], reference.train[0])
    assert sources._load_cache(cached, sources.archive_digest(path), np.concatenate(
        [reference.train[1], reference.test[1]])) is not None  # rewritten whole


def test_a_different_archive_gets_its_own_cache_entry(archive, cache, tmp_path, monkeypatch):
    sources.jpeg_archive_arrays(archive[0])
    changed = tmp_path / "changed" / sources.ARCHIVE_NAME
    changed.parent.mkdir()
    write_archive(changed, seed=2)
    assert sources.archive_digest(changed) != sources.archive_digest(archive[0])
    arrays = sources.jpeg_archive_arrays(changed)
    assert len(list(cache.iterdir())) == 2
    monkeypatch.setattr(sources, "decode_jpegs", _no_decoding)  # both are cached now
    np.testing.assert_array_equal(sources.jpeg_archive_arrays(changed).train[0], arrays.train[0])
    sources.jpeg_archive_arrays(archive[0])


def test_a_cache_that_cannot_be_written_is_skipped(archive, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("KERAS_PRELU_CACHE_DIR", str(blocker))
    assert sources.jpeg_archive_arrays(archive[0]).info.train_examples == 40


def test_data_dir_names_the_archive_or_its_folder(archive, cache, tmp_path):
    path = archive[0]
    assert sources.archive_path(path.parent) == path and sources.archive_path(path) == path
    assert sources.archive_path(tmp_path) is None and sources.archive_path(None) is None
    with pytest.raises(data_lib.DataError, match="no JPEG archive at .*Received: data_dir="):
        sources.archive_path(tmp_path / "missing.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(data_lib.DataError, match="not a readable JPEG archive"):
        sources.jpeg_archive_arrays(broken)


def test_tensorflow_data_reads_cifar10_from_the_archive(archive, cache):
    path, _, labels = archive
    for data_dir in (path.parent, path):
        data = data_lib.load("cifar10", data_dir=str(data_dir), val_split=0.25, seed=1)
        assert isinstance(data, data_lib.Data) and data.in_memory
        assert data.info.source.startswith("jpeg-archive:") and data.has_val
        x, y = next(iter(data.eval_dataset(batch_size=8)))
        assert x.shape == (8, 32, 32, 3) and list(y.numpy()) == list(labels[40:48])
    assert data.info == array_data.load("cifar10", data_dir=str(path), val_split=0.25, seed=1).info


# ---------------------------------------------------------------------------
# ArrayData against data.Data (TensorFlow backend)
# ---------------------------------------------------------------------------


needs_tensorflow_backend = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="compares with data.Data: run on TensorFlow")


@pytest.fixture(scope="module")
def digits():
    return data_lib.load("digits"), array_data.load("digits")


def _epoch(batches):
    pairs = [(keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y)) for x, y in batches]
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


@needs_tensorflow_backend
def test_same_epoch_order_and_batches_as_tensorflow_data(digits):
    tf_data, data = digits
    assert data.info == tf_data.info and data.steps_per_epoch(100) == tf_data.steps_per_epoch(100)
    for seed, epoch, batch_size in [(0, 0, 100), (0, 1, 100), (3, 7, 64), (1, 0, 1437)]:
        expected = _epoch(tf_data.train_dataset(batch_size, epoch=epoch, seed=seed))
        found = _epoch(data.train_dataset(batch_size, epoch=epoch, seed=seed))
        np.testing.assert_array_equal(found[1], expected[1])
        np.testing.assert_array_equal(found[0], expected[0])  # bit for bit without augmentation
    np.testing.assert_array_equal(_epoch(data.eval_dataset(100))[0], _epoch(tf_data.eval_dataset(100))[0])
    images = tf_data.split("test")[0][:7]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(data.normalize(images)),
                                  tf_data.normalize(images).numpy())


@needs_tensorflow_backend
def test_uint8_batches_equal_tensorflow_data(archive, cache):
    arrays = sources.jpeg_archive_arrays(archive[0])
    tf_data = data_lib.Data(arrays.info, arrays.train, arrays.test, scale=arrays.scale)
    data = array_data.ArrayData.from_arrays(arrays)
    for found, expected in [(data.train_dataset(16, epoch=2), tf_data.train_dataset(16, epoch=2)),
                            (data.eval_dataset(16), tf_data.eval_dataset(16))]:
        found, expected = _epoch(found), _epoch(expected)
        np.testing.assert_array_equal(found[1], expected[1])
        np.testing.assert_array_equal(found[0], expected[0])


def test_the_interface_of_data(digits):
    tf_data, data = digits
    batches = data.train_dataset(100, epoch=0, seed=0)
    assert len(batches) == 14 and len(list(batches)) == 14 and len(list(batches)) == 14  # re-iterable
    first_two = batches.take(2)
    assert len(first_two) == 2 and len(batches.take(99)) == 14 and len(batches.take(-1)) == 14
    np.testing.assert_array_equal(_epoch(first_two)[1], _epoch(batches)[1][:200])
    x, y = next(iter(batches))
    assert tuple(x.shape) == (100, 8, 8, 1) and tuple(y.shape) == (100,)
    assert keras.ops.dtype(x) == "float32" and keras.ops.dtype(y) == "int32"
    assert [len(y) for _, y in data.eval_dataset(100)] == [100, 100, 100, 60]
    assert data.in_memory and not data.has_val and data.num_examples("test") == 360
    assert data.split("train")[0].shape == (1437, 8, 8, 1)
    with pytest.raises(data_lib.DataError, match="batch size is larger than the 1437"):
        data.train_dataset(2000)
    with pytest.raises(data_lib.DataError, match="Received: batch_size=0"):
        data.eval_dataset(0)
    with pytest.raises(ValueError, match="augment"):
        data.train_dataset(10, augment="mixup")
    with pytest.raises(data_lib.DataError, match="no 'val' split"):
        data.split("val")
    with pytest.raises(data_lib.DataError, match="channels"):
        data.with_normalization((0.1, 0.2), (1.0, 1.0))
    renormalised = data.with_normalization((0.0,), (1.0,))
    x0 = keras.ops.convert_to_numpy(next(iter(renormalised.eval_dataset(5)))[0])
    np.testing.assert_allclose(x0, data.split("test")[0][:5])  # scale 1, mean 0, std 1: raw pixels


def test_validation_split_and_unknown_datasets():
    data = array_data.load("digits", val_split=0.1, seed=0)
    assert data.has_val and data.num_examples("val") == 144 and len(list(data.eval_dataset(50, "val"))) == 3
    with pytest.raises(data_lib.DataError, match="unknown dataset 'mnistt'"):
        array_data.load("mnistt")  # TensorFlow is here: TFDS names go through data.load
    with pytest.raises(data_lib.DataError, match="Received: dataset=''"):
        array_data.load("")


# ---------------------------------------------------------------------------
# Augmentation on the device
# ---------------------------------------------------------------------------


@pytest.fixture
def shifted(archive, cache):
    """ArrayData of the tiny archive with mean 0, std 1: batches are pixels / 255."""
    arrays = sources.jpeg_archive_arrays(archive[0])
    data = array_data.ArrayData.from_arrays(arrays).with_normalization((0.0,) * 3, (1.0,) * 3)
    return data, arrays.train[0].astype(np.float32) / 255.0, arrays.train[1]


def _windows(image, pad):
    padded = np.pad(image, [(pad, pad), (pad, pad), (0, 0)])
    size = image.shape[0]
    return [padded[r:r + size, c:c + size] for r in range(2 * pad + 1) for c in range(2 * pad + 1)]


@pytest.mark.parametrize("augment", ["pad_crop", "pad_crop_flip"])
def test_each_image_is_a_window_of_its_zero_padded_source(shifted, augment):
    data, source, labels = shifted
    order = np.random.default_rng([4, 2]).permutation(40)[:32]
    x, y = _epoch(data.train_dataset(32, epoch=2, seed=4, augment=augment))
    np.testing.assert_array_equal(y, labels[order])
    flipped, shifts = 0, set()
    for image, index in zip(x, order):
        windows = _windows(source[index], pad=4)  # round(0.125 * 32)
        plain = [k for k, w in enumerate(windows) if np.allclose(image, w, atol=1e-6)]
        mirrored = [k for k, w in enumerate(windows) if np.allclose(image, w[:, ::-1], atol=1e-6)]
        assert plain or (augment == "pad_crop_flip" and mirrored)
        flipped += not plain
        shifts.update(plain or mirrored)
    assert len(shifts) > 10  # offsets drawn per image
    assert (flipped > 5) == (augment == "pad_crop_flip")


def test_augmentation_replays_by_seed_and_epoch(shifted):
    data = shifted[0]

    def run(**kwargs):
        return _epoch(data.train_dataset(16, augment="pad_crop_flip", **kwargs))

    a, b = run(epoch=1, seed=0), run(epoch=1, seed=0)
    np.testing.assert_array_equal(a[0], b[0])
    plain = _epoch(data.train_dataset(16, epoch=1, seed=0))
    np.testing.assert_array_equal(a[1], plain[1])  # augmentation keeps the order
    assert not np.array_equal(a[0], plain[0])
    other = run(epoch=2, seed=0)
    assert not np.array_equal(other[0], a[0]) and not np.array_equal(other[1], a[1])
    resumed = data.train_dataset(16, epoch=1, seed=0, augment="pad_crop_flip")
    np.testing.assert_array_equal(_epoch(resumed)[0], a[0])  # a new object replays the same epoch


# ---------------------------------------------------------------------------
# JAX and PyTorch without TensorFlow
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def children(tmp_path_factory):
    """({name: array} on TensorFlow, {backend: (exit code, report line or stderr, arrays)})."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("compares the other backends with TensorFlow: run it on the TensorFlow backend")
    folder = tmp_path_factory.mktemp("array_data")
    running = {
        backend: subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "array_data_checks.py"), str(folder / f"{backend}.npz"),
             "--no-tensorflow"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=python_env(KERAS_BACKEND=backend),
        )
        for backend in BACKENDS
    }
    try:
        reference = array_data_checks.batches(array_data.load("digits"))
    finally:
        results = {}
        for backend, child in running.items():
            out, err = child.communicate(timeout=300)
            found = dict(np.load(folder / f"{backend}.npz")) if child.returncode == 0 else None
            results[backend] = (child.returncode, out if child.returncode == 0 else err, found)
    return reference, results


@pytest.mark.parametrize("backend", BACKENDS)
def test_jax_and_torch_without_tensorflow_give_the_same_batches(children, backend):
    reference, results = children
    code, text, found = results[backend]
    assert code == 0, text[-3000:]
    report = json.loads(text.strip().splitlines()[-1])
    assert report["backend"] == backend and report["tensorflow_imported"] is False
    assert report["types"] == [{"jax": "jaxlib", "torch": "torch"}[backend], "float32", "int32"]
    assert report["trainer"] == ("ImportError: keras_prelu.training.Trainer needs TensorFlow: "
                                 "pip install tensorflow")
    assert report["mnist"].startswith("DataError: dataset 'mnist' needs TensorFlow (TFDS)")
    assert "'digits' and 'cifar10' with --data-dir holding cifar10_jpeg.npz" in report["mnist"]
    assert sorted(found) == sorted(reference)
    for name in reference:
        if name.endswith("_y"):
            np.testing.assert_array_equal(found[name], reference[name], err_msg=name)
        else:  # the same pixels; XLA may round a division differently (one ulp)
            np.testing.assert_allclose(found[name], reference[name], rtol=0, atol=1e-6, err_msg=name)


# ---------------------------------------------------------------------------
# The real archive
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_real_cifar10_archive(shared_data, cache):
    path = shared_data / sources.ARCHIVE_NAME
    if not path.is_file():
        pytest.skip(f"the CIFAR-10 JPEG archive is not at {path}")
    data = array_data.load("cifar10", data_dir=str(SHARED_DATA))
    info = data.info
    assert (info.train_examples, info.test_examples, info.num_classes, info.image_shape) == (
        50000, 10000, 10, (32, 32, 3))
    assert info.mean == pytest.approx((0.4913, 0.4821, 0.4465), abs=2e-3)  # CIFAR-10's, nearly
    with np.load(path) as archive:
        y_train, y_test = archive["y_train"], archive["y_test"]
    images, labels = data.split("train")
    assert images.shape == (50000, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, y_train)  # in order: frog, truck, truck, deer, ...
    np.testing.assert_array_equal(data.split("test")[1], y_test)
    x, y = next(iter(data.train_dataset(128, augment="pad_crop_flip")))
    assert tuple(x.shape) == (128, 32, 32, 3) and tuple(y.shape) == (128,)
