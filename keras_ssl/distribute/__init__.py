"""Distributed training: strategies, cross-replica machinery shared by every method, and a training
loop that resumes from any batch and works under every strategy."""

from keras_ssl.distribute.loop import fit
from keras_ssl.distribute.replicas import (cross_replica_concat, cross_replica_sum, num_replicas,
                                           replica_id)
from keras_ssl.distribute.shuffle import apply_in_sub_batches, local_rows, shuffled_apply
from keras_ssl.distribute.strategy import (
    STRATEGIES,
    create_strategy,
    num_input_pipelines,
    per_replica_batch_size,
    set_virtual_devices,
    uses_custom_loop,
)

__all__ = [
    "STRATEGIES",
    "create_strategy",
    "cross_replica_concat",
    "cross_replica_sum",
    "fit",
    "num_replicas",
    "num_input_pipelines",
    "per_replica_batch_size",
    "replica_id",
    "set_virtual_devices",
    "uses_custom_loop",
]
