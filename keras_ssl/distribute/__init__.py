"""Cross-replica machinery shared by every method."""

from keras_ssl.distribute.replicas import cross_replica_concat, num_replicas, replica_id

__all__ = ["cross_replica_concat", "num_replicas", "replica_id"]
