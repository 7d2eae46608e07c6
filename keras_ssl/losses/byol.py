"""BYOL's regression loss (Grill et al. 2020, eq. 2)."""

import tensorflow as tf


def byol_loss(predictions, targets):
    """Mean over the batch of ||p/||p|| - z/||z||||^2 = 2 - 2 cos(p, z), with no gradient into z.

    BYOL's loss for one view order: the online network's prediction p of one view regresses the
    target network's projection z of the other. The symmetrised loss of the paper is
    `byol_loss(p1, z2) + byol_loss(p2, z1)`.

    Args:
        predictions: [n, d] online predictions (any float dtype; computed in float32).
        targets: [n, d] target projections; `stop_gradient` is applied here.
    Returns:
        The mean loss over the n rows, in [0, 4].
    """
    p = tf.math.l2_normalize(tf.cast(predictions, tf.float32), axis=1)
    z = tf.math.l2_normalize(tf.stop_gradient(tf.cast(targets, tf.float32)), axis=1)
    return tf.reduce_mean(2.0 - 2.0 * tf.reduce_sum(p * z, axis=1))
