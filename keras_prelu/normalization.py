"""BatchNormalization that runs as TensorFlow's fused kernel.

    from keras_prelu.normalization import BatchNormalization
    x = BatchNormalization(momentum=0.9, epsilon=1e-5)(x)     # Keras's arguments and variables

Keras 3 computes BatchNormalization from separate ops (training: moments,
subtract, multiply, add, about ten kernels forward and more backward;
inference: a multiply and an add over the whole tensor). On TensorFlow this
subclass runs both as one `FusedBatchNormV3` op (oneDNN's on CPU), with one
gradient op in training. In a zoo ResNet-20 on a 2-core CPU the training step
became about 30% faster (benchmarks/batchnorm.py), and in inference
TensorFlow's graph optimizer folds the op into the convolution before it
(with a following ReLU: one fused kernel), so serving got roughly 10-20% faster
(benchmarks/serving.py). Results equal Keras's within float32 rounding
(tested: outputs, gradients, moving statistics). The other backends, masks,
channels-first inputs and ranks other than 2 and 4 run Keras's own code, as do
training calls with `synchronized=True` or `renorm`.
"""

import keras

from keras_prelu.utils.backends import is_tensorflow


@keras.saving.register_keras_serializable(package="keras_prelu")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` as TensorFlow's fused kernel (training and inference)."""

    def _fusable(self, inputs, mask):
        rank = len(inputs.shape)
        return (
            mask is None and is_tensorflow() and rank in (2, 4) and self.axis in (-1, rank - 1)
        )

    def _trains(self, training):
        return bool(training) and self.trainable

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask) or (
            self._trains(training) and (self.synchronized or getattr(self, "renorm", False))
        ):
            return super().call(inputs, training=training, mask=mask)
        from keras_prelu import _tf_kernels

        x = keras.ops.cast(inputs, "float32")  # as Keras: computed in float32
        channels = x.shape[-1]
        gamma = self.gamma if self.scale else keras.ops.ones((channels,), "float32")
        beta = self.beta if self.center else keras.ops.zeros((channels,), "float32")
        gamma, beta = keras.ops.cast(gamma, "float32"), keras.ops.cast(beta, "float32")
        if not self._trains(training):
            outputs = _tf_kernels.fused_batch_norm_inference(
                x, gamma, beta, keras.ops.cast(self.moving_mean, "float32"),
                keras.ops.cast(self.moving_variance, "float32"), self.epsilon)
            return keras.ops.cast(outputs, self.compute_dtype)
        outputs, mean, variance = _tf_kernels.fused_batch_norm(x, gamma, beta, self.epsilon)
        moving_mean = keras.ops.cast(self.moving_mean, "float32")
        moving_variance = keras.ops.cast(self.moving_variance, "float32")
        self.moving_mean.assign(moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return keras.ops.cast(outputs, self.compute_dtype)
