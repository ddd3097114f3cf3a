"""Slope constraints: `SlopeRange` (elementwise clip) and `PositiveSlope`."""

import keras
from keras import ops

from keras_prelu.utils.validation import PACKAGE, check_number



class SlopeConstraint(keras.constraints.Constraint):
    """Base of the slope constraints: a stateless callable with a range check."""

    def contains(self, value):
        """Whether a slope value satisfies the constraint."""
        raise NotImplementedError

    def describe(self):
        """The accepted range, for error messages."""
        raise NotImplementedError


@keras.saving.register_keras_serializable(package=PACKAGE)
class SlopeRange(SlopeConstraint):
    """Clips every slope into `[min_value, max_value]`.

    The default `[0, 1]` keeps PReLU between a ReLU and the identity.
    """

    def __init__(self, min_value=0.0, max_value=1.0):
        self.min_value = check_number("min_value", min_value)
        self.max_value = check_number("max_value", max_value)
        if self.min_value > self.max_value:
            raise ValueError(
                "`min_value` must be <= `max_value`. "
                f"Received: min_value={min_value}, max_value={max_value}"
            )

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        return ops.clip(w, ops.cast(self.min_value, w.dtype), ops.cast(self.max_value, w.dtype))

    def contains(self, value):
        return self.min_value <= value <= self.max_value

    def describe(self):
        return f"[{self.min_value}, {self.max_value}]"

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PositiveSlope(SlopeConstraint):
    """Keeps every slope >= `epsilon` > 0, so PReLU stays strictly increasing (invertible)."""

    def __init__(self, epsilon=1e-3):
        self.epsilon = check_number("epsilon", epsilon, minimum=0.0, strict_minimum=True)

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        return ops.maximum(w, ops.cast(self.epsilon, w.dtype))

    def contains(self, value):
        return value >= self.epsilon

    def describe(self):
        return f"[{self.epsilon}, inf)"

    def get_config(self):
        return {"epsilon": self.epsilon}


_BY_NAME = {"slope_range": SlopeRange, "positive_slope": PositiveSlope}


def get(identifier):
    """Resolve a constraint: our names (`"slope_range"`, `"positive_slope"`), else Keras's."""
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    try:
        return keras.constraints.get(identifier)
    except ValueError as error:
        raise ValueError(
            f"Unknown constraint. Accepted: {sorted(_BY_NAME)}, a Keras constraint "
            f"name, a config dict or a callable. Received: constraint={identifier!r}"
        ) from error

