"""One harness for every serializable class of the package, in the spirit of Keras's `run_layer_test`.

    from serializable_checks import check_serializable
    check_serializable(PReLU(shared_axes=[1, 2]), input_shape=(2, 3, 3, 2))
    check_serializable(SlopeRange(0.05, 0.9))

Every object: its `get_config` survives JSON and rebuilds an equal object
(`from_config`), and `keras.saving.serialize_keras_object` /
`deserialize_keras_object` give it back without `custom_objects` (a class of
ours under its registered name `keras_prelu>ClassName`). Then, by kind:

- layers (`check_layer`): eager and `tf.function` calls agree, the output shape
  is `compute_output_shape`'s, one `fit` step gives a finite loss, and a
  `.keras` save/load of a small model using it gives identical outputs;
- initializers: the same values after the round trip (for a seeded instance);
- constraints: the same result on a tensor after the round trip;
- learning-rate schedules: the same values at several steps after the round
  trip, and the same under `tf.function`;
- optimizers (from `keras_prelu.optimizers.get`): one step leaves the slopes
  (variables named `alpha`) undecayed, for the optimizer and for the one
  `keras_prelu.optimizers.get` rebuilds from its serialized form.
"""

import json
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

import keras_prelu

PACKAGE = "keras_prelu"
KINDS = ("layer", "initializer", "constraint", "schedule", "optimizer")
DEFAULT_STEPS = (0, 1, 2, 5, 10, 25, 50, 100, 1000)


def kind_of(obj):
    """Which of `KINDS` an object is; TypeError for anything else."""
    if isinstance(obj, keras.layers.Layer):
        return "layer"
    if isinstance(obj, keras.initializers.Initializer):
        return "initializer"
    if isinstance(obj, keras.constraints.Constraint):
        return "constraint"
    if isinstance(obj, keras.optimizers.schedules.LearningRateSchedule):
        return "schedule"
    if isinstance(obj, keras.optimizers.Optimizer):
        return "optimizer"
    raise TypeError(f"no serializable checks for {type(obj).__name__}: extend tests/serializable_checks.py")


def registered_name(cls):
    """`keras_prelu>Name` for a class registered under our package, else None."""
    name = keras.saving.get_registered_name(cls)
    return name if name.startswith(PACKAGE + ">") else None


def check_serializable(obj, **kwargs):
    """All checks for `obj`'s kind (`kwargs` go to that kind's check); returns the deserialized copy."""
    checks = {
        "layer": check_layer,
        "initializer": check_initializer,
        "constraint": check_constraint,
        "schedule": check_schedule,
        "optimizer": check_optimizer,
    }
    return checks[kind_of(obj)](obj, **kwargs)


def check_config(obj):
    """The config round trips common to every kind; returns (rebuilt from config, deserialized)."""
    cls = type(obj)
    config = obj.get_config()
    config_again = json.loads(json.dumps(config))
    assert config_again == config, "get_config() does not survive JSON unchanged"
    clone = cls.from_config(config_again)
    assert type(clone) is cls
    assert clone.get_config() == config

    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))
    name = registered_name(cls)
    if cls.__module__.split(".")[0] in (PACKAGE, "zoo"):
        assert name == f"{PACKAGE}>{cls.__name__}", (
            f"{cls.__name__} is not registered under package {PACKAGE!r} (got {name!r})"
        )
        assert serialized["registered_name"] == name
        assert keras.saving.get_registered_object(name) is cls
    restored = keras.saving.deserialize_keras_object(serialized)  # no custom_objects
    assert type(restored) is cls
    assert restored.get_config() == config
    return clone, restored


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def check_layer(layer, input_shape, seed=0):
    """All layer checks on inputs of `input_shape` (batch included); returns the deserialized copy.

    Calls `layer` itself (so it gets built); the model checks use copies from its config.
    """
    clone, restored = check_config(layer)
    x = np.random.default_rng(seed).standard_normal(input_shape).astype("float32")

    eager = _numpy(layer(x))
    graph = tf.function(lambda t: layer(t))(tf.constant(x)).numpy()
    np.testing.assert_allclose(eager, graph, rtol=1e-6, atol=1e-6, err_msg="eager and tf.function differ")
    assert tuple(layer.compute_output_shape(tuple(input_shape))) == eager.shape
    assert tuple(layer.compute_output_shape((None, *input_shape[1:]))) == (None, *eager.shape[1:])
    for copy in (clone, restored):  # the config holds all that sets the outputs, weights aside
        copy.build(tuple(input_shape))
        copy.set_weights(layer.get_weights())
        np.testing.assert_array_equal(_numpy(copy(x)), eager, err_msg="a copy from the config computes otherwise")

    model = _small_model(type(layer).from_config(layer.get_config()), input_shape)
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    target = np.random.default_rng(seed + 1).standard_normal((input_shape[0], 3)).astype("float32")
    loss = model.train_on_batch(x, target)
    assert np.isfinite(loss), f"one fit step gave loss {loss}"
    check_keras_file(model, x)
    return restored


def _small_model(layer, input_shape):
    inputs = keras.Input(tuple(input_shape[1:]))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(layer(inputs)))
    return keras.Model(inputs, outputs)


def check_keras_file(model, x):
    """Save `model` as `.keras`, load it back (safe mode, no custom_objects): identical outputs on `x`.

    Returns the loaded model.
    """
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(
        _numpy(loaded(x, training=False)), _numpy(model(x, training=False)),
        err_msg="outputs differ after a .keras save/load",
    )
    return loaded


# ---------------------------------------------------------------------------
# Initializers, constraints, schedules
# ---------------------------------------------------------------------------


def check_initializer(initializer, shape=(6, 5)):
    """Config round trips; a seeded initializer draws the same values after them."""
    clone, restored = check_config(initializer)
    expected = _numpy(initializer(shape))
    for copy in (clone, restored, keras.initializers.get(keras.initializers.serialize(initializer))):
        np.testing.assert_array_equal(_numpy(copy(shape)), expected)
    return restored


def check_constraint(constraint, values=None):
    """Config round trips; the same result on a tensor after them."""
    clone, restored = check_config(constraint)
    if values is None:
        values = np.linspace(-2.0, 2.0, 17).astype("float32")
    expected = _numpy(constraint(tf.constant(values)))
    for copy in (clone, restored, keras.constraints.get(keras.constraints.serialize(constraint))):
        np.testing.assert_array_equal(_numpy(copy(tf.constant(values))), expected)
    return restored


def schedule_values(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def check_schedule(schedule, steps=DEFAULT_STEPS):
    """Config round trips; the same values at `steps` after them and under `tf.function`."""
    clone, restored = check_config(schedule)
    expected = schedule_values(schedule, steps)
    assert np.all(np.isfinite(expected))
    serialized = keras.optimizers.schedules.serialize(schedule)
    for copy in (clone, restored, keras.optimizers.schedules.deserialize(serialized)):
        np.testing.assert_array_equal(schedule_values(copy, steps), expected)
    graph = tf.function(lambda step: schedule(step))
    np.testing.assert_allclose(
        [float(graph(tf.constant(step, "int64"))) for step in steps], expected, rtol=1e-6, atol=1e-9
    )
    return restored


# ---------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------


def one_step_without_gradient(optimizer):
    """One `fit` step of Dense -> PReLU where every gradient is zero, so only weight decay moves
    weights; returns (kernel, alpha) after it (both start at ones and 0.25)."""
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(4, kernel_initializer="ones", use_bias=False)
    prelu = keras_prelu.PReLU()
    model = keras.Model(inputs, prelu(dense(inputs)))
    model.compile(optimizer=optimizer, loss="mse", jit_compile=False)
    x = np.ones((2, 4), "float32")  # positive inputs: the outputs equal the targets, zero gradients
    model.train_on_batch(x, _numpy(model(x)))
    return dense.kernel.numpy(), prelu.alpha.numpy()


def check_slopes_undecayed(optimizer):
    """One step with `optimizer` decays kernels (when it has weight decay) but not slopes."""
    kernel, alpha = one_step_without_gradient(optimizer)
    np.testing.assert_array_equal(alpha, np.full(alpha.shape, 0.25, "float32"), err_msg="slopes decayed")
    if optimizer.weight_decay:
        assert np.all(kernel < 1.0), "kernels were not decayed"


def check_optimizer(optimizer):
    """Config round trips of an unbuilt optimizer from `keras_prelu.optimizers.get`; one step with
    it, and with the optimizer `keras_prelu.optimizers.get` rebuilds from its serialized form,
    leaves the slopes undecayed. Uses `optimizer` up (it gets built)."""
    assert not optimizer.built, "pass an optimizer before its first step"
    _, restored = check_config(optimizer)
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(optimizer)))
    check_slopes_undecayed(optimizer)
    check_slopes_undecayed(keras_prelu.optimizers.get(serialized))
    return restored
