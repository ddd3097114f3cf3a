"""SlopeTracker: statistics per layer, history layout, warnings at <= 0 and >= 1."""

import json
import warnings

import keras
import numpy as np
import pytest

from keras_prelu import PReLU
from keras_prelu.diagnostics import SlopeTracker, SlopeWarning, slope_statistics
from keras_prelu.utils.summaries import read_scalars


def _model():
    inputs = keras.Input((4,))
    hidden = PReLU(name="p1")(keras.layers.Dense(3)(inputs))
    hidden = keras.layers.ReLU()(keras.layers.Dense(5)(hidden))
    outputs = PReLU(name="p2", alpha_initializer=0.5)(keras.layers.Dense(2)(hidden))
    return keras.Model(inputs, outputs)


def test_statistics_match_the_slopes():
    model = _model()
    model.get_layer("p1").alpha.assign([0.1, 0.4, 0.7])
    stats = slope_statistics(model, bins=4)
    assert list(stats) == ["p1", "p2"]  # the ReLU has no learnable slope
    p1 = stats["p1"]
    assert p1["mean"] == pytest.approx(0.4) and p1["min"] == pytest.approx(0.1)
    assert p1["max"] == pytest.approx(0.7) and p1["count"] == 3
    assert sum(p1["histogram"]["counts"]) == 3 and len(p1["histogram"]["edges"]) == 5
    assert stats["p2"]["mean"] == pytest.approx(0.5)


def test_history_has_the_plot_layout_and_is_json_serializable(tmp_path):
    model = _model()
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    tracker = SlopeTracker(log_dir=tmp_path, record_initial=True)
    model.fit(x, np.zeros((16, 2), "float32"), epochs=2, verbose=0, callbacks=[tracker])
    history = json.loads(json.dumps(tracker.history))
    assert history["epoch"] == [-1, 0, 1]
    assert set(history["slopes"]) == {"p1", "p2"}
    for series in history["slopes"].values():
        assert set(series) == {"mean", "min", "max"}
        assert all(len(v) == 3 for v in series.values())
    assert history["slopes"]["p1"]["mean"][0] == pytest.approx(0.25)
    final = model.get_layer("p1").alpha.numpy()
    assert history["slopes"]["p1"]["max"][-1] == pytest.approx(float(final.max()))
    assert len(history["histograms"]["p2"]) == 3
    scalars = read_scalars(tmp_path)
    assert [step for step, _ in scalars["slopes/p1/mean"]] == [0, 1]


@pytest.mark.parametrize(
    "values,match",
    [
        ([-0.1, 0.2, 0.3], "<= 0"),
        ([0.0, 0.2, 0.3], "<= 0"),
        ([0.2, 1.0, 0.3], ">= 1"),
        ([0.2, 1.5, 0.3], ">= 1"),
    ],
)
def test_warns_when_a_slope_leaves_the_open_unit_interval(values, match):
    model = _model()
    model.get_layer("p1").alpha.assign(values)
    tracker = SlopeTracker()
    with pytest.warns(SlopeWarning, match=match):
        tracker.record(model, epoch=0)


def test_no_warning_inside_the_interval_and_one_warning_per_episode():
    model = _model()
    tracker = SlopeTracker()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tracker.record(model, epoch=0)  # 0.25 and 0.5: fine
    model.get_layer("p2").alpha.assign([1.2, 0.5])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker.record(model, epoch=1)
        tracker.record(model, epoch=2)  # still linear: no second warning
        model.get_layer("p2").alpha.assign([0.9, 0.5])
        tracker.record(model, epoch=3)
        model.get_layer("p2").alpha.assign([1.0, 0.5])
        tracker.record(model, epoch=4)  # linear again: warns again
    messages = [str(w.message) for w in caught if issubclass(w.category, SlopeWarning)]
    assert len(messages) == 2 and all("'p2'" in m and "linear" in m for m in messages)


def test_keras_prelu_layer_is_tracked_too():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.PReLU(name="kp")(inputs))
    stats = slope_statistics(model)
    assert stats["kp"]["count"] == 3 and stats["kp"]["mean"] == 0.0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="Received: bins=0"):
        SlopeTracker(bins=0)
    with pytest.raises(ValueError, match="Received: bins="):
        slope_statistics(_model(), bins=2.5)


def test_non_finite_slopes_warn_and_never_crash_the_training_observed(tmp_path):
    import keras

    from keras_prelu.diagnostics import NegativeFractionMonitor

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(PReLU(name="p")(keras.layers.Dense(4)(inputs))))
    model.compile("sgd", "mse")
    model.get_layer("p").alpha.assign(np.array([np.nan, 0.25, np.inf, 0.3], "float32"))
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    tracker = SlopeTracker(log_dir=tmp_path)
    monitor = NegativeFractionMonitor(x)
    with pytest.warns(SlopeWarning, match="not finite") as caught:
        model.fit(x, np.zeros((16, 2), "float32"), epochs=2, verbose=0, callbacks=[tracker, monitor])
    assert any("non-finite weights" in str(w.message) for w in caught)
    assert tracker.history["epoch"] == [0, 1]
    assert np.isnan(tracker.history["slopes"]["p"]["mean"][0])
    stats = slope_statistics(model)["p"]
    assert stats["non_finite"] >= 2 and stats["count"] == 4
