"""InfoNCE, MoCo's contrastive loss (He et al. 2020, eq. 1): over a dictionary of negative keys (a
queue), or over the keys of the global batch (MoCo v3)."""

import tensorflow as tf

from keras_ssl.distribute import cross_replica_concat, replica_id


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


def batch_info_nce(queries, keys, temperature):
    """InfoNCE whose dictionary is the keys of the global batch (MoCo v3, Chen, Xie & He 2021,
    Algorithm 1; NNCLR's loss, Dwibedi et al. 2021, eq. 2, is of this form too); call it from a
    replica context.

    Query i of this replica is scored against the keys of every replica, gathered in replica
    order; its positive is key i of this replica (global row `replica_id() * n + i`), the other
    keys of the global batch are its negatives:

        L_i = -log( exp(q_i . k_i / t) / sum_{j in global batch} exp(q_i . k_j / t) ),

    with q and k L2-normalised. The keys are gathered with their gradient (a key that comes from a
    momentum encoder has none; one that comes from the trained network gets it back on the
    replica that made it).

    Args:
        queries: this replica's queries, [n, d] (any float dtype; computed in float32).
        keys: this replica's keys, [n, d]; row i the positive of query i.
        temperature: t.
    Returns:
        (loss, accuracy): this replica's mean loss over its n queries (the mean over replicas is
        the one-device loss on the global batch) and the fraction of queries whose positive has
        the largest logit.
    """
    q = tf.math.l2_normalize(tf.cast(queries, tf.float32), axis=1)
    k = cross_replica_concat(tf.math.l2_normalize(tf.cast(keys, tf.float32), axis=1))
    logits = tf.matmul(q, k, transpose_b=True) / temperature
    labels = replica_id() * tf.shape(q)[0] + tf.range(tf.shape(q)[0])
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    hits = tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), labels)
    return loss, tf.reduce_mean(tf.cast(hits, tf.float32))
