"""AMDIM's multiscale NCE objective (Bachman, Hjelm & Buchwalter 2019, arXiv 1906.00910, eq. (5),
sections 3.5 and 3.7).

For a source feature of image i (a global f1 vector, or one f5 location) and the target map of the
other view (every location of f5 or f7), the positive at a location is the same image's target there;
the negatives are every location of every other image's target, over the GLOBAL batch (targets are
gathered across replicas). The scores are computed once as a [n_local, N_global, L] tensor and the
log-softmax is the paper's masked pseudo-code: s_shift = s - max_neg, s_exp = exp(s_shift),
s_other = sum of s_exp over the negatives (shared by all L positives of the source), and
s_nce = s_shift_pos - log(s_exp_pos + s_other).

Soft clipping c * tanh(s / c) (c = 20) keeps the scores bounded, and lambda * mean(s^2) is added on
the raw, unclipped scores of all pairs: lambda = 5e-2 by default, the authors' released code
(costs.py, `lgt_reg`); the paper's text says 4e-2.
Following the authors' code (costs.py), scores are divided by sqrt(n_rkhs) before both.
"""

import tensorflow as tf

from keras_ssl.distribute import cross_replica_concat, replica_id


def soft_clip(scores, clip):
    """c * tanh(s / c); `clip=None` leaves the scores unchanged."""
    if clip is None:
        return scores
    return clip * tf.tanh(scores / clip)


def nce_scores(source, target, clip=20.0, gather=True):
    """NCE log-softmax scores of each local source against the (gathered) targets.

    Args:
        source: [n, d] or [n, k, d] (k mixture components) this replica's source features.
        target: [n, L, d] this replica's target features (L locations); gathered over replicas
            (unless `gather=False`, the deliberate local-negatives variant tests use).
        clip: soft-clipping range c (None: no clipping).
    Returns:
        (s_nce [n, L] or [n, k, L], raw_sq_mean): the NCE scores of every positive location and the
        mean of the squared raw scores over all [n, (k,) N, L] pairs (the regulariser's term).
    """
    source = tf.cast(source, tf.float32)
    target = tf.cast(target, tf.float32)
    mixture = source.shape.rank == 3
    if not mixture:
        source = source[:, None, :]
    n = tf.shape(source)[0]
    dim = tf.cast(tf.shape(source)[-1], tf.float32)
    targets = cross_replica_concat(target) if gather else target
    total = tf.shape(targets)[0]
    offset = replica_id() * n if gather else 0
    # raw[i, c, j, l] = <source[i, c], targets[j, l]> / sqrt(d)
    raw = tf.einsum("icd,jld->icjl", source, targets) / tf.sqrt(dim)
    raw_sq_mean = tf.reduce_mean(tf.square(raw))
    scores = soft_clip(raw, clip)
    positive = tf.one_hot(offset + tf.range(n), total)[:, None, :, None]  # [n, 1, N, 1]
    positive = tf.broadcast_to(positive, tf.shape(scores))
    negative = 1.0 - positive
    pos_scores = tf.reduce_sum(positive * scores, axis=2)  # [n, c, L]
    # The positives' entries are set to the lowest clipped score before the max (as the code).
    floor = clip if clip is not None else tf.reduce_max(tf.abs(scores))
    neg_scores = negative * scores - floor * positive
    neg_max = tf.stop_gradient(tf.reduce_max(neg_scores, axis=[2, 3], keepdims=True))  # [n,c,1,1]
    s_other = tf.reduce_sum(negative * tf.exp(neg_scores - neg_max), axis=[2, 3])  # [n, c]
    s_shift = pos_scores - neg_max[:, :, :, 0]  # [n, c, L]
    s_nce = s_shift - tf.math.log(tf.exp(s_shift) + s_other[:, :, None])
    if not mixture:
        s_nce = s_nce[:, 0]
    return s_nce, raw_sq_mean


def mixture_objective(s_nce, alpha=1.0):
    """Eq. (6) at its optimal q: per location, max over q of sum_j q_j s_j + alpha H(q), whose
    maximiser is q = softmax(s / alpha) over the k components (so eq. 7's temperature is 1 / alpha)
    and whose value is alpha logsumexp(s / alpha).

    Args:
        s_nce: [n, k, L] NCE scores of k mixture components of the source against each location.
        alpha: the entropy weight, > 0 (alpha -> 0 tends to the best component's score).
    Returns:
        (objective [n, L] to maximise, q [n, k, L], entropy H(q) [n, L]). With k = 1, q = 1, H = 0
        and the objective is s_nce itself. At the optimum d objective / d s = q, so gradients
        through q would add nothing; they flow through s only.
    """
    logits = s_nce / alpha
    q = tf.nn.softmax(logits, axis=1)
    entropy = -tf.reduce_sum(q * tf.nn.log_softmax(logits, axis=1), axis=1)
    return tf.reduce_sum(q * s_nce, axis=1) + alpha * entropy, q, entropy


def amdim_loss(r1_a, r5_a, r7_a, r1_b, r5_b, r7_b, r5_index_a, r5_index_b, clip=20.0,
               reg_weight=5e-2, alpha=1.0, gather=True):
    """AMDIM's loss for the scale pairs (1, 5), (1, 7), (5, 5), both directions; call it from a
    replica context (every target is gathered over the global batch).

    Args:
        r1_a, r1_b: [n, d] or [n, k, d] (k mixture components) the global embeddings of views a, b.
        r5_a, r5_b: [n, 5, 5, d]; r7_a, r7_b: [n, 7, 7, d] the local embeddings.
        r5_index_a, r5_index_b: [n] int, the f5 location (0..24) of each image used as the source
            of the (5, 5) prediction (the authors' code samples one per image and step).
        clip: soft-clipping range c (20); reg_weight: lambda (the code's 5e-2; the paper says 4e-2).
        alpha: eq. (6)'s entropy weight (mixture sources only; q = softmax(s_nce / alpha)).
    Returns:
        (loss, terms): this replica's loss (the replica mean equals the one-device loss on the
        global batch) and {"nce_1t5", "nce_1t7", "nce_5t5", "score_reg", "entropy"}.
    """
    def flat(r):
        return tf.reshape(r, [tf.shape(r)[0], -1, r.shape[-1]])

    def pick(r5, index):
        return tf.gather(flat(r5), tf.cast(index, tf.int32), axis=1, batch_dims=1)

    entropies = []

    def direction(source, target):
        s_nce, sq = nce_scores(source, flat(target), clip, gather)
        if s_nce.shape.rank == 3:
            objective, _, entropy = mixture_objective(s_nce, alpha)
            entropies.append(tf.reduce_mean(entropy))
        else:
            objective = s_nce
        return -tf.reduce_mean(objective), sq

    terms, regs = {}, []
    pairs = {"nce_1t5": ((r1_a, r5_b), (r1_b, r5_a)),
             "nce_1t7": ((r1_a, r7_b), (r1_b, r7_a)),
             "nce_5t5": ((pick(r5_a, r5_index_a), r5_b), (pick(r5_b, r5_index_b), r5_a))}
    for name, ((src_1, trg_1), (src_2, trg_2)) in pairs.items():
        loss_1, sq_1 = direction(src_1, trg_1)
        loss_2, sq_2 = direction(src_2, trg_2)
        terms[name] = 0.5 * (loss_1 + loss_2)
        regs.append(0.5 * (sq_1 + sq_2))
    terms["score_reg"] = reg_weight * tf.add_n(regs)
    terms["entropy"] = tf.add_n(entropies) / len(entropies) if entropies else tf.constant(0.0)
    loss = terms["nce_1t5"] + terms["nce_1t7"] + terms["nce_5t5"] + terms["score_reg"]
    return loss, terms
