"""Barlow Twins' redundancy-reduction loss (Zbontar et al. 2021, eqs. 1-2), over the global batch."""

import tensorflow as tf

from keras_ssl.distribute import cross_replica_concat

#: The batch norm (without scale and offset) of the authors' `main.py` that standardises the
#: embeddings: PyTorch's default epsilon, with the biased batch variance of training mode.
EPSILON = 1e-5


def barlow_twins_loss(z1, z2, lambd=5e-3):
    """sum_i (1 - C_ii)^2 + lambd * sum_{i != j} C_ij^2, C the cross-correlation of the two views.

    Each embedding dimension is standardised over the batch (mean 0, biased variance 1, as the
    authors' affine-free batch norm does), and C = z1n^T z2n / N over the N pairs of the GLOBAL
    batch: the embeddings are gathered across replicas (`keras_ssl.distribute.cross_replica_concat`,
    whose gradient returns each replica its rows), so each replica computes the one-device loss on
    the global batch, and the per-replica division of the loss by the replica count (the method's
    train step) gives the one-device gradient. The authors' code reaches the same C with a
    synchronized batch norm and an all-reduce of the per-GPU products.

    Args:
        z1, z2: this replica's projections of the two views, [n, d] (any float dtype; computed in
            float32).
        lambd: weight of the off-diagonal (redundancy) terms: 5e-3 in the paper for d = 8192
            (section 4, "implementation details"; the authors' `main.py` has 0.0051).
    Returns:
        (loss, on_diagonal, off_diagonal): the loss and its two sums (unweighted), each the same on
        every replica.
    """
    z1 = cross_replica_concat(tf.cast(z1, tf.float32))
    z2 = cross_replica_concat(tf.cast(z2, tf.float32))
    n = tf.cast(tf.shape(z1)[0], tf.float32)
    c = tf.matmul(_standardise(z1), _standardise(z2), transpose_a=True) / n
    diagonal = tf.linalg.diag_part(c)
    on_diagonal = tf.reduce_sum(tf.square(1.0 - diagonal))
    off_diagonal = tf.reduce_sum(tf.square(c)) - tf.reduce_sum(tf.square(diagonal))
    return on_diagonal + lambd * off_diagonal, on_diagonal, off_diagonal


def _standardise(z):
    mean, variance = tf.nn.moments(z, axes=[0])
    return (z - mean) * tf.math.rsqrt(variance + EPSILON)
