"""Batch normalisation on TensorFlow's fused kernel.

Keras 3's `BatchNormalization` computes the moments and the normalisation as separate element-wise
ops on the TensorFlow backend; their forward and backward passes took about as long as all the
convolutions of a ResNet-18 train step on this CPU (benchmarks/step_profile.py). TensorFlow's fused
kernel (`FusedBatchNormV3`, oneDNN on x86) computes the same function in one pass each way.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_ssl")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` (same arguments, weights and results) on the fused kernel.

    The fused kernel serves channels-last inputs of rank 2 or 4 without a mask; synchronized
    (cross-replica, "global") batch norm and every other case take Keras' own path. The moving
    variance is updated with the biased batch variance, as Keras does (the kernel returns the
    unbiased one).

    Example:
    ```python
    x = keras_ssl.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
    ```
    """

    def _fused(self, inputs, mask):
        rank = len(inputs.shape)
        return (mask is None and not self.synchronized and not self.renorm and rank in (2, 4)
                and self.axis in (-1, rank - 1))

    def call(self, inputs, training=None, mask=None):
        if not self._fused(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        shape = tf.shape(inputs)
        x = inputs if len(inputs.shape) == 4 else inputs[:, None, None, :]
        if x.dtype not in (tf.float32, tf.bfloat16, tf.float16):
            x = tf.cast(x, tf.float32)
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels])
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, is_training=True)
            count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
            self.moving_mean.assign(
                self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, mean=tf.cast(self.moving_mean, tf.float32),
                variance=tf.cast(self.moving_variance, tf.float32), epsilon=self.epsilon,
                is_training=False)
        return tf.cast(tf.reshape(y, shape), self.compute_dtype)
