"""Cross-replica helpers that work the same with or without a tf.distribute strategy.

Called inside a replica context (a train step run by `model.fit` or `strategy.run`). Outside any
strategy the default replica context has one replica, so the helpers reduce to the identity; so they
do in a strategy's cross-replica context, where the computation sees the whole batch at once.
"""

import tensorflow as tf


def num_replicas():
    """Replicas in sync (1 without a strategy or in cross-replica context)."""
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def replica_id():
    """This replica's index in its sync group, as an int32 tensor (0 in cross-replica context)."""
    context = tf.distribute.get_replica_context()
    rid = 0 if context is None else context.replica_id_in_sync_group
    return tf.cast(rid, tf.int32)


def cross_replica_sum(tensor):
    """The sum of `tensor` over all replicas (itself with one replica), e.g. a loss's normaliser
    that must be the global batch's, not each replica's. Use on values without gradients."""
    if num_replicas() == 1:
        return tensor
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM,
                                                          tf.stop_gradient(tensor))


def cross_replica_concat(tensor):
    """Concatenate `tensor` along axis 0 over all replicas, in replica order, with gradients.

    `ReplicaContext.all_gather`'s gradient sums the incoming gradients over replicas and returns each
    replica its own slice, so a loss that uses gathered negatives back-propagates into the replica that
    produced them. Each replica's loss must then be divided by `num_replicas()`, since the optimizer
    sums the replicas' gradients (SimCLR, Chen et al. 2020, section 2.2 and its TPU code).
    """
    if num_replicas() == 1:
        return tensor
    return tf.distribute.get_replica_context().all_gather(tensor, axis=0)
