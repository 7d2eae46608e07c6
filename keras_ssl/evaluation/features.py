"""Frozen-encoder feature extraction for the evaluation protocols."""

import numpy as np
import tensorflow as tf

from keras_ssl.evaluation import _validation


def extract_features(encoder, images, batch_size=512):
    """Runs ``encoder`` in inference mode over uint8 images and returns its features.

    Images are scaled to float32 in [0, 1] (the library's encoder input
    convention) with no augmentation, and the encoder is called with
    ``training=False`` so batch-norm uses its moving statistics, as in the
    frozen-feature protocols of Wu et al. 2018 (kNN) and Zhang et al. 2016 /
    Chen et al. 2020 (linear evaluation).

    Example:

    >>> import keras, numpy as np
    >>> inputs = keras.Input((32, 32, 3))
    >>> outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3)(inputs))
    >>> encoder = keras.Model(inputs, outputs)
    >>> images = np.zeros((10, 32, 32, 3), np.uint8)
    >>> extract_features(encoder, images, batch_size=4).shape
    (10, 8)

    Args:
        encoder: callable ``encoder(x, training=False)`` mapping float32
            [B, H, W, 3] in [0, 1] to pooled features [B, D].
        images: numpy uint8 array [N, H, W, 3].
        batch_size: images per forward pass.

    Returns:
        float32 numpy array [N, D].

    Raises:
        ValueError: if ``images`` is not a non-empty uint8 [N, H, W, 3] array
            or the encoder does not return [B, D] features.
    """
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"`images` must have shape [N, H, W, 3] (a batch of RGB images), got {images.shape}."
        )
    if images.dtype != np.uint8:
        # A float array would be divided by 255 a second time: fail instead.
        raise ValueError(
            f"`images` must be uint8 with values in [0, 255], got dtype {images.dtype}; "
            "pass the raw images, scaling to [0, 1] happens here."
        )
    if images.shape[0] == 0:
        raise ValueError("`images` is empty (N=0); need at least one image.")

    @tf.function(
        input_signature=[tf.TensorSpec([None, *images.shape[1:]], tf.uint8)], autograph=False
    )
    def infer(batch):
        return encoder(tf.cast(batch, tf.float32) / 255.0, training=False)

    # Slicing the numpy array directly avoids copying the whole set into a
    # tf.data pipeline; the forward pass dominates the time anyway.
    chunks = []
    for start in range(0, len(images), batch_size):
        features = infer(images[start : start + batch_size])
        if features.shape.rank != 2:
            raise ValueError(
                f"The encoder must return pooled features of shape [B, D], got shape "
                f"{features.shape}; add global pooling / flatten to the encoder."
            )
        chunks.append(features.numpy())
    return np.concatenate(chunks, axis=0).astype(np.float32, copy=False)
