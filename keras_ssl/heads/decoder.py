"""The up-sampling decoder shared by the dense pretext tasks (colorization, inpainting)."""

import keras

from keras_ssl import layers
from keras_ssl.heads.sequential import SequentialHead


@keras.saving.register_keras_serializable(package="keras_ssl")
class DecoderHead(SequentialHead):
    """Feature maps [B, h, w, C] -> [B, h * 2^n, w * 2^n, output_channels].

    n = len(filters) up-convolutions (4 x 4 transposed convolutions of stride 2, batch norm,
    ReLU; the Context Encoder's decoder, Pathak et al. 2016 section 3.1), then a 3 x 3
    convolution to `output_channels` (linear: the loss applies softmax / sigmoid).

    Example:
    ```python
    head = DecoderHead(filters=(64, 32), output_channels=313)   # 2x2 -> 8x8 colour logits
    logits = head(feature_map)
    ```
    """

    def __init__(self, filters=(64, 32), output_channels=3, synchronized_bn=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = tuple(int(f) for f in filters)
        self.output_channels = int(output_channels)
        self.synchronized_bn = synchronized_bn
        self.blocks = []
        for i, f in enumerate(self.filters):
            self.blocks += [
                keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False,
                                             name=f"upconv{i}"),
                layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                                synchronized=synchronized_bn, name=f"bn{i}"),
                keras.layers.ReLU(name=f"relu{i}")]
        self.out = keras.layers.Conv2D(self.output_channels, 3, padding="same", name="output")
        self._sequence = [*self.blocks, self.out]

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, output_channels=self.output_channels,
                      synchronized_bn=self.synchronized_bn)
        return config
