"""Frozen features of any named layer, for evaluating an encoder layer by layer.

Pretext tasks need not make their best features at the end of the network: RotNet's CIFAR-10 table
is best on the second of four blocks (Gidaris et al. 2018, tables 1-2), and Kolesnikov, Zhai &
Beyer 2019 ("Revisiting Self-Supervised Visual Representation Learning") find the peak depends on
the architecture. Goyal et al. 2019 ("Scaling and Benchmarking Self-Supervised Visual
Representation Learning", section 4) evaluate every stage: its feature map average-pooled to about
9k dimensions (e.g. 2048 channels over 2x2, 1024 over 3x3), then a linear classifier. Here a layer's
map is average-pooled to the largest square grid whose size times the channels stays within
``max_dims`` (the map is kept whole when it fits), flattened, and then standardised with the
train split's mean and std before any frozen-feature protocol.

Example:

>>> features = extract_features(LayerFeatures(encoder, ["stage2", "pooled"]), images)  # doctest: +SKIP
>>> features["stage2"].shape                                                        # doctest: +SKIP
(50000, 2048)
"""

import math

import numpy as np
import tensorflow as tf

from keras_ssl.encoders import POOLED, feature_layers, feature_maps_model
from keras_ssl.evaluation import _validation
from keras_ssl.evaluation.features import SavedModelEncoder, encoder_image_size

# Goyal et al. 2019: "~9k" dimensions per layer (9216 = 1024 channels x 3 x 3).
DEFAULT_MAX_DIMS = 9216


def pooling_grid(height, width, channels, max_dims=DEFAULT_MAX_DIMS):
    """`(rows, cols)` a `[height, width, channels]` map is average-pooled to: the largest square
    grid with ``rows * cols * channels <= max_dims`` (at least 1 x 1), no larger than the map."""
    side = max(1, math.isqrt(max_dims // channels)) if channels <= max_dims else 1
    return min(side, height), min(side, width)


def adaptive_average_pool(maps, grid):
    """Average-pools `[B, h, w, C]` maps to `[B, rows, cols, C]`: bin ``i`` of ``n`` over a side of
    ``s`` covers ``[floor(i s / n), ceil((i + 1) s / n))``, as PyTorch's ``AdaptiveAvgPool2d``
    (bins may overlap when ``n`` does not divide ``s``; equal bins when it does)."""
    for axis, bins in ((1, grid[0]), (2, grid[1])):
        size = maps.shape[axis]
        if bins == size:
            continue
        pooled = [tf.reduce_mean(tf.gather(maps, tf.range(i * size // bins,
                                                         -(-(i + 1) * size // bins)), axis=axis),
                                 axis=axis, keepdims=True) for i in range(bins)]
        maps = tf.concat(pooled, axis=axis)
    return maps


def standardize(train_features, test_features):
    """Both standardised with the train features' mean and std (constant dimensions unscaled),
    as float32."""
    train = np.asarray(train_features, np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    return ((train - mean) / std).astype(np.float32), \
        ((np.asarray(test_features, np.float64) - mean) / std).astype(np.float32)


class LayerFeatures:
    """An encoder's features at several named layers from one forward pass: a callable
    ``(float32 images [B, H, W, 3] in [0, 1], training=False) -> {layer: [B, D_layer]}`` that
    `extract_features` / `extract_dataset_features` take like an encoder (and then return a dict
    of arrays).

    Args:
        encoder: a Keras encoder (layers of `keras_ssl.encoders.feature_layers`) or a
            `SavedModelEncoder` exported with those layers (``keras-ssl export --layers``).
        layers: names, e.g. ``["stage1", "stage3", "pooled"]``; ``"pooled"`` is the encoder's
            own output, kept as it is.
        max_dims: the size each feature map is average-pooled within (`pooling_grid`).
        maps: return the named layers' feature maps unpooled (for classifiers on maps).
    """

    def __init__(self, encoder, layers, max_dims=DEFAULT_MAX_DIMS, maps=False):
        self.layers = list(layers)
        self.max_dims = _validation.check_positive_int("max_dims", max_dims)
        self.maps = maps
        size = encoder_image_size(encoder)
        self.input_shape = (None, *size, 3) if size else (None, None, None, 3)
        if isinstance(encoder, SavedModelEncoder):
            unknown = [n for n in self.layers if n not in [*encoder.layers, POOLED]]
            if unknown:
                raise ValueError(
                    f"The SavedModel in {encoder.path} has no feature layers {unknown}; it has "
                    f"{[*encoder.layers, POOLED]}: re-export with `keras-ssl export "
                    f"--layers={','.join(n for n in self.layers if n != POOLED)}`.")
            self._outputs = lambda images: _saved_model_outputs(encoder, images, self.layers)
        else:
            model = feature_maps_model(encoder, self.layers)
            self._outputs = lambda images: dict(zip(self.layers, tf.nest.flatten(
                model(images, training=False))))

    def __call__(self, images, training=False):
        outputs = self._outputs(images)
        if self.maps:
            return {n: outputs[n] for n in self.layers if n != POOLED}
        pooled = {n: v if n == POOLED else adaptive_average_pool(
            v, pooling_grid(*v.shape[1:], self.max_dims)) for n, v in outputs.items()}
        return {n: tf.reshape(v, [-1, math.prod(v.shape[1:])]) for n, v in pooled.items()}


def available_layers(encoder):
    """The layer names `LayerFeatures` takes for `encoder`, shallow to deep, then "pooled"."""
    if isinstance(encoder, SavedModelEncoder):
        return [*encoder.layers, POOLED]
    return feature_layers(encoder)


def _saved_model_outputs(encoder, images, layers):
    outputs = encoder.feature_maps(images) if any(n != POOLED for n in layers) else {}
    if POOLED in layers:
        outputs[POOLED] = encoder(images)
    return {n: outputs[n] for n in layers}
