"""The collapse metric of SimSiam (Chen & He 2021, section 4.1 and fig. 2).

The standard deviation over the batch of the l2-normalised embeddings, per dimension, averaged over
the dimensions. A collapsed representation (every image mapped to one vector) gives 0; a healthy
one, whose normalised embeddings spread like a zero-mean isotropic Gaussian on the sphere, gives
about 1 / sqrt(d).
"""

import tensorflow as tf

from keras_ssl.distribute import cross_replica_concat


def embedding_std(embeddings):
    """Mean over dimensions of the per-dimension std of l2-normalised `embeddings` [n, d], over the
    global batch (gathered across replicas, so 2 replicas give the one-device value). No gradient:
    a metric, not a loss.

    Example:
    ```python
    embedding_std(tf.random.normal([4096, 128]))  # ~ 1 / sqrt(128) = 0.088
    embedding_std(tf.ones([4096, 128]))           # 0.0
    ```
    """
    z = tf.math.l2_normalize(tf.cast(tf.stop_gradient(embeddings), tf.float32), axis=1)
    z = cross_replica_concat(z)
    return tf.reduce_mean(tf.math.reduce_std(z, axis=0))
