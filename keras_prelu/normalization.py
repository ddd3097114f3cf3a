"""BatchNormalization that trains with TensorFlow's fused kernel.

    from keras_prelu.normalization import BatchNormalization
    x = BatchNormalization(momentum=0.9, epsilon=1e-5)(x)     # Keras's arguments and variables

Keras 3 computes a training-mode BatchNormalization from separate ops (moments,
subtract, multiply, add: about ten kernels forward and more backward). On
TensorFlow this subclass runs the training call as one `FusedBatchNormV3` op
(oneDNN's on CPU) and its gradient as one op; in a zoo ResNet-20 training step
on a 2-core CPU that made the step about 30% faster (benchmarks/train_throughput.py).
Results equal Keras's within float32 rounding (tested: outputs, gradients,
moving statistics). Inference, the other backends, masks, `synchronized=True`,
`renorm`, channels-first inputs and ranks other than 2 and 4 run Keras's own code.
"""

import keras

from keras_prelu.utils.backends import is_tensorflow


@keras.saving.register_keras_serializable(package="keras_prelu")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with TensorFlow's fused kernel in training calls."""

    def _fusable(self, inputs, training, mask):
        rank = len(inputs.shape)
        return (
            bool(training) and self.trainable and mask is None and is_tensorflow()
            and not self.synchronized and not getattr(self, "renorm", False)
            and rank in (2, 4) and self.axis in (-1, rank - 1)
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        from keras_prelu._tf_kernels import fused_batch_norm

        x = keras.ops.cast(inputs, "float32")  # as Keras: statistics in float32
        channels = x.shape[-1]
        gamma = self.gamma if self.scale else keras.ops.ones((channels,), "float32")
        beta = self.beta if self.center else keras.ops.zeros((channels,), "float32")
        outputs, mean, variance = fused_batch_norm(
            x, keras.ops.cast(gamma, "float32"), keras.ops.cast(beta, "float32"), self.epsilon)
        moving_mean = keras.ops.cast(self.moving_mean, "float32")
        moving_variance = keras.ops.cast(self.moving_variance, "float32")
        self.moving_mean.assign(moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return keras.ops.cast(outputs, self.compute_dtype)
