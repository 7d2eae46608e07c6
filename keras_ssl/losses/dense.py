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
    """Pathak et al.'s reconstruction loss (Eq. 1) as their code (`train.lua`) scales it: the
    squared error times `weights` [B, H, W, 1], averaged over the predicted region's elements
    (pixels of weight > 0, times channels). `train.lua`: nn.MSECriterion's mean over the predicted
    patch, its gradient times 10 on the overlap ring (overlapL2Weight); weights 1 (hole) and 10
    (band) give exactly that. Pixels of weight 0 do not count at all. Units are the caller's (the
    authors' are [-1, 1]: the squared error is 4x that of [0, 1] pixels).

    Under a strategy the divisor is the global batch's (summed over replicas, / replicas): random
    holes cover a different area on each replica, and the replicas' losses, summed as their
    gradients are, must give the one-device loss of the global batch.

    Example:
    ```python
    loss = masked_l2(2 * decoded - 1, 2 * images - 1, hole + 10 * overlap_band(hole, 1))
    ```
    """
    predictions, targets = tf.cast(predictions, tf.float32), tf.cast(targets, tf.float32)
    weights = tf.cast(weights, tf.float32)
    channels = tf.cast(tf.shape(targets)[-1], tf.float32)
    error = tf.reduce_sum(weights * tf.square(predictions - targets))
    region = tf.reduce_sum(tf.cast(weights > 0, tf.float32))
    region = cross_replica_sum(region) / num_replicas()
    return error / tf.maximum(region * channels, 1.0)


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
