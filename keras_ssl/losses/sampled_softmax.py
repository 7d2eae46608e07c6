"""A sampled softmax over one candidate set shared by the batch: the batch's own classes plus
classes drawn uniformly (Exemplar-CNN's scalable form, `keras_ssl.methods.Exemplar`)."""

import math

import tensorflow as tf


def uniform_classes(seed, num_sampled, num_classes):
    """`num_sampled` class ids, each drawn uniformly from 0..num_classes-1 with replacement, from a
    stateless `seed` ([2] ints). Every class has the same chance (TF's integer draw is biased by at
    most num_classes / 2**32 of a class's probability), unlike `tf.nn.sampled_softmax_loss`'s
    default log-uniform sampler, which favours low ids."""
    return tf.random.stateless_uniform([num_sampled], seed, minval=0, maxval=num_classes,
                                       dtype=tf.int32)


def sampled_softmax_cross_entropy(features, kernel, bias, labels, sampled, num_classes):
    """Softmax cross-entropy of a linear classifier over N classes, with its normaliser estimated
    from the batch's classes and uniform draws.

    The candidates are the batch's distinct classes (rows sharing a class, e.g. views of one seed,
    give it one column) and the M draws `sampled`. For row i with logits l_ic = f_i . w_c + b_c:

        loss_i = -l_iy + log(sum_{c in batch} exp(l_ic) + N/M sum_{d: s_d not in batch} exp(l_is_d))

    Each draw is class j with probability 1 / N, so the second sum is an unbiased estimate of
    sum_j exp(l_ij) over the classes outside the batch (the log-expected-count correction: M / N
    per draw), and the batch's classes, present with probability 1, enter exactly with no
    correction. Draws that hit a batch class are dropped, since that class is already counted (a
    wider removal than `tf.nn.sampled_softmax_loss(remove_accidental_hits=True)`, which drops only
    the row's own class). With every class drawn once (sampled = 0..N-1) it is the full softmax.
    The log of the estimate makes the loss biased (low, by Jensen), the less the larger M.

    Args:
        features: [n, d] float.
        kernel: [d, N], bias: [N], the classifier's weights (only the candidates' columns are read,
            so the gradient is sparse).
        labels: [n] int, each row's class.
        sampled: [M] int, the drawn classes (`uniform_classes`).
        num_classes: N.
    Returns:
        (loss, accuracy): the mean loss, and the fraction of rows whose class has the largest raw
        logit among the candidates (an upper bound on the full classifier's top-1, equal to it when
        every class is a candidate).
    """
    labels = tf.cast(labels, tf.int32)
    sampled = tf.cast(sampled, tf.int32)
    n, m = tf.shape(labels)[0], tf.shape(sampled)[0]
    same = tf.equal(labels[:, None], labels[None, :])
    # The first row of each class holds its column; later rows of the class are masked.
    position = tf.range(n)
    first = tf.reduce_min(tf.where(same, position[None, :], n), axis=1)
    keep = tf.concat([tf.equal(first, position),
                      tf.logical_not(tf.reduce_any(tf.equal(sampled[:, None], labels[None, :]),
                                                   axis=1))], axis=0)
    candidates = tf.concat([labels, sampled], axis=0)
    logits = (tf.matmul(tf.cast(features, tf.float32),
                        tf.gather(tf.cast(kernel, tf.float32), candidates, axis=1))
              + tf.gather(tf.cast(bias, tf.float32), candidates))
    log_weight = tf.concat([tf.zeros([n]), tf.fill([m], math.log(num_classes) - tf.math.log(
        tf.cast(m, tf.float32)))], axis=0)
    masked = tf.fill(tf.shape(logits), float("-inf"))
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=first, logits=tf.where(keep[None, :], logits + log_weight, masked))
    predicted = tf.argmax(tf.where(keep[None, :], logits, masked), axis=1, output_type=tf.int32)
    return (tf.reduce_mean(loss),
            tf.reduce_mean(tf.cast(tf.equal(predicted, first), tf.float32)))
