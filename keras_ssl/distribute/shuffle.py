"""Batch shuffling across replicas ("shuffle BN", He et al. 2020, section 3.3): batch-dependent layers
see a random part of the global batch instead of the replica's own examples."""

import tensorflow as tf

from keras_ssl.distribute.replicas import cross_replica_concat, num_replicas, replica_id


def apply_in_sub_batches(fn, inputs, splits):
    """`fn` applied to `splits` equal consecutive parts of `inputs`, outputs concatenated.

    Batch norm inside `fn` then normalises each part with its own statistics: on one device, the
    stand-in for per-device batch norm over several devices (the "SplitBatchNorm" of the official
    MoCo CIFAR-10 demo).
    """
    if splits == 1:
        return fn(inputs)
    size = inputs.shape[0]
    if size is not None and size % splits:
        raise ValueError(f"a batch of {size} does not split into {splits} equal sub-batches: make "
                         "the per-replica batch a multiple of bn_splits.")
    return tf.concat([fn(part) for part in tf.split(inputs, splits)], axis=0)


def local_rows(global_tensor):
    """This replica's rows of a tensor gathered in replica order ([replicas * n, ...] -> [n, ...])."""
    replicas = num_replicas()
    if replicas == 1:
        return global_tensor
    total = global_tensor.shape[0]
    size = total // replicas if total is not None else tf.shape(global_tensor)[0] // replicas
    # A gather keeps the row count static when the batch size is (static shapes for XLA/TPU).
    return tf.gather(global_tensor, replica_id() * size + tf.range(size))


def shuffled_apply(fn, inputs, seed, splits=1):
    """`fn` on the global batch in random groups; its outputs for the global batch, in order.

    Call in replica context. The inputs of all replicas are gathered (global batch of N), permuted by
    a permutation drawn from `seed` — so `seed` must be the same on every replica (e.g. derived from
    a step counter) — and replica r applies `fn` to its share of the permuted batch, in `splits`
    sub-batches (`apply_in_sub_batches`). The outputs are gathered and put back in the original
    order. This is MoCo's shuffle BN (`_batch_shuffle_ddp` / `_batch_unshuffle_ddp` in the
    reference code); with one replica and `splits` > 1 it is its one-device form.

    Args:
        fn: maps a batch [n, ...] to outputs [n, ...] (e.g. the key encoder).
        inputs: this replica's batch.
        seed: int tensor [2] for `tf.random.experimental.stateless_shuffle`.
        splits: sub-batches per replica.
    Returns:
        `fn`'s outputs for all N examples of the global batch, in replica order (take this
        replica's with `local_rows`). Without a gradient through the gather of `inputs`.
    """
    global_inputs = cross_replica_concat(tf.stop_gradient(inputs))
    total = tf.shape(global_inputs)[0]
    permutation = tf.random.experimental.stateless_shuffle(tf.range(total), seed=seed)
    own = local_rows(permutation)
    outputs = apply_in_sub_batches(fn, tf.gather(global_inputs, own), splits)
    # Row i of the gathered outputs belongs to example permutation[i].
    return tf.gather(cross_replica_concat(outputs), tf.math.invert_permutation(permutation))
