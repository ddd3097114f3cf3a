"""Slope constraints: values, names, bad arguments (configs and round trips: tests/test_serializable.py)."""

import keras
import numpy as np
import pytest

from keras_prelu import PositiveSlope, SlopeRange, constraints


def test_slope_range_clips_elementwise():
    w = np.array([-1.0, 0.2, 0.7, 3.0], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(SlopeRange(0.0, 0.5)(w)), [0, 0.2, 0.5, 0.5])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(SlopeRange()(w)), [0, 0.2, 0.7, 1.0])


def test_positive_slope_keeps_slopes_at_least_epsilon():
    w = np.array([-1.0, 0.0, 1e-4, 0.5], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(PositiveSlope(1e-3)(w)), [1e-3, 1e-3, 1e-3, 0.5])


@pytest.mark.parametrize("name,cls", [("slope_range", SlopeRange), ("positive_slope", PositiveSlope)])
def test_string_names(name, cls):
    assert isinstance(constraints.get(name), cls)


def test_keras_names_still_work():
    assert isinstance(constraints.get("non_neg"), keras.constraints.NonNeg)
    assert constraints.get(None) is None


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: SlopeRange(1.0, 0.0), "min_value=1.0, max_value=0.0"),
        (lambda: SlopeRange("a", 1.0), "min_value='a'"),
        (lambda: PositiveSlope(0.0), "epsilon=0.0"),
        (lambda: PositiveSlope(-1), "epsilon=-1"),
        (lambda: constraints.get("nope"), "Received: constraint='nope'"),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
