"""Random horizontal flip, drawn per image."""

import tensorflow as tf

from keras_ssl.augment._random import batch_size, bernoulli, select


def random_flip(images, seed, probability=0.5):
    """Mirror each image left-right with `probability`. images: [B, H, W, C]."""
    images = tf.convert_to_tensor(images)
    flip = bernoulli(batch_size(images), probability, seed)
    return select(flip, tf.reverse(images, axis=[2]), images)
