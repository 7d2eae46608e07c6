"""The Context Encoder's channel-wise fully-connected layer (Pathak et al. 2016, section 3.1)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ssl")
class ChannelwiseFullyConnected(keras.layers.Layer):
    """[B, h, w, C] -> [B, h, w, C]: each channel's h*w map fully connected to itself (weights
    [C, hw, hw], no mixing between channels: C (hw)^2 parameters instead of (C hw)^2), then a
    stride-1 1 x 1 convolution that propagates information across channels, as the paper.

    Example:
    ```python
    layer = ChannelwiseFullyConnected()
    y = layer(feature_map)   # same shape
    ```
    """

    def __init__(self, mix_channels=True, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mix_channels = mix_channels
        self.dropout = float(dropout)
        self.drop = keras.layers.Dropout(self.dropout) if self.dropout else None

    def build(self, input_shape):
        _, h, w, c = input_shape
        if h is None or w is None:
            raise ValueError(f"ChannelwiseFullyConnected needs a static spatial size, got "
                             f"{input_shape}.")
        n = h * w
        self.kernel = self.add_weight(name="kernel", shape=(c, n, n),
                                      initializer=keras.initializers.VarianceScaling(
                                          1.0, "fan_in", "truncated_normal"))
        self.bias = self.add_weight(name="bias", shape=(c, n), initializer="zeros")
        if self.mix_channels:
            self.mix = keras.layers.Conv2D(c, 1, name="mix")
            self.mix.build(input_shape)

    def call(self, inputs, training=None):
        b, h, w, c = ops.shape(inputs)
        x = ops.reshape(ops.transpose(inputs, (0, 3, 1, 2)), (b, c, h * w))
        x = ops.einsum("bcp,cpq->bcq", x, self.kernel) + self.bias
        x = ops.relu(x)
        x = ops.transpose(ops.reshape(x, (b, c, h, w)), (0, 2, 3, 1))
        if self.drop is not None:
            x = self.drop(x, training=training)
        return ops.relu(self.mix(x)) if self.mix_channels else x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(mix_channels=self.mix_channels, dropout=self.dropout)
        return config
