"""MLP heads: SimCLR's projection g(.) (Chen et al. 2020, section 2.1: z = W2 relu(W1 h)) and
classification heads of pretext tasks."""

import keras

from keras_ssl import layers
from keras_ssl.heads.sequential import SequentialHead


@keras.saving.register_keras_serializable(package="keras_ssl")
class MLPHead(SequentialHead):
    """MLP with batch norm after every hidden layer (as SimCLR's code does) and a linear output.

    Args:
        hidden_dims: widths of the hidden layers (SimCLR: one layer as wide as the encoder output).
        output_dim: projection size (128 in SimCLR).
        batch_norm: batch norm after each hidden linear layer.
        synchronized_bn: compute those statistics over all replicas.
        output_bias: a bias in the output layer (Barlow Twins' and VICReg's projectors have none:
            the batch statistics their losses take would cancel it).
        output_batch_norm: batch norm without scale and offset on the output, after an output
            layer without bias (which it would cancel): SimSiam's projector (the authors'
            `builder.py`), MoCo v3's (its code's `last_bn`, after SimCLR v2's) and NNCLR's.

    Example:
    ```python
    head = keras_ssl.heads.MLPHead(hidden_dims=(512,), output_dim=128)
    z = head(features)  # [B, 128]
    ```
    """

    def __init__(self, hidden_dims=(2048,), output_dim=128, batch_norm=True, synchronized_bn=False,
                 output_bias=True, output_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dims = tuple(int(d) for d in hidden_dims)
        self.output_dim = int(output_dim)
        self.batch_norm = batch_norm
        self.synchronized_bn = synchronized_bn
        self.output_bias = output_bias
        self.output_batch_norm = output_batch_norm
        self.hidden = []
        for i, dim in enumerate(self.hidden_dims):
            self.hidden.append(keras.layers.Dense(dim, use_bias=not batch_norm, name=f"dense{i}"))
            if batch_norm:
                self.hidden.append(layers.BatchNormalization(
                    momentum=0.9, epsilon=1e-5, synchronized=synchronized_bn, name=f"bn{i}"))
            self.hidden.append(keras.layers.ReLU(name=f"relu{i}"))
        self.out = keras.layers.Dense(
            self.output_dim, use_bias=output_bias and not output_batch_norm, name="output")
        self._sequence = [*self.hidden, self.out]
        if output_batch_norm:
            self.output_bn = layers.BatchNormalization(
                momentum=0.9, epsilon=1e-5, center=False, scale=False,
                synchronized=synchronized_bn, name="output_bn")
            self._sequence.append(self.output_bn)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dims=self.hidden_dims, output_dim=self.output_dim,
                      batch_norm=self.batch_norm, synchronized_bn=self.synchronized_bn,
                      output_bias=self.output_bias, output_batch_norm=self.output_batch_norm)
        return config
