"""The siamese tile encoder of the patch-grid tasks: one encoder, shared weights, on every tile.

Jigsaw's "context-free network" (Noroozi & Favaro 2016, section 3.1), Context Prediction's pair of
towers (Doersch et al. 2015, section 3) and Counting's phi applied to tiles and to the downsampled
image (Noroozi et al. 2017, section 3.1) all run one encoder on several small images of each
example. `TileEncoder` folds the tiles into the batch ([B, T, h, w, 3] -> [B * T, h, w, 3]), runs
the encoder once (batch-norm statistics are those of all tiles) and unfolds the features per image
([B, T, D]).

The encoder is fully convolutional with global pooling, so the same weights embed whole images at
evaluation; an encoder built for a fixed input size (the CLI builds it at `data.image_size`, the
size `keras-ssl eval` and `export` use) is made to accept tiles of any size.
"""

import keras
import tensorflow as tf


def accept_any_image_size(encoder):
    """Let a functional encoder built for one image size take images of any size (it is fully
    convolutional up to its global pooling); its saved config and input shape are unchanged."""
    if getattr(encoder, "inputs", None) and len(encoder.inputs) == 1:
        channels = encoder.inputs[0].shape[-1]
        encoder.input_spec = keras.InputSpec(ndim=4, axes={-1: channels})
    return encoder


class TileEncoder:
    """`TileEncoder(encoder)(tiles [B, T, h, w, C]) -> features [B, T, D]` with shared weights.

    A plain callable, not a layer: the encoder stays the method's own (tracked and saved once).

    Example:
    ```python
    tiles = keras_ssl.heads.TileEncoder(encoder)(puzzles, training=True)  # [B, 9, D]
    ```
    """

    def __init__(self, encoder):
        self.encoder = accept_any_image_size(encoder)

    def __call__(self, tiles, training=False):
        tiles = tf.convert_to_tensor(tiles)
        num_tiles = tiles.shape[1]
        folded = tf.reshape(tiles, [-1, *tiles.shape[2:]])
        features = self.encoder(folded, training=training)
        return tf.reshape(features, [-1, num_tiles, features.shape[-1]])

    def output_dim(self, tile_shape):
        """Feature width D for tiles of `tile_shape` (h, w, C)."""
        return self.encoder.compute_output_shape((None, *tile_shape))[-1]
