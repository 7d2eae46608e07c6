"""Random horizontal flip, drawn per image."""

import tensorflow as tf

from keras_ssl.augment._random import apply_where, batch_size, bernoulli


def random_flip(images, seed, probability=0.5):
    """Mirror each image left-right with `probability`. images: [B, H, W, C]."""
    images = tf.convert_to_tensor(images)
    flip = bernoulli(batch_size(images), probability, seed)
    return apply_where(flip, lambda x, _: tf.reverse(x, axis=[2]), images)
