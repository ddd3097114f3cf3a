"""Rectifier layers: `PReLU` (learnable slopes), `LeakyReLU` (fixed), `RReLU` (random)."""

import numbers

import keras
import numpy as np
from keras import ops

from keras_prelu import constraints as slope_constraints
from keras_prelu import ops as prelu_ops
from keras_prelu.utils.validation import PACKAGE, check_choice, check_int, check_number

DATA_FORMATS = ("channels_last", "channels_first")


def constant_value(initializer):
    """The value a constant initializer fills with, or None for any other initializer."""
    if isinstance(initializer, keras.initializers.Zeros):
        return 0.0
    if isinstance(initializer, keras.initializers.Ones):
        return 1.0
    if isinstance(initializer, keras.initializers.Constant):
        return float(ops.convert_to_numpy(initializer.value))
    return None


def _resolve_initializer(value, default):
    """A Keras initializer from a finite number (a constant slope), a name, config or instance;
    None means `default`."""
    if value is None:
        value = default
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return keras.initializers.Constant(check_number("alpha_initializer", value))
    try:
        return keras.initializers.get(value)
    except (ValueError, TypeError):
        raise ValueError(
            "`alpha_initializer` must be a finite number, a Keras initializer or its name or "
            f"config. Received: alpha_initializer={value!r}"
        ) from None


def _check_float_input(layer, dtype):
    dtype = keras.backend.standardize_dtype(dtype)
    if not keras.backend.is_float_dtype(dtype):
        raise ValueError(
            f"{type(layer).__name__} needs floating-point inputs. "
            f"Received: inputs.dtype={dtype}"
        )


class _RectifierLayer(keras.layers.Layer):
    """Checks shared by the rectifiers: float inputs, also on symbolic inputs."""

    def compute_output_spec(self, inputs, *args, **kwargs):
        _check_float_input(self, inputs.dtype)
        return super().compute_output_spec(inputs, *args, **kwargs)


def _check_rank(layer, input_shape):
    if len(input_shape) < 1:
        raise ValueError(
            f"{type(layer).__name__} needs inputs with a batch axis (rank >= 1). "
            f"Received: input_shape={tuple(input_shape)}"
        )


@keras.saving.register_keras_serializable(package=PACKAGE)
class PReLU(_RectifierLayer):
    """Parametric ReLU (He et al. 2015): `x` for `x >= 0`, `alpha * x` for `x < 0`.

    By default one learnable slope per channel, initialised to 0.25, for inputs
    of any rank with unknown spatial sizes (rank 1, a batch of scalars: one slope). A drop-in for
    `keras.layers.PReLU`: its arguments mean the same when given explicitly.

    Args:
        alpha_initializer: initial slope, a float (default 0.25) or any Keras
            initializer.
        alpha_regularizer: Keras regularizer for the slopes (leave None: decay
            pushes slopes back to ReLU).
        alpha_constraint: e.g. `"positive_slope"` or `SlopeRange(0, 1)`.
        shared_axes: Keras semantics: one slope per element except along these
            axes (1-based, batch excluded). Exclusive with `channel_shared`.
        channel_shared: one slope for the whole layer.
        data_format: `"channels_last"` (default from Keras config) or
            `"channels_first"`: where the channel axis is.
    """

    def __init__(
        self,
        alpha_initializer=0.25,
        alpha_regularizer=None,
        alpha_constraint=None,
        shared_axes=None,
        channel_shared=False,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.alpha_initializer = _resolve_initializer(alpha_initializer, default=0.25)
        if not isinstance(channel_shared, (bool, np.bool_)):
            raise ValueError(f"`channel_shared` must be True or False. "
                             f"Received: channel_shared={channel_shared!r}")
        self.alpha_regularizer = keras.regularizers.get(alpha_regularizer)
        self.alpha_constraint = slope_constraints.get(alpha_constraint)
        if shared_axes is not None and channel_shared:
            raise ValueError(
                "Pass either `shared_axes` or `channel_shared=True`, not both. "
                f"Received: shared_axes={shared_axes}, channel_shared={channel_shared}"
            )
        if shared_axes is not None and not isinstance(shared_axes, (list, tuple)):
            shared_axes = [shared_axes]
        if shared_axes is not None:
            for axis in shared_axes:
                try:
                    check_int("shared_axes", axis, minimum=1)
                except ValueError:
                    raise ValueError(
                        "`shared_axes` must hold axis indices >= 1 (axis 0 is the "
                        f"batch). Received: shared_axes={shared_axes}"
                    ) from None
        self.shared_axes = None if shared_axes is None else list(shared_axes)
        self.channel_shared = bool(channel_shared)
        self.data_format = check_choice(
            "data_format",
            keras.config.image_data_format() if data_format is None else data_format,
            DATA_FORMATS,
        )
        self._check_initial_slope_fits_constraint()

    def _check_initial_slope_fits_constraint(self):
        initial = constant_value(self.alpha_initializer)
        constraint = self.alpha_constraint
        if (
            initial is not None
            and isinstance(constraint, slope_constraints.SlopeConstraint)
            and not constraint.contains(initial)
        ):
            raise ValueError(
                f"The initial slope is outside the range {constraint.describe()} "
                f"allowed by alpha_constraint={type(constraint).__name__}. "
                f"Received: alpha_initializer={initial}"
            )

    def _param_shape(self, input_shape):
        rank = len(input_shape)
        if self.channel_shared:
            return (1,)
        if self.shared_axes is not None:
            for axis in self.shared_axes:
                if axis >= rank:
                    raise ValueError(
                        f"`shared_axes` must be in [1, {rank - 1}] for inputs of rank "
                        f"{rank}. Received: shared_axes={self.shared_axes}"
                    )
            shape = list(input_shape[1:])
            for axis in self.shared_axes:
                shape[axis - 1] = 1
            if any(size is None for size in shape):
                raise ValueError(
                    "Every axis not in `shared_axes` needs a known size. "
                    f"Received: input_shape={tuple(input_shape)}, "
                    f"shared_axes={self.shared_axes}"
                )
            return tuple(shape)
        if rank == 1:  # (batch,): one slope, as keras.layers.PReLU has for such inputs
            return (1,)
        channel_axis = 1 if self.data_format == "channels_first" else rank - 1
        channels = input_shape[channel_axis]
        if channels is None:
            raise ValueError(
                "PReLU needs a known channel dimension (axis "
                f"{channel_axis} for data_format={self.data_format!r}). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        # Trailing ones let the slopes broadcast along the spatial axes.
        return (channels,) + (1,) * (rank - 1 - channel_axis)

    def build(self, input_shape):
        _check_rank(self, input_shape)
        self.alpha = self.add_weight(
            shape=self._param_shape(input_shape),
            name="alpha",
            initializer=self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )
        # Later calls must match the axes the slopes were sized for.
        rank = len(input_shape)
        param_shape = tuple(self.alpha.shape)
        offset = rank - len(param_shape)
        axes = {
            offset + i: input_shape[offset + i]
            for i, size in enumerate(param_shape)
            if size != 1 or input_shape[offset + i] == 1
        }
        self.input_spec = keras.layers.InputSpec(ndim=rank, axes=axes)

    def call(self, inputs):
        _check_float_input(self, inputs.dtype)
        return prelu_ops.prelu(inputs, self.alpha)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alpha_initializer": keras.initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": keras.regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": keras.constraints.serialize(self.alpha_constraint),
                "shared_axes": self.shared_axes,
                "channel_shared": self.channel_shared,
                "data_format": self.data_format,
            }
        )
        return config

    def compute_output_shape(self, input_shape):
        return input_shape

    @property
    def initial_slope(self):
        """The constant the slopes start from, or None for a random initializer."""
        return constant_value(self.alpha_initializer)


@keras.saving.register_keras_serializable(package=PACKAGE)
class LeakyReLU(_RectifierLayer):
    """Leaky ReLU with a fixed slope, default 0.01 (Maas et al. 2013; Keras's default is 0.3)."""

    def __init__(self, negative_slope=0.01, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.negative_slope = check_number("negative_slope", negative_slope, minimum=0.0)
        self.built = True  # weightless, built at construction like Keras's own LeakyReLU

    def call(self, inputs):
        _check_float_input(self, inputs.dtype)
        return ops.leaky_relu(inputs, negative_slope=self.negative_slope)

    def get_config(self):
        config = super().get_config()
        config.update({"negative_slope": self.negative_slope})
        return config

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class RReLU(_RectifierLayer):
    """Randomized leaky ReLU (Xu et al. 2015).

    In training every negative element gets its own slope drawn from
    U(lower, upper); at inference the slope is the mean (lower + upper) / 2.

    Args:
        lower: smallest slope, default 1/8.
        upper: largest slope, default 1/3.
        seed: int for reproducible draws.
    """

    def __init__(self, lower=1.0 / 8.0, upper=1.0 / 3.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.lower = check_number("lower", lower, minimum=0.0)
        self.upper = check_number("upper", upper)
        if self.lower > self.upper:
            raise ValueError(
                f"`lower` must be <= `upper`. Received: lower={lower}, upper={upper}"
            )
        self.seed = None if seed is None else check_int("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True  # no weights: built at construction, like Keras's Dropout

    @property
    def mean_slope(self):
        """The inference-time slope (lower + upper) / 2."""
        return 0.5 * (self.lower + self.upper)

    @property
    def rms_slope(self):
        """sqrt(E[a**2]) for a ~ U(lower, upper): the slope that sets the training-time variance."""
        lo, hi = self.lower, self.upper
        return ((lo * lo + lo * hi + hi * hi) / 3.0) ** 0.5

    def call(self, inputs, training=False):
        _check_float_input(self, inputs.dtype)
        if not training:
            return ops.leaky_relu(inputs, negative_slope=self.mean_slope)
        slopes = keras.random.uniform(
            ops.shape(inputs),
            minval=self.lower,
            maxval=self.upper,
            dtype=inputs.dtype,
            seed=self.seed_generator,
        )
        return ops.where(ops.less(inputs, 0), inputs * slopes, inputs)

    def get_config(self):
        config = super().get_config()
        config.update({"lower": self.lower, "upper": self.upper, "seed": self.seed})
        return config

    def compute_output_shape(self, input_shape):
        return input_shape
