"""SimSiam's negative cosine similarity with a stop-gradient (Chen & He 2021, eqs. 1-2)."""

import tensorflow as tf


def negative_cosine(predictions, targets):
    """Mean over the batch of -cos(p, stopgrad(z)), SimSiam's D(p, stopgrad(z)) (eqs. 1 and 3).

    One view order: the predictor's output p of one view and the projection z of the other. The
    symmetric loss of the paper (eq. 2) is `0.5 * (negative_cosine(p1, z2) + negative_cosine(p2,
    z1))`. The stop-gradient on z is what keeps SimSiam from collapsing (section 4.1); it is
    applied here. The mean over rows is each replica's share of the global mean, as every
    per-example loss of this library.

    Args:
        predictions: [n, d] predictor outputs (any float dtype; computed in float32).
        targets: [n, d] projections of the other view; no gradient flows into them.
    Returns:
        The mean over the n rows, in [-1, 1] (-1: every prediction points along its target).
    """
    p = tf.math.l2_normalize(tf.cast(predictions, tf.float32), axis=1)
    z = tf.math.l2_normalize(tf.stop_gradient(tf.cast(targets, tf.float32)), axis=1)
    return -tf.reduce_mean(tf.reduce_sum(p * z, axis=1))
