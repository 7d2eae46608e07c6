"""Input layers: a fixed (weightless) transform in front of an encoder, so that the saved encoder
takes float RGB images like every other and evaluation and export see images as it was trained on
them. The transforms themselves are the augmentation functions (`keras_ssl.augment`); these layers
only wrap them for a model.
"""

import keras
import tensorflow as tf

from keras_ssl.augment.lab import lightness
from keras_ssl.augment.tiles import normalize_tiles


@keras.saving.register_keras_serializable(package="keras_ssl")
class StandardizedInput(keras.layers.Layer):
    """float images [B, H, W, C] -> each image at zero mean and unit standard deviation
    (`normalize_tiles` on the whole image): the input layer of the whole-image encoder of a task
    trained on normalised tiles, so that evaluation and export see images as the encoder saw its
    tiles."""

    def call(self, inputs):
        return normalize_tiles(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="keras_ssl")
class LightnessInput(keras.layers.Layer):
    """float RGB [B, H, W, 3] in [0, 1] -> L / 100 repeated on 3 channels: the colorization
    encoder's input layer, so the encoder takes RGB like every other and sees only lightness
    (a convolution over three equal channels is one over L)."""

    def call(self, inputs):
        return tf.tile(lightness(inputs), [1, 1, 1, 3])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
