"""The compiled training loop: loss goes down, XLA and graph agree, steps per call, precision, weight decay."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_prelu
from keras_prelu import optimizers, training
from keras_prelu.training import recipes


def _data(n=96, features=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, features)) * 2.0
    labels = rng.integers(0, classes, n).astype("int32")
    images = (centers[labels] + rng.normal(size=(n, features))).astype("float32")
    return images, labels


def _model(features=12, classes=3, seed=1, softmax=False):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((features,))
    x = keras.layers.Dense(16, kernel_initializer=keras_prelu.kernel_initializer_for("prelu", seed=seed))(inputs)
    x = keras_prelu.PReLU()(x)
    x = keras.layers.Dense(classes, activation="softmax" if softmax else None)(x)
    return keras.Model(inputs, x)


def _batches(images, labels, batch):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch, drop_remainder=True)


def test_compiled_steps_lower_the_loss():
    images, labels = _data()
    model = _model()
    trainer = training.Trainer(model, keras.optimizers.SGD(0.1), jit_compile=False)
    before = trainer.evaluate(_batches(images, labels, 32))["loss"]
    for _ in range(5):
        result = trainer.train_epoch(_batches(images, labels, 16), steps=6)
    after = trainer.evaluate(_batches(images, labels, 32))["loss"]
    assert result["steps"] == 6 and result["examples"] == 96
    assert trainer.iterations == 30
    assert after < 0.5 * before


def _one_step_loss(jit_compile):
    images, labels = _data(n=32)
    model = _model()
    trainer = training.Trainer(model, keras.optimizers.SGD(0.05, momentum=0.9), jit_compile=jit_compile)
    batch = _batches(images, labels, 32)
    first = trainer.train_epoch(batch, steps=1)["loss"]
    second = trainer.train_epoch(batch, steps=1)["loss"]
    return first, second, [v.numpy() for v in model.trainable_variables]


def test_xla_and_graph_mode_agree_on_a_fixed_batch():
    graph = _one_step_loss(False)
    xla = _one_step_loss(True)
    np.testing.assert_allclose(graph[0], xla[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(graph[1], xla[1], atol=1e-5, rtol=0)
    assert graph[1] < graph[0]
    for a, b in zip(graph[2], xla[2]):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("steps_per_execution", [1, 4, "auto"])
def test_steps_per_execution_does_not_change_the_updates(steps_per_execution):
    images, labels = _data()
    reference = _model()
    training.Trainer(reference, keras.optimizers.SGD(0.1), jit_compile=False,
                     steps_per_execution=1).train_epoch(_batches(images, labels, 8), steps=12)
    model = _model()
    trainer = training.Trainer(
        model, keras.optimizers.SGD(0.1), jit_compile=False, steps_per_execution=steps_per_execution
    )
    calls = []
    result = trainer.train_epoch(_batches(images, labels, 8), steps=12,
                                 progress=lambda done, total, r: calls.append(done))
    assert calls[-1] == 12 and result["examples"] == 96
    if steps_per_execution == 4:
        assert calls == [4, 8, 12]
    for a, b in zip(reference.trainable_variables, model.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def test_evaluate_counts_every_example_including_a_partial_batch():
    images, labels = _data(n=37)
    model = _model()
    trainer = training.Trainer(model, None, steps_per_execution=2)
    result = trainer.evaluate(tf.data.Dataset.from_tensor_slices((images, labels)).batch(8))
    logits = model.predict(images, verbose=0)
    expected_accuracy = np.mean(np.argmax(logits, -1) == labels)
    expected_loss = np.mean(
        keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    )
    assert result["examples"] == 37 and result["steps"] == 5
    assert result["accuracy"] == pytest.approx(expected_accuracy)
    assert result["loss"] == pytest.approx(float(expected_loss), rel=1e-5)


def test_softmax_outputs_are_detected():
    images, labels = _data(n=16)
    logits_model = _model()
    probs_model = _model(softmax=True)
    assert training.Trainer(logits_model, None).from_logits
    assert not training.Trainer(probs_model, None).from_logits
    a = training.Trainer(logits_model, None).evaluate(_batches(images, labels, 16))
    b = training.Trainer(probs_model, None).evaluate(_batches(images, labels, 16))
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains(precision):
    images, labels = _data()
    with training.precision_policy(precision):
        model = _model()
    assert keras.config.dtype_policy().name == "float32"  # restored
    trainer = training.Trainer(model, keras.optimizers.SGD(0.1))
    if precision == "mixed_float16":
        assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    else:
        assert not isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
    first = trainer.train_epoch(_batches(images, labels, 16), steps=6)["loss"]
    for _ in range(3):
        last = trainer.train_epoch(_batches(images, labels, 16), steps=6)["loss"]
    assert np.isfinite(last) and last < first
    assert all(v.dtype == "float32" for v in model.trainable_variables)


def _decay_run(model, images, labels, optimizer, weight_decay, steps):
    recipe = recipes.get("default", optimizer=optimizer, weight_decay=weight_decay,
                         learning_rate=0.05, schedule="constant", warmup_epochs=0.0)
    trainer = training.Trainer(model, recipe.make_optimizer(steps_per_epoch=steps))
    trainer.train_epoch(_batches(images, labels, 16), steps=steps)
    slopes = [v.numpy() for v in model.trainable_variables if optimizers.is_slope_variable(v)]
    kernels = [v.numpy() for v in model.trainable_variables if not optimizers.is_slope_variable(v)]
    return slopes, kernels


@pytest.mark.parametrize("optimizer,weight_decay", [("sgd", 0.5), ("adamw", 5.0)])
def test_weight_decay_never_touches_slopes(optimizer, weight_decay):
    """One step from the same start, with and without a huge decay: kernels shrink, slopes are identical."""
    images, labels = _data()
    plain_slopes, plain_kernels = _decay_run(_model(), images, labels, optimizer, 0.0, 1)
    decayed_slopes, decayed_kernels = _decay_run(_model(), images, labels, optimizer, weight_decay, 1)
    assert len(plain_slopes) == 1
    np.testing.assert_array_equal(plain_slopes[0], decayed_slopes[0])
    assert not np.allclose(plain_slopes[0], 0.25)  # the slopes did get a gradient step
    assert np.linalg.norm(decayed_kernels[0]) < 0.9 * np.linalg.norm(plain_kernels[0])


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_slopes_without_gradient_stay_put_under_decay(optimizer):
    """PReLU on positive inputs gets no slope gradient: many decayed steps leave the slopes at 0.25."""
    images, labels = _data()
    images = np.abs(images)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12,))
    x = keras_prelu.PReLU()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    kernel_before = np.linalg.norm(model.layers[-1].kernel.numpy())
    slopes, kernels = _decay_run(model, images, labels, optimizer, 2.0, 6)
    np.testing.assert_array_equal(slopes[0], np.full((12,), 0.25, np.float32))
    assert np.linalg.norm(kernels[0]) < 0.9 * kernel_before


def test_learning_rate_follows_the_schedule():
    images, labels = _data()
    model = _model()
    recipe = recipes.get("resnet-cifar", epochs=4, augment=None)
    trainer = training.Trainer(model, recipe.make_optimizer(steps_per_epoch=6))
    rates = []
    for _ in range(4):
        trainer.train_epoch(_batches(images, labels, 16), steps=6)
        rates.append(trainer.learning_rate())
    # 24 steps: /10 from step 12, /100 from step 18; the last step of each epoch is 5, 11, 17, 23.
    np.testing.assert_allclose(rates, [0.1, 0.1, 0.01, 0.001], rtol=1e-6)


def test_bad_arguments():
    model = _model()
    with pytest.raises(ValueError, match="steps_per_execution"):
        training.Trainer(model, None, steps_per_execution=0)
    with pytest.raises(ValueError, match="jit_compile"):
        training.Trainer(model, None, jit_compile="yes")
    with pytest.raises(ValueError, match="no optimizer"):
        training.Trainer(model, None).train_epoch(_batches(*_data(), 16), steps=1)
    with pytest.raises(ValueError, match="strategy"):
        training.resolve_strategy("tpu_pod")
    with pytest.raises(ValueError, match="precision"):
        with training.precision_policy("float64"):
            pass


def test_resolve_strategy_without_tf_config_is_one_device(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = training.resolve_strategy("auto")
    assert strategy.num_replicas_in_sync == 1
    assert training.is_chief_task()


def test_slope_variables_finds_prelu_layers_only():
    model = _model()
    slopes = training.slope_variables(model)
    assert list(slopes) == [layer.name for layer in model.layers if isinstance(layer, keras_prelu.PReLU)]


def test_auto_xla_times_both_modes_on_real_steps_and_keeps_the_faster():
    images, labels = _data()
    reference = _model()
    training.Trainer(reference, keras.optimizers.SGD(0.1), jit_compile=False).train_epoch(
        _batches(images, labels, 8), steps=12
    )
    model = _model()
    trainer = training.Trainer(model, keras.optimizers.SGD(0.1), jit_compile="auto")
    assert trainer.jit_compile is None  # undecided until it has measured
    trained = 0
    while trainer.autotune is None:
        trained += trainer.train_epoch(_batches(images, labels, 8), steps=12)["steps"]
        assert trained < 2000
    report = trainer.autotune
    assert trainer.jit_compile == (report["chose"] == "xla")
    assert report["graph_seconds_per_step"] > 0 and report["xla_seconds_per_step"] > 0
    faster = "xla" if report["xla_seconds_per_step"] < report["graph_seconds_per_step"] else "graph"
    default = "xla" if training.default_jit_compile() else "graph"
    assert report["chose"] == (default if report["within_noise"] else faster)
    assert report["within_noise"] == (report["relative_difference"] <= report["relative_noise"])
    assert trainer.iterations == trained  # the timed steps were ordinary training steps
    # The first 12 of those steps are the same updates as plain graph mode's.
    check = _model()
    trainer_check = training.Trainer(check, keras.optimizers.SGD(0.1), jit_compile="auto")
    trainer_check.train_epoch(_batches(images, labels, 8), steps=12)
    for a, b in zip(reference.trainable_variables, check.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
