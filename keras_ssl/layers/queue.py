"""A first-in first-out queue of feature vectors held in the model's variables: MoCo's dictionary of
keys (He et al. 2020, section 3.2)."""

import keras
import tensorflow as tf


def _unit_normal(shape, dtype=None):
    # MoCo starts its queue with random unit vectors (moco/builder.py: randn, then normalize).
    return tf.math.l2_normalize(keras.random.normal(shape, dtype=dtype), axis=-1)


@keras.saving.register_keras_serializable(package="keras_ssl")
class FeatureQueue(keras.layers.Layer):
    """`size` rows of `dim` features and a pointer to the oldest row.

    `enqueue(rows)` overwrites the oldest rows with `rows` (wrapping around the end) and moves the
    pointer past them, so the queue always holds the latest `size` rows. The rows and the pointer
    are non-trainable variables: they are checkpointed and restored with the model.

    Under a tf.distribute strategy, call `enqueue` in replica context with the same rows on every
    replica (e.g. keys gathered from all replicas with `keras_ssl.distribute.cross_replica_concat`):
    each replica then writes the same rows into its own copy, and the copies stay identical without
    communication.

    Args:
        size: rows kept (MoCo's K: 65,536 on ImageNet).
        dim: feature size.

    Example:
    ```python
    queue = keras_ssl.layers.FeatureQueue(4096, 128)
    negatives = queue.rows()          # [4096, 128]
    queue.enqueue(keys)               # keys: [n, 128], n <= 4096
    ```
    """

    def __init__(self, size, dim, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"queue size must be a positive integer, got {size!r}.")
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"queue dim must be a positive integer, got {dim!r}.")
        self.size = size
        self.dim = dim
        self.queue = self.add_weight(shape=(size, dim), initializer=_unit_normal, trainable=False,
                                     dtype="float32", name="queue")
        self.pointer = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                       dtype="int64", name="pointer")
        self.built = True

    def rows(self):
        """The queue's contents, [size, dim] (row order is storage order, not age)."""
        return tf.convert_to_tensor(self.queue.value)

    def enqueue(self, rows):
        """Write `rows` ([n, dim], n <= size) over the n oldest rows, FIFO with wrap-around."""
        rows = tf.cast(rows, self.queue.dtype)
        # Dimensions may be unknown (an all-gather under MirroredStrategy loses them); check the
        # ones that are known.
        if rows.shape.rank is not None and (rows.shape.rank != 2
                                            or rows.shape[1] not in (None, self.dim)):
            raise ValueError(f"enqueue expects rows of shape [n, {self.dim}], got {rows.shape}.")
        if rows.shape[0] is not None and rows.shape[0] > self.size:
            raise ValueError(f"cannot enqueue {rows.shape[0]} rows into a queue of {self.size}: the "
                             "queue must hold at least one (global) batch; raise its size.")
        count = tf.shape(rows, out_type=tf.int64)[0]
        indices = (self.pointer + tf.range(count)) % self.size
        # In place, as MoCo's `queue[:, ptr:ptr + n] = keys.T`: only n rows are written.
        self.queue.value.scatter_update(tf.IndexedSlices(rows, indices))
        self.pointer.assign((self.pointer + count) % self.size)

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, dim=self.dim)
        return config
