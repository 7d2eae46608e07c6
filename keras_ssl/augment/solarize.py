"""Solarization (BYOL, Grill et al. 2020, appendix B: invert pixels above 0.5)."""

import tensorflow as tf

from keras_ssl.augment._random import batch_size, bernoulli, select


def random_solarize(images, seed, probability=0.2, threshold=0.5):
    """With `probability` per image, replace every pixel x >= threshold by 1 - x. images in [0, 1]."""
    images = tf.convert_to_tensor(images, tf.float32)
    solarized = tf.where(images < threshold, images, 1.0 - images)
    return select(bernoulli(batch_size(images), probability, seed), solarized, images)
