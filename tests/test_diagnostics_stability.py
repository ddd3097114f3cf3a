"""stability_report: weight gains, balancing slopes, chains, vanishing/exploding flags."""

import json
import math

import keras
import numpy as np
import pytest

import keras_prelu
from keras_prelu import PReLU
from keras_prelu.diagnostics import stability_report

DEPTH, WIDTH = 8, 64


def _mlp(activation="relu", stddev=None, depth=DEPTH, width=WIDTH, seed=0):
    inputs = keras.Input((32,))
    x = inputs
    for i in range(depth):
        last = i == depth - 1
        if stddev is None:
            init = keras_prelu.kernel_initializer_for(activation, seed=seed + i)
        else:
            init = keras.initializers.RandomNormal(stddev=stddev, seed=seed + i)
        x = keras.layers.Dense(10 if last else width, kernel_initializer=init, name=f"d{i}")(x)
        if not last:
            x = keras_prelu.get_activation(activation, name=f"a{i}")(x)
    return keras.Model(inputs, x)


def _batch(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 32)).astype("float32"), rng.integers(0, 10, n)


@pytest.mark.parametrize("activation", ["relu", "prelu"])
def test_well_initialised_deep_mlp_is_not_flagged(activation):
    report = stability_report(_mlp(activation), _batch()[0])
    assert report.ok, report.flags
    (chain,) = report.chains
    assert chain.layers == [f"d{i}" for i in range(DEPTH)]
    assert 0.2 < chain.measured_gain < 5.0
    # Slope-matched He init: every hidden layer's expected gain is about 1.
    for entry in report.layers[:-1]:
        assert entry.expected_gain == pytest.approx(1.0, rel=0.15)


@pytest.mark.parametrize("stddev,status", [(0.01, "vanishing"), (1.0, "exploding")])
def test_badly_scaled_deep_relu_mlp_is_flagged(stddev, status):
    report = stability_report(_mlp("relu", stddev=stddev), _batch()[0])
    assert not report.ok
    assert report.chains[0].status == status
    assert report.end_to_end_status == status
    assert any(flag.startswith(status) for flag in report.flags)


def test_flags_also_with_labels_and_the_compiled_loss():
    model = _mlp("relu", stddev=0.01)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    report = stability_report(model, _batch())
    assert report.objective == "the model's compiled loss"
    assert report.chains[0].status == "vanishing"
    report = stability_report(
        _mlp("relu"), _batch(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    assert report.ok and report.objective.startswith("loss")


def test_gains_and_balancing_slope_have_known_values():
    inputs = keras.Input((4,))
    d1, d2, d3 = (keras.layers.Dense(4, name=f"d{i}") for i in (1, 2, 3))
    x = PReLU(alpha_initializer=0.5, name="p1")(d1(inputs))
    x = keras.layers.ReLU(name="r2")(d2(x))
    model = keras.Model(inputs, d3(x))
    for layer, scale in ((d1, 2.0), (d2, 0.5), (d3, 4.0)):
        layer.set_weights([scale * np.eye(4, dtype="float32"), np.zeros(4, "float32")])
    report = stability_report(model, np.ones((2, 4), "float32"))
    gains = [e.weight_gain for e in report.layers]
    np.testing.assert_allclose(
        gains, [2.0, 0.5, 4.0], rtol=1e-6
    )  # sqrt(fan_in * mean(w^2)) = scale
    np.testing.assert_allclose([e.slope for e in report.layers], [0.5, 0.0, 1.0])
    np.testing.assert_allclose([e.negative_gain for e in report.layers], [1.0, 0.0, 4.0], rtol=1e-6)
    np.testing.assert_allclose(
        report.layers[0].expected_gain, 2.0 * math.sqrt((1 + 0.25) / 2), rtol=1e-6
    )
    (chain,) = report.chains
    assert chain.weight_gain_product == pytest.approx(4.0)
    assert chain.balancing_slope == pytest.approx(4.0 ** (-1 / 3))


def test_batchnorm_after_a_layer_enters_its_gain():
    inputs = keras.Input((3,))
    dense = keras.layers.Dense(3, name="d")
    bn = keras.layers.BatchNormalization(name="bn")
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.ReLU()(bn(dense(inputs)))))
    dense.set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])
    bn.set_weights([np.full(3, 3.0), np.zeros(3), np.zeros(3), np.full(3, 4.0 - bn.epsilon)])
    report = stability_report(model, np.ones((4, 3), "float32"), training=False)
    assert report.layer("d").norm_gain == pytest.approx(1.5)
    assert report.layer("d").weight_gain == pytest.approx(1.5)


def test_residual_branches_are_separate_chains():
    inputs = keras.Input((8,))
    stem = keras.layers.ReLU()(keras.layers.Dense(8, name="stem")(inputs))
    branch = keras.layers.ReLU()(keras.layers.Dense(8, name="b1")(stem))
    branch = keras.layers.Dense(8, name="b2")(branch)
    merged = keras.layers.ReLU()(keras.layers.Add()([stem, branch]))
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(merged))
    report = stability_report(model, np.ones((4, 8), "float32"))
    assert [c.layers for c in report.chains] == [["stem"], ["b1", "b2"], ["head"]]
    assert report.chains[0].measured_gain is None
    assert report.layer("b2").activation is not None  # the ReLU after the Add


def test_views_are_readable_and_serializable():
    report = stability_report(_mlp("prelu", depth=3, width=8), _batch()[0])
    text = str(report)
    assert "balancing slope" in text and "| d0 |" in text and "Flags: none" in text
    assert report.to_markdown() == text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["chains"][0]["layers"] == ["d0", "d1", "d2"]


def test_bad_input_raises():
    model = _mlp("relu", depth=2, width=4)
    with pytest.raises(ValueError, match="Received: tolerance"):
        stability_report(model, _batch()[0], tolerance=1.0)
    with pytest.raises(ValueError, match="Received: loss=None"):
        stability_report(model, _batch())  # labels, but no compiled loss
    inputs = keras.Input((3,))
    with pytest.raises(ValueError, match="Dense or convolution"):
        stability_report(
            keras.Model(inputs, keras.layers.ReLU()(inputs)), np.ones((2, 3), "float32")
        )
