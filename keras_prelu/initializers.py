"""Slope-matched variance-preserving initializers (He et al. 2015).

For a rectifier with negative slope a0, a layer with fan-in n keeps the
activation variance when Var(W) = 2 / (n * (1 + a0**2)). a0 = 0 is He
initialisation, a0 = 1 the linear (LeCun) case.
"""

import keras

from keras_prelu.utils.validation import PACKAGE, check_choice, check_number

_MODES = ("fan_in", "fan_out", "fan_avg")
#: Beyond this |slope| the gain 2 / (1 + a**2) underflows to nothing useful (and a**2 overflows).
MAX_SLOPE = 1e6


def prelu_gain(negative_slope):
    """The variance scale 2 / (1 + a0**2) for a rectifier of slope a0."""
    return 2.0 / (1.0 + negative_slope**2)


class _PReLUVarianceScaling(keras.initializers.VarianceScaling):
    _distribution = None

    def __init__(self, negative_slope=0.25, mode="fan_in", seed=None):
        self.negative_slope = check_number("negative_slope", negative_slope,
                                           minimum=-MAX_SLOPE, maximum=MAX_SLOPE)
        check_choice("mode", mode, _MODES)
        super().__init__(
            scale=prelu_gain(self.negative_slope),
            mode=mode,
            distribution=self._distribution,
            seed=seed,
        )

    def get_config(self):
        return {
            "negative_slope": self.negative_slope,
            "mode": self.mode,
            "seed": keras.saving.serialize_keras_object(self._init_seed),
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class PReLUHeNormal(_PReLUVarianceScaling):
    """Truncated normal with Var(W) = 2 / (n * (1 + a0**2)), n the fan-in (or fan-out).

    Like Keras's `HeNormal`, the truncation at two standard deviations is
    corrected so the variance is exact.

    Args:
        negative_slope: the slope a0 of the following rectifier (0.25 for PReLU).
        mode: `"fan_in"` (forward variance), `"fan_out"` (backward) or `"fan_avg"`.
        seed: int or `keras.random.SeedGenerator`, for reproducible draws.
    """

    _distribution = "truncated_normal"


@keras.saving.register_keras_serializable(package=PACKAGE)
class PReLUHeUniform(_PReLUVarianceScaling):
    """Uniform on [-l, l] with l = sqrt(6 / (n * (1 + a0**2))): the same variance as `PReLUHeNormal`."""

    _distribution = "uniform"
