"""NegativeFractionMonitor: known answers, NumPy parity, one compiled pass, callback logs, TensorBoard."""

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_prelu import LeakyReLU, PReLU, RReLU
from keras_prelu.diagnostics import NegativeFractionMonitor, measure_negative_fraction
from keras_prelu.diagnostics import negative_fraction as nf_module
from keras_prelu.utils.summaries import read_scalars


def _rng(seed=0):
    return np.random.default_rng(seed)


def _single(layer, shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


def test_layer_fed_only_negative_inputs_reports_one():
    model = _single(PReLU(name="act"), (5,))
    x = -np.abs(_rng().normal(size=(40, 5))).astype("float32") - 0.1
    report = measure_negative_fraction(model, x)
    layer = report.layers["act"]
    np.testing.assert_array_equal(layer.negative_fraction, np.ones(5))
    np.testing.assert_array_equal(layer.positive_fraction, np.zeros(5))
    assert layer.count == 40
    assert report.examples == 40
    assert not layer.idle.any()
    assert report.idle_fraction == 0.0
    assert report.dead_fraction == 0.0  # slope 0.25: the PReLU channels cannot die
    assert report.never_positive_fraction == 1.0


def test_slope_that_never_sees_negatives_is_idle():
    model = _single(PReLU(name="act"), (3,))
    x = np.abs(_rng().normal(size=(30, 3))).astype("float32") + 0.1
    report = measure_negative_fraction(model, x, idle_threshold=0.01)
    np.testing.assert_array_equal(report.layers["act"].negative_fraction, np.zeros(3))
    assert report.layers["act"].idle.all()
    assert report.idle_fraction == 1.0


def test_relu_unit_with_bias_minus_100_is_dead_and_only_it():
    inputs = keras.Input((6,))
    dense = keras.layers.Dense(4, name="hidden")
    hidden = keras.layers.ReLU(name="relu")(dense(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    kernel = _rng(1).normal(size=(6, 4)).astype("float32")
    dense.set_weights([kernel, np.array([-100.0, 0.0, 0.0, 0.0], "float32")])
    x = _rng(2).normal(size=(64, 6)).astype("float32")
    report = measure_negative_fraction(model, x, batch_size=16)
    layer = report.layers["relu"]
    np.testing.assert_array_equal(layer.dead, [True, False, False, False])
    assert layer.negative_fraction[0] == 1.0
    assert report.dead_fraction == pytest.approx(0.25)
    assert layer.to_dict()["dead_channels"] == [0]


def test_counts_match_numpy_over_several_batches_with_a_partial_last_one():
    inputs = keras.Input((7,))
    dense = keras.layers.Dense(5, name="hidden")
    model = keras.Model(inputs, PReLU(name="act")(dense(inputs)))
    x = _rng(3).normal(size=(50, 7)).astype("float32")
    kernel, bias = dense.get_weights()
    pre = x @ kernel + bias
    report = measure_negative_fraction(model, x, batch_size=16)  # 16 + 16 + 16 + 2
    np.testing.assert_allclose(report.layers["act"].negative_fraction, (pre < 0).mean(axis=0))
    np.testing.assert_allclose(report.layers["act"].positive_fraction, (pre > 0).mean(axis=0))


def test_channels_are_the_last_axis_or_the_first_for_channels_first():
    signs = np.array([-1.0, 1.0, -1.0], "float32")
    magnitude = np.abs(_rng(4).normal(size=(4, 2, 2, 3))).astype("float32") + 0.1
    last = _single(PReLU(name="act"), (2, 2, 3))
    report = measure_negative_fraction(last, magnitude * signs)
    np.testing.assert_array_equal(report.layers["act"].negative_fraction, [1.0, 0.0, 1.0])
    assert report.layers["act"].count == 4 * 2 * 2

    first = _single(PReLU(data_format="channels_first", name="act"), (3, 2, 2))
    x_first = np.transpose(magnitude * signs, (0, 3, 1, 2))
    report = measure_negative_fraction(first, x_first)
    np.testing.assert_array_equal(report.layers["act"].negative_fraction, [1.0, 0.0, 1.0])


@pytest.mark.parametrize(
    "layer,kind",
    [
        (keras.layers.ReLU(), "relu"),
        (keras.layers.Activation("relu"), "relu"),
        (keras.layers.PReLU(), "prelu"),
        (keras.layers.LeakyReLU(), "leaky"),
        (LeakyReLU(), "leaky"),
        (RReLU(seed=1), "leaky"),
        (keras.layers.ReLU(negative_slope=0.1), "leaky"),
    ],
    ids=[
        "keras_relu",
        "activation_relu",
        "keras_prelu",
        "keras_leaky",
        "leaky",
        "rrelu",
        "relu_slope",
    ],
)
def test_every_rectifier_kind_is_monitored(layer, kind):
    model = _single(layer, (4,))
    x = np.tile(np.array([[-1.0, -2.0, 3.0, 0.5]], "float32"), (8, 1))
    report = measure_negative_fraction(model, x)
    (entry,) = report.layers.values()
    assert entry.kind == kind
    np.testing.assert_array_equal(entry.negative_fraction, [1.0, 1.0, 0.0, 0.0])
    # keras.layers.PReLU starts at slope 0: its never-positive channels pass no gradient either.
    can_die = kind in ("relu", "prelu")
    np.testing.assert_array_equal(entry.dead, [can_die, can_die, False, False])


def test_relu_threshold_counts_inputs_below_it_as_negative():
    model = _single(keras.layers.ReLU(threshold=1.0, name="act"), (2,))
    x = np.full((5, 2), 0.5, "float32")
    report = measure_negative_fraction(model, x)
    assert report.layers["act"].dead.all()


def test_dataset_with_labels_gives_the_same_report_as_arrays():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.ReLU(name="act")(keras.layers.Dense(3)(inputs)))
    x = _rng(5).normal(size=(20, 4)).astype("float32")
    y = np.zeros(20)
    from_arrays = measure_negative_fraction(model, (x, y), batch_size=8)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(6)
    from_dataset = measure_negative_fraction(model, dataset)
    np.testing.assert_allclose(
        from_arrays.layers["act"].negative_fraction, from_dataset.layers["act"].negative_fraction
    )


def test_one_traced_pass_serves_repeated_measurements():
    model = _single(PReLU(name="act"), (3,))
    x = _rng(6).normal(size=(12, 3)).astype("float32")
    measure_negative_fraction(model, x, batch_size=4)
    measure_negative_fraction(model, x * 2, batch_size=4)
    counter = nf_module._COUNTERS[model]
    assert isinstance(counter._count, tf.types.experimental.PolymorphicFunction)
    assert counter._count.experimental_get_tracing_count() == 1


def test_nested_model_layers_are_named_outer_slash_inner():
    inner_in = keras.Input((3,))
    inner = keras.Model(inner_in, PReLU(name="act")(inner_in), name="block")
    outer_in = keras.Input((3,))
    model = keras.Model(outer_in, keras.layers.ReLU(name="top")(inner(outer_in)))
    x = -np.ones((4, 3), "float32")
    report = measure_negative_fraction(model, x)
    assert list(report.layers) == ["block/act", "top"]
    np.testing.assert_array_equal(report.layers["block/act"].negative_fraction, np.ones(3))


def test_fused_relu_is_reported_as_unmonitored():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="relu", name="fused")(inputs))
    with pytest.warns(UserWarning, match="fused"):
        report = measure_negative_fraction(model, np.ones((2, 3), "float32"))
    assert report.layers == {}


def test_callback_logs_history_and_tensorboard(tmp_path):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, bias_initializer=keras.initializers.Constant(-100.0))(inputs)
    hidden = keras.layers.ReLU(name="relu")(hidden)
    hidden = PReLU(name="prelu")(keras.layers.Dense(3)(hidden))
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    model.compile("sgd", "mse")
    x = _rng(7).normal(size=(32, 4)).astype("float32")
    y = np.zeros((32, 2), "float32")
    monitor = NegativeFractionMonitor(x, log_dir=tmp_path)
    history = model.fit(x, y, epochs=2, batch_size=16, callbacks=[monitor], verbose=0)
    # 8 dead ReLU channels of the 11 that can die (8 ReLU + 3 PReLU with slope 0.25).
    assert history.history["dead_fraction"] == [8 / 11, 8 / 11]
    assert len(history.history["idle_fraction"]) == 2
    assert monitor.history["epoch"] == [0, 1]
    assert monitor.history["layers"]["relu"]["dead_channels"][0] == list(range(8))
    json.dumps(monitor.history)
    assert monitor.report.layers["relu"].dead.all()
    scalars = read_scalars(tmp_path)
    assert [v for _, v in scalars["diagnostics/dead_fraction"]] == pytest.approx([8 / 11] * 2)


def test_markdown_and_dict_views():
    model = _single(keras.layers.ReLU(name="act"), (2,))
    report = measure_negative_fraction(model, np.array([[-1.0, 1.0]], "float32"))
    text = str(report)
    assert "| act | relu | 2 |" in text
    assert json.loads(json.dumps(report.to_dict()))["layers"]["act"]["dead_channels"] == [0]


def test_bad_arguments_raise():
    model = _single(PReLU(), (2,))
    with pytest.raises(ValueError, match="Received: idle_threshold"):
        measure_negative_fraction(model, np.ones((2, 2), "float32"), idle_threshold=2.0)
    with pytest.raises(ValueError, match="Received: data="):
        measure_negative_fraction(model, iter([1, 2]))
    with pytest.raises(ValueError, match="Received: data=None"):
        NegativeFractionMonitor().measure(model)

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="Received: model=Subclassed"):
        measure_negative_fraction(Subclassed(), np.ones((2, 2), "float32"))


def test_model_without_rectifiers_gives_an_empty_report():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = measure_negative_fraction(model, np.ones((3, 2), "float32"))
    assert report.layers == {} and report.scalars() == {}


def test_a_prelu_channel_is_dead_only_where_its_slope_is_exactly_zero():
    inputs = keras.Input((3,))
    dense = keras.layers.Dense(3, name="hidden")
    act = PReLU(name="act")
    model = keras.Model(inputs, act(dense(inputs)))
    dense.set_weights([np.zeros((3, 3), "float32"), np.array([-1.0, -1.0, 1.0], "float32")])
    act.alpha.assign(np.array([0.0, 0.25, 0.0], "float32"))
    report = measure_negative_fraction(model, _rng(3).normal(size=(20, 3)).astype("float32"))
    layer = report.layers["act"]
    # Channel 0: never positive, slope 0 -> dead. Channel 1: never positive, slope 0.25 -> alive.
    # Channel 2: always positive -> alive whatever its slope.
    np.testing.assert_array_equal(layer.dead, [True, False, False])
    assert report.dead_fraction == pytest.approx(1 / 3)
    assert report.never_positive_fraction == pytest.approx(2 / 3)
