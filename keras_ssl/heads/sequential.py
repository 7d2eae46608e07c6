"""The base of heads that apply their sublayers one after the other."""

import keras


class SequentialHead(keras.layers.Layer):
    """A layer that applies the sublayers listed in `self._sequence` in order: `build`, `call` and
    `compute_output_shape` walk the list once. Subclasses (`MLPHead`, `DecoderHead`,
    `PatchDiscriminator`) only create their sublayers and write their config.

    A subclass creates its sublayers in `__init__` under attributes of its own (`hidden`, `blocks`,
    `out`, ...) and then lists them, in order, in `self._sequence`. A `.keras` file stores each
    layer's weights under the attribute path Keras reaches it by first, and Keras visits private
    attributes last, so the weights stay under the subclass's attribute names (the saved layout
    and the variable order of earlier versions, which old files and checkpoints need).
    """

    def build(self, input_shape):
        shape = input_shape
        for layer in self._sequence:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._sequence:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self._sequence:
            shape = layer.compute_output_shape(shape)
        return shape
