"""Data: bundled digits, TFDS loading (real MNIST where ../shared/data exists), pipelines and augmentation."""

import numpy as np
import pytest
import tensorflow as tf

from keras_prelu.training import data as data_lib


@pytest.fixture(scope="module")
def digits():
    return data_lib.load("digits")


def test_digits_is_offline_real_data(digits):
    info = digits.info
    assert info.num_classes == 10 and info.image_shape == (8, 8, 1)
    assert info.train_examples == 1437 and info.test_examples == 360
    images, labels = digits.split("train")
    assert images.dtype == np.float32 and 0.0 <= images.min() and images.max() <= 1.0
    assert sorted(np.unique(labels)) == list(range(10))
    assert info.mean[0] == pytest.approx(images.mean(), rel=1e-6)
    assert info.std[0] == pytest.approx(images.std(), rel=1e-5)


def _epoch(digits, **kwargs):
    images, labels = [], []
    for x, y in digits.train_dataset(**kwargs):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)


def test_train_dataset_full_batches_normalised_and_seeded_per_epoch(digits):
    x0, y0 = _epoch(digits, batch_size=100, epoch=0, seed=0)
    assert x0.shape == (1400, 8, 8, 1) and y0.dtype == np.int32  # 14 full batches, remainder dropped
    assert abs(x0.mean()) < 0.05 and abs(x0.std() - 1.0) < 0.05
    again = _epoch(digits, batch_size=100, epoch=0, seed=0)
    np.testing.assert_array_equal(again[0], x0)  # an epoch can be replayed exactly (resume)
    x1, y1 = _epoch(digits, batch_size=100, epoch=1, seed=0)
    assert not np.array_equal(y1, y0)  # a new order every epoch
    other_seed = _epoch(digits, batch_size=100, epoch=0, seed=1)
    assert not np.array_equal(other_seed[1], y0)
    assert digits.steps_per_epoch(100) == 14


def test_augmentation_is_a_per_image_seeded_shift_and_flip():
    images = tf.reshape(tf.range(2 * 4 * 4, dtype=tf.float32), (2, 4, 4, 1)) + 1.0
    seed = tf.constant([1, 2], tf.int32)
    out = data_lib.augment_batch(images, seed, "pad_crop", pad_fraction=0.25)
    assert out.shape == images.shape
    np.testing.assert_array_equal(out, data_lib.augment_batch(images, seed, "pad_crop", 0.25))
    for i in range(2):
        padded = np.pad(images[i, :, :, 0].numpy(), 1)
        windows = [padded[r:r + 4, c:c + 4] for r in range(3) for c in range(3)]
        assert any(np.array_equal(out[i, :, :, 0].numpy(), w) for w in windows)
    flipped = data_lib.augment_batch(images, seed, "pad_crop_flip", pad_fraction=0.0)
    for i in range(2):
        img, got = images[i].numpy(), flipped[i].numpy()
        assert np.array_equal(got, img) or np.array_equal(got, img[:, ::-1])
    assert data_lib.augment_batch(images, seed, None) is images
    with pytest.raises(ValueError, match="augment"):
        data_lib.augment_batch(images, seed, "mixup")


def test_augmented_epochs_differ_but_replay(digits):
    a = _epoch(digits, batch_size=128, epoch=2, seed=0, augment="pad_crop")
    b = _epoch(digits, batch_size=128, epoch=2, seed=0, augment="pad_crop")
    plain = _epoch(digits, batch_size=128, epoch=2, seed=0)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], plain[1])
    assert not np.array_equal(a[0], plain[0])


def test_eval_dataset_covers_the_split_in_order(digits):
    xs, ys = [], []
    for x, y in digits.eval_dataset(batch_size=100):
        xs.append(x.numpy())
        ys.append(y.numpy())
    assert [len(y) for y in ys] == [100, 100, 100, 60]
    np.testing.assert_array_equal(np.concatenate(ys), digits.split("test")[1])
    assert int(digits.eval_dataset(batch_size=100).cardinality()) == 4


def test_validation_hold_out_and_renormalisation():
    data = data_lib.load("digits", val_split=0.1, seed=0)
    assert data.has_val and data.info.val_examples == 144
    assert data.info.train_examples == 1437 - 144
    other = data.with_normalization([0.5], [0.25])
    x, _ = next(iter(other.eval_dataset(10)))
    raw = data.split("test")[0][:10]
    np.testing.assert_allclose(x.numpy(), (raw - 0.5) / 0.25, rtol=1e-5, atol=1e-6)
    with pytest.raises(data_lib.DataError, match="channels"):
        data.with_normalization([0.1, 0.2, 0.3], [1, 1, 1])


def test_batch_larger_than_the_data_is_refused(digits):
    with pytest.raises(data_lib.DataError, match="batch size"):
        digits.train_dataset(batch_size=5000)


def test_unknown_dataset_suggests_names():
    with pytest.raises(data_lib.DataError, match="unknown dataset 'mnistt'.*mnist"):
        data_lib.load("mnistt")


def test_not_image_classification_is_refused(tmp_path):
    with pytest.raises(data_lib.DataError, match="not image classification"):
        data_lib.load("imdb_reviews", data_dir=str(tmp_path), download=False)


def test_missing_data_offline_says_what_to_do(tmp_path):
    with pytest.raises(data_lib.DataError, match="not prepared.*downloads are off"):
        data_lib.load("mnist", data_dir=str(tmp_path), download=False)


def test_real_mnist_from_prepared_tfds(shared_data):
    data = data_lib.load("mnist", data_dir=str(shared_data / "tensorflow_datasets"), download=False)
    info = data.info
    assert info.source.startswith("tfds:mnist:")
    assert (info.train_examples, info.test_examples, info.num_classes) == (60000, 10000, 10)
    assert info.image_shape == (28, 28, 1)
    # The README of ../shared/data gives the train mean/std in 0..255 units.
    assert 255 * info.mean[0] == pytest.approx(33.3184, abs=1e-3)
    assert 255 * info.std[0] == pytest.approx(78.5675, abs=1e-3)
    x, y = next(iter(data.train_dataset(batch_size=256, epoch=0)))
    assert x.shape == (256, 28, 28, 1) and x.dtype == tf.float32
    assert int(tf.reduce_max(y)) <= 9
