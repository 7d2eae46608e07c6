"""Losses of the dense pretext tasks: colorization (Zhang et al. 2016) and inpainting with its
adversarial term (Pathak et al. 2016)."""

import tensorflow as tf

from keras_ssl.distribute import cross_replica_sum, num_replicas


def soft_cross_entropy(logits, targets, weights=None):
    """Zhang et al.'s Eq. 2: the per-pixel cross-entropy of `targets` [B, h, w, Q] (soft
    distributions) under softmax(`logits`), times per-pixel `weights` [B, h, w] (class
    rebalancing), averaged over pixels.

    Example:
    ```python
    loss = soft_cross_entropy(logits, soft_encode(ab, bins), weights=w[nearest_bin])
    ```
    """
    logits = tf.cast(logits, tf.float32)
    per_pixel = -tf.reduce_sum(targets * tf.nn.log_softmax(logits, axis=-1), axis=-1)
    if weights is not None:
        per_pixel = per_pixel * weights
    return tf.reduce_mean(per_pixel)


def masked_l2(predictions, targets, weights):
    """Pathak et al.'s reconstruction loss (Eq. 1): sum of `weights` [B, H, W, 1] x squared error
    over pixels and channels, divided by sum(weights) x channels. Pixels of weight 0 (the context
    outside the hole and its overlap band) do not count at all.

    Under a strategy the divisor is the global batch's (summed over replicas, / replicas): random
    holes cover a different area on each replica, and the replicas' losses, summed as their
    gradients are, must give the one-device loss of the global batch.

    Example:
    ```python
    loss = masked_l2(decoded, images, hole + 10 * overlap_band(hole, 1))
    ```
    """
    predictions, targets = tf.cast(predictions, tf.float32), tf.cast(targets, tf.float32)
    weights = tf.cast(weights, tf.float32)
    channels = tf.cast(tf.shape(targets)[-1], tf.float32)
    error = tf.reduce_sum(weights * tf.square(predictions - targets))
    total_weight = cross_replica_sum(tf.reduce_sum(weights)) / num_replicas()
    return error / tf.maximum(total_weight * channels, 1e-12)


def discriminator_loss(real_logits, fake_logits):
    """GAN discriminator loss: -log D(real) - log(1 - D(fake)), averaged (Pathak et al. Eq. 2)."""
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return tf.reduce_mean(real) + tf.reduce_mean(fake)


def generator_adversarial_loss(fake_logits):
    """The generator's adversarial loss, -log D(G(x)) (the non-saturating form the paper's code
    uses), averaged."""
    return tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))
