"""The adversarial discriminator of the Context Encoder (Pathak et al. 2016, section 3.2)."""

import keras

from keras_ssl import layers
from keras_ssl.heads.sequential import SequentialHead


@keras.saving.register_keras_serializable(package="keras_ssl")
class PatchDiscriminator(SequentialHead):
    """Images [B, H, W, 3] -> real/fake logits [B]: DCGAN-style 4 x 4 stride-2 convolutions with
    LeakyReLU(0.2) and batch norm (none on the first), then a linear unit on the flattened map.

    Example:
    ```python
    d = PatchDiscriminator(filters=(32, 64, 128))
    logits = d(images)   # [B]
    ```
    """

    def __init__(self, filters=(64, 128, 256), synchronized_bn=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(int(f) for f in filters)
        self.synchronized_bn = synchronized_bn
        self.blocks = []
        for i, f in enumerate(self.filters):
            self.blocks.append(keras.layers.Conv2D(f, 4, strides=2, padding="same",
                                                   use_bias=i == 0, name=f"conv{i}"))
            if i > 0:
                self.blocks.append(layers.BatchNormalization(
                    momentum=0.9, epsilon=1e-5, synchronized=synchronized_bn, name=f"bn{i}"))
            self.blocks.append(keras.layers.LeakyReLU(0.2, name=f"lrelu{i}"))
        self.flatten = keras.layers.Flatten(name="flatten")
        self.out = keras.layers.Dense(1, name="output")
        self._sequence = [*self.blocks, self.flatten, self.out]

    def call(self, inputs, training=None):
        return super().call(inputs, training=training)[:, 0]

    def compute_output_shape(self, input_shape):
        return super().compute_output_shape(input_shape)[:-1]

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, synchronized_bn=self.synchronized_bn)
        return config
