"""VICReg's variance-invariance-covariance loss (Bardes, Ponce & LeCun 2022, eqs. 1-6), over the
global batch."""

import tensorflow as tf

from keras_ssl.distribute import cross_replica_concat


def vicreg_loss(z1, z2, invariance_weight=25.0, variance_weight=25.0, covariance_weight=1.0,
                gamma=1.0, epsilon=1e-4):
    """lambda s(Z, Z') + mu (v(Z) + v(Z')) / 2 + nu (c(Z) + c(Z')) on the global batch.

    With N pairs over all replicas (gathered by `keras_ssl.distribute.cross_replica_concat`, whose
    gradient returns each replica its rows) and d dimensions:

    - invariance s: the mean over the N x d entries of (z1 - z2)^2 (eq. 5);
    - variance v(Z): the mean over dimensions of max(0, gamma - sqrt(Var(z_j) + epsilon)), Var the
      unbiased variance over the batch (eqs. 1-2);
    - covariance c(Z): the sum of the squared off-diagonal entries of the covariance matrix
      (centred, divided by N - 1), divided by d (eqs. 3-4).

    Every term is a statistic of the global batch, so each replica computes the one-device loss and
    the method's division by the replica count gives the one-device gradient (the authors'
    `main_vicreg.py` gathers with `FullGatherLayer` the same way). The variance term is halved as
    in the authors' code (the paper's eq. 6 sums v(Z) + v(Z') without the 1/2; the coefficients
    25 / 25 / 1 were tuned with the code).

    Args:
        z1, z2: this replica's projections of the two views, [n, d] (any float dtype; computed in
            float32).
        invariance_weight, variance_weight, covariance_weight: lambda, mu, nu (25, 25, 1: section
            4.1).
        gamma: the target standard deviation (1); epsilon: the variance's stabiliser (1e-4).
    Returns:
        (loss, invariance, variance, covariance): the loss and its three terms before weighting
        (variance and covariance summed over the two views, variance halved as in the loss).
    """
    z1 = cross_replica_concat(tf.cast(z1, tf.float32))
    z2 = cross_replica_concat(tf.cast(z2, tf.float32))
    invariance = tf.reduce_mean(tf.square(z1 - z2))
    variance = 0.5 * (_variance(z1, gamma, epsilon) + _variance(z2, gamma, epsilon))
    covariance = _covariance(z1) + _covariance(z2)
    loss = (invariance_weight * invariance + variance_weight * variance
            + covariance_weight * covariance)
    return loss, invariance, variance, covariance


def _centred(z):
    return z - tf.reduce_mean(z, axis=0, keepdims=True)


def _variance(z, gamma, epsilon):
    n = tf.cast(tf.shape(z)[0], tf.float32)
    unbiased = tf.reduce_sum(tf.square(_centred(z)), axis=0) / (n - 1.0)
    return tf.reduce_mean(tf.nn.relu(gamma - tf.sqrt(unbiased + epsilon)))


def _covariance(z):
    n = tf.cast(tf.shape(z)[0], tf.float32)
    x = _centred(z)
    covariance = tf.matmul(x, x, transpose_a=True) / (n - 1.0)
    off_diagonal = tf.reduce_sum(tf.square(covariance)) - tf.reduce_sum(
        tf.square(tf.linalg.diag_part(covariance)))
    return off_diagonal / tf.cast(tf.shape(z)[1], tf.float32)
