"""NNCLR's loss (Dwibedi et al. 2021, "With a Little Help from My Friends: Nearest-Neighbor
Contrastive Learning of Visual Representations", eq. 2 and section 3.2) and its nearest-neighbour
lookup in the support set."""

import tensorflow as tf

from keras_ssl.losses.info_nce import batch_info_nce


def nearest_neighbours(embeddings, support):
    """NN(z, Q): for each row of `embeddings` [n, d], the row of `support` [m, d] with the largest
    cosine similarity to it, L2-normalised, without gradient (eq. 1: the support set is a fixed
    set of past embeddings)."""
    z = tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=1)
    q = tf.math.l2_normalize(tf.cast(support, tf.float32), axis=1)
    nearest = tf.argmax(tf.matmul(z, q, transpose_b=True), axis=1, output_type=tf.int32)
    return tf.stop_gradient(tf.gather(q, nearest))


def nnclr_loss(neighbours1, neighbours2, p1, p2, temperature=0.1):
    """The symmetrised NNCLR loss over the global batch; call it from a replica context.

    Eq. 2 scores the nearest neighbour NN(z_i) of view 1's embedding against the predictions p_k
    of view 2 for every k of the (global) batch, the positive being p_i:

        L_i = -log( exp(NN(z_i) . p_i / t) / sum_k exp(NN(z_i) . p_k / t) ),

    and section 3.2 symmetrises it with the transposed term, which scores p_i against every
    NN(z_k). With the roles of the views swapped too (as VISSL's NNCLR loss and the keras-io
    example do), the loss is the mean of the four terms, each `batch_info_nce` of this replica's
    rows against the global batch's (gathered across replicas: solo-learn#229 reported NNCLR's
    loss on the local batch only). All vectors are L2-normalised (cosine similarity).

    Args:
        neighbours1, neighbours2: `nearest_neighbours` of this replica's view-1 / view-2
            projections, [n, d].
        p1, p2: this replica's predictions of views 1 and 2, [n, d].
        temperature: t (0.1 in the paper, section 4.1).
    Returns:
        (loss, accuracy): this replica's loss (the mean over replicas is the one-device loss on
        the global batch) and the fraction of its 4n rows whose positive has the largest logit.
    """
    terms = [batch_info_nce(a, b, temperature) for a, b in
             ((neighbours1, p2), (p2, neighbours1), (neighbours2, p1), (p1, neighbours2))]
    return (tf.add_n([loss for loss, _ in terms]) / 4.0,
            tf.add_n([accuracy for _, accuracy in terms]) / 4.0)
