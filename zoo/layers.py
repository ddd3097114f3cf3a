"""Layers only the zoo's models use (registered under the "keras_prelu" package on `import zoo`)."""

import keras
from keras import ops

from keras_prelu.layers import DATA_FORMATS
from keras_prelu.utils.validation import PACKAGE, check_choice, check_int


@keras.saving.register_keras_serializable(package=PACKAGE)
class ZeroPadShortcut(keras.layers.Layer):
    """Option-A residual shortcut (He et al. 2016): subsample, then zero-pad the channels.

    Keeps every `strides`-th row and column (like a 1x1 convolution with that
    stride and "same" padding) and pads the channel axis with zeros, half
    before and half after, up to `channels`. Parameter-free.

    Args:
        channels: number of output channels, >= the input's.
        strides: spatial subsampling factor (1 keeps the size).
        data_format: `"channels_last"` (default from Keras config) or `"channels_first"`.
    """

    def __init__(self, channels, strides=2, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = check_int("channels", channels, minimum=1)
        self.strides = check_int("strides", strides, minimum=1)
        self.data_format = check_choice(
            "data_format",
            keras.config.image_data_format() if data_format is None else data_format,
            DATA_FORMATS,
        )

    def _channel_axis(self, rank):
        return 1 if self.data_format == "channels_first" else rank - 1

    def _padding(self, input_shape):
        rank = len(input_shape)
        if rank < 3:
            raise ValueError(
                "ZeroPadShortcut needs inputs of rank >= 3 (batch, spatial..., channels). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        in_channels = input_shape[self._channel_axis(rank)]
        if in_channels is None or in_channels > self.channels:
            raise ValueError(
                "ZeroPadShortcut needs a known number of input channels <= `channels`. "
                f"Received: input_shape={tuple(input_shape)}, channels={self.channels}"
            )
        extra = self.channels - in_channels
        return extra // 2, extra - extra // 2

    def build(self, input_shape):
        self._padding(input_shape)

    def call(self, inputs):
        rank = len(inputs.shape)
        channel_axis = self._channel_axis(rank)
        if self.strides > 1:
            index = [slice(None)] * rank
            for axis in range(1, rank):
                if axis != channel_axis:
                    index[axis] = slice(None, None, self.strides)
            inputs = inputs[tuple(index)]
        before, after = self._padding(inputs.shape)
        if before == after == 0:
            return inputs
        pad_width = [[0, 0]] * rank
        pad_width[channel_axis] = [before, after]
        return ops.pad(inputs, pad_width)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"channels": self.channels, "strides": self.strides, "data_format": self.data_format}
        )
        return config

    def compute_output_shape(self, input_shape):
        rank = len(input_shape)
        channel_axis = self._channel_axis(rank)
        shape = list(input_shape)
        for axis in range(1, rank):
            if axis == channel_axis:
                shape[axis] = self.channels
            elif shape[axis] is not None:
                shape[axis] = -(-shape[axis] // self.strides)
        return tuple(shape)
