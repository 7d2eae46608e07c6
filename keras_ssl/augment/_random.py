"""Stateless randomness shared by the augmentations.

Every augmentation takes a `seed` (int tensor of shape [2]) and draws with `tf.random.stateless_*`, so
the same seed gives the same output, each image gets its own draw, and parallel `tf.data` maps do not
repeat draws (Keras' augmentation layers did here; see DEVELOPERS.md).
"""

import tensorflow as tf


def split_seed(seed, num):
    """`num` independent seeds derived from `seed`, as a list of [2] tensors."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=num)
    return [seeds[i] for i in range(num)]


def bernoulli(batch_size, probability, seed):
    """Per-image booleans [B] that are True with `probability`."""
    return tf.random.stateless_uniform([batch_size], seed=seed) < probability


def select(mask, if_true, if_false):
    """Per-image choice between two batches [B, ...] (any rank) by a [B] mask."""
    if_true, if_false = tf.convert_to_tensor(if_true), tf.convert_to_tensor(if_false)
    if if_true.shape != if_false.shape or not if_true.shape.is_fully_defined():
        shape = tf.broadcast_dynamic_shape(tf.shape(if_true), tf.shape(if_false))
        if_true, if_false = tf.broadcast_to(if_true, shape), tf.broadcast_to(if_false, shape)
    # Select (v1) takes a [B] condition directly; tf.where's broadcasting SelectV2 is ~8x slower.
    return tf.raw_ops.Select(condition=mask, x=if_true, y=if_false)


def batch_size(images):
    """The batch dimension, static when known (keeps shapes static for tf.data and XLA/TPU)."""
    return images.shape[0] if images.shape[0] is not None else tf.shape(images)[0]


def apply_where(mask, fn, images):
    """`fn(selected, indices)` on the images where `mask` [B] is True, the others unchanged.

    One partition and one stitch: `fn` runs on the selected images only (`indices`, int32 [n],
    are their places in the batch, to gather per-image parameters), which is cheaper than running
    it on the whole batch and selecting once it costs more than two copies of the batch. The
    static shape is kept.
    """
    images = tf.convert_to_tensor(images)
    mask = tf.cast(mask, tf.int32)
    parts = tf.dynamic_partition(images, mask, 2)
    indices = tf.dynamic_partition(tf.range(tf.shape(images)[0]), mask, 2)
    # No image selected: fn is skipped (some ops, e.g. MirrorPad, refuse an empty batch).
    selected = tf.cond(tf.size(indices[1]) > 0, lambda: fn(parts[1], indices[1]),
                       lambda: parts[1])
    out = tf.dynamic_stitch(indices, [parts[0], selected])
    return tf.ensure_shape(out, images.shape)
