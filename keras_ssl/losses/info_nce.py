"""InfoNCE over a dictionary of negative keys, MoCo's contrastive loss (He et al. 2020, eq. 1)."""

import tensorflow as tf


def info_nce(queries, positive_keys, negative_keys, temperature=0.2):
    """MoCo's loss of each query against its positive key and a set of negative keys (the queue):

        L_q = -log( exp(q . k+ / t) / (exp(q . k+ / t) + sum_{k-} exp(q . k- / t)) ),

    with q, k+ and every k- L2-normalised (as MoCo normalises its encoders' outputs), i.e. softmax
    cross-entropy over the logits [q . k+, q . queue] / t with the positive as class 0.

    Args:
        queries: [n, d] (any float dtype; computed in float32).
        positive_keys: [n, d], row i the positive of query i. Stop their gradient before calling
            if they come from a key (momentum) encoder.
        negative_keys: [m, d], shared by all queries.
        temperature: t (0.07 in MoCo v1, 0.2 in MoCo v2, Chen et al. 2020 "Improved baselines").
    Returns:
        (loss, accuracy): the mean loss over the n queries and the fraction of queries whose positive
        has the largest logit.
    """
    q = tf.math.l2_normalize(tf.cast(queries, tf.float32), axis=1)
    k = tf.math.l2_normalize(tf.cast(positive_keys, tf.float32), axis=1)
    negatives = tf.math.l2_normalize(tf.cast(negative_keys, tf.float32), axis=1)
    positive_logits = tf.reduce_sum(q * k, axis=1, keepdims=True)
    negative_logits = tf.matmul(q, negatives, transpose_b=True)
    logits = tf.concat([positive_logits, negative_logits], axis=1) / temperature
    labels = tf.zeros_like(logits[:, 0], dtype=tf.int32)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    hits = tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), labels)
    return loss, tf.reduce_mean(tf.cast(hits, tf.float32))
