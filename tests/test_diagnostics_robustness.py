"""Gradient masking and robustness curves: zero input gradients, FGSM, PGD."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_prelu
from keras_prelu.diagnostics import fgsm_accuracy, pgd_accuracy, zero_input_gradient_fraction

EPSILONS = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 240)
    centers = rng.normal(size=(3, 8)) * 1.5
    x = (centers[y] + rng.normal(size=(240, 8))).astype("float32")
    return x, y


@pytest.fixture(scope="module")
def trained(blobs):
    x, y = blobs
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16), keras_prelu.PReLU(), keras.layers.Dense(3)]
    )
    model.compile(
        keras.optimizers.Adam(0.02),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    return model


def _clean_accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0), axis=-1) == y))


def test_fgsm_at_zero_is_clean_accuracy_and_never_rises(trained, blobs):
    x, y = blobs
    curve = fgsm_accuracy(trained, (x, y), EPSILONS, batch_size=100)  # 100 + 100 + 40
    clean = _clean_accuracy(trained, x, y)
    assert clean > 0.9
    assert curve.examples == 240
    assert curve.accuracy[0] == pytest.approx(clean)
    assert curve.clean_accuracy == pytest.approx(clean)
    assert all(b <= a for a, b in zip(curve.accuracy, curve.accuracy[1:]))
    assert curve.accuracy[-1] < clean  # the attack does something


def test_pgd_at_zero_is_clean_accuracy_never_rises_and_beats_fgsm(trained, blobs):
    x, y = blobs
    pgd = pgd_accuracy(trained, (x, y), EPSILONS, steps=4)
    fgsm = fgsm_accuracy(trained, (x, y), EPSILONS)
    assert pgd.accuracy[0] == pytest.approx(_clean_accuracy(trained, x, y))
    assert all(b <= a for a, b in zip(pgd.accuracy, pgd.accuracy[1:]))
    assert all(p <= f + 1e-9 for p, f in zip(pgd.accuracy, fgsm.accuracy))
    assert pgd.steps == 4 and "pgd" in str(pgd)


def test_dataset_one_hot_labels_and_softmax_outputs(blobs):
    x, y = blobs
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    dataset = tf.data.Dataset.from_tensor_slices((x, np.eye(3, dtype="float32")[y])).batch(64)
    curve = fgsm_accuracy(model, dataset, [0.0, 0.3])
    assert curve.accuracy[0] == pytest.approx(_clean_accuracy(model, x, y))
    assert curve.accuracy[1] <= curve.accuracy[0]


def test_clip_values_bound_the_adversarial_inputs(trained, blobs):
    x, y = blobs
    clipped = fgsm_accuracy(trained, (x, y), [0.0, 100.0], clip_values=(x.min(), x.max()))
    assert clipped.accuracy[0] == pytest.approx(_clean_accuracy(trained, x, y))


def _elementwise(activation):
    inputs = keras.Input((16,))
    hidden = keras_prelu.get_activation(activation)(inputs)
    return keras.Model(inputs, keras.layers.Dense(3)(hidden))


def test_relu_on_the_input_masks_exactly_its_negative_entries():
    x = np.random.default_rng(2).normal(size=(32, 16)).astype("float32")
    relu = zero_input_gradient_fraction(_elementwise("relu"), x)
    assert relu == pytest.approx(np.mean(x < 0))
    assert zero_input_gradient_fraction(_elementwise("prelu"), x) == 0.0


def _conv_net(activation):
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.DepthwiseConv2D(1),
            keras_prelu.get_activation(activation),
            keras.layers.Conv2D(4, 3, padding="same"),
            keras_prelu.get_activation(activation),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )


def test_relu_net_masks_more_input_gradient_than_the_same_prelu_net():
    x = np.random.default_rng(4).normal(size=(16, 8, 8, 2)).astype("float32")
    y = np.random.default_rng(5).integers(0, 3, 16)
    relu = zero_input_gradient_fraction(_conv_net("relu"), x, y)
    prelu = zero_input_gradient_fraction(_conv_net("prelu"), x, y)
    assert relu > 0.3  # the 1x1 depthwise ReLU gates each input entry
    assert prelu == 0.0
    assert zero_input_gradient_fraction(_conv_net("relu"), (x, y)) == relu


def test_bad_input_raises(trained, blobs):
    x, y = blobs
    with pytest.raises(ValueError, match="needs labels"):
        fgsm_accuracy(trained, x, [0.1])
    with pytest.raises(ValueError, match="Received: epsilons=-0.1"):
        fgsm_accuracy(trained, (x, y), [-0.1])
    with pytest.raises(ValueError, match="Received: steps=0"):
        pgd_accuracy(trained, (x, y), [0.1], steps=0)
    with pytest.raises(ValueError, match="Received: clip_values"):
        fgsm_accuracy(trained, (x, y), [0.1], clip_values=(1.0, 0.0))


def test_compiled_functions_are_reused_and_do_not_keep_the_model_alive():
    import gc
    import weakref

    from keras_prelu.diagnostics import _cache, measure_negative_fraction, stability_report

    def run():
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(3), keras_prelu.PReLU(), keras.layers.Dense(2)]
        )
        x, y = np.ones((4, 4), "float32"), np.zeros(4, "int64")
        for _ in range(2):
            fgsm_accuracy(model, (x, y), [0.0, 0.1])
            zero_input_gradient_fraction(model, x)
            stability_report(model, x)
            measure_negative_fraction(model, x)
        entries = _cache._STORE[model]
        assert len(entries) == 3  # fgsm, zero gradient, stability: one each
        assert all(
            f.experimental_get_tracing_count() == 1
            for f in (entries[k] for k in entries if k[0] != "stability")
        )
        return weakref.ref(model)

    ref = run()
    gc.collect()
    assert ref() is None
