"""NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR (Chen et al. 2020, eq. 1)."""

import tensorflow as tf

from keras_ssl.distribute import cross_replica_concat, replica_id

_MASK = 1e9


def nt_xent(z1, z2, temperature=0.5):
    """SimCLR's contrastive loss over the global batch; call it from a replica context.

    For 2N embeddings (N pairs (z1[k], z2[k]) over all replicas), each embedding's positive is its pair
    and its 2(N - 1) negatives are all other embeddings of the global batch, gathered across replicas:

        l(i, j) = -log( exp(sim(i, j) / t) / sum_{m != i} exp(sim(i, m) / t) ),  sim = cosine,

    and the loss is the mean of l over the 2N ordered positive pairs (the paper's 1 / 2N sum).

    Args:
        z1, z2: this replica's projections of the two views, [n, d] (any float dtype; computed in
            float32).
        temperature: the paper's tau (0.5 for CIFAR-10, appendix B.9; 0.1 for ImageNet).
    Returns:
        (loss, accuracy): this replica's mean loss over its 2n rows (the mean over replicas equals the
        one-device loss on the global batch) and the fraction of rows whose positive has the largest
        logit.
    """
    z1 = tf.math.l2_normalize(tf.cast(z1, tf.float32), axis=1)
    z2 = tf.math.l2_normalize(tf.cast(z2, tf.float32), axis=1)
    z1_all = cross_replica_concat(z1)
    z2_all = cross_replica_concat(z2)
    local = tf.shape(z1)[0]
    total = tf.shape(z1_all)[0]
    positives = replica_id() * local + tf.range(local)
    self_mask = tf.one_hot(positives, total) * _MASK

    logits_aa = tf.matmul(z1, z1_all, transpose_b=True) / temperature - self_mask
    logits_bb = tf.matmul(z2, z2_all, transpose_b=True) / temperature - self_mask
    logits_ab = tf.matmul(z1, z2_all, transpose_b=True) / temperature
    logits_ba = tf.matmul(z2, z1_all, transpose_b=True) / temperature
    logits_a = tf.concat([logits_ab, logits_aa], axis=1)
    logits_b = tf.concat([logits_ba, logits_bb], axis=1)
    loss_a = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positives, logits=logits_a)
    loss_b = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positives, logits=logits_b)
    loss = 0.5 * (tf.reduce_mean(loss_a) + tf.reduce_mean(loss_b))

    hits = tf.concat([
        tf.equal(tf.argmax(logits_a, axis=1, output_type=tf.int32), positives),
        tf.equal(tf.argmax(logits_b, axis=1, output_type=tf.int32), positives),
    ], axis=0)
    return loss, tf.reduce_mean(tf.cast(hits, tf.float32))
