"""Counting (Noroozi, Pirsiavash & Favaro 2017, "Representation Learning by Learning to Count")."""

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import augment, config_checks
from keras_ssl.heads import MLPHead
from keras_ssl.methods import registry
from keras_ssl.methods.patch_grid import PatchGridMethod, check_colors, displayable, mosaic


def counting_loss(counts_downsampled, counts_tiles, margin):
    """The paper's loss (eq. 5), per image, float32 [B]:

        |phi(D(x)) - t(x)|^2 + max(0, M - |phi(D(y)) - t(x)|^2),   t(x) = sum_j phi(T_j(x)),

    with y the next image of the batch (image i is contrasted with image i + 1 mod B).

    Args:
        counts_downsampled: phi(D(x)) [B, k].
        counts_tiles: phi(T_j(x)) [B, 4, k].
    Returns:
        (loss [B], the first term [B], the margin term [B], |phi(D(y)) - t(x)|^2 [B]).
    """
    total = tf.reduce_sum(counts_tiles, axis=1)
    own = tf.reduce_sum(tf.square(counts_downsampled - total), axis=-1)
    other = tf.roll(counts_downsampled, shift=-1, axis=0)
    contrast = tf.reduce_sum(tf.square(other - total), axis=-1)
    margin_term = tf.nn.relu(margin - contrast)
    return own + margin_term, own, margin_term, contrast


@keras.saving.register_keras_serializable(package="keras_ssl")
class Counting(PatchGridMethod):
    """Learn a count vector phi that is additive over tiles: phi(D(x)) = sum_j phi(T_j(x)).

    phi is the encoder, an MLP and k ReLU outputs (the paper's fc layers; its counts are
    non-negative). The 4 tiles of a 2x2 grid and the image downsampled to a tile's size go through
    the encoder together (shared weights); another image y of the batch, D(y), keeps phi from the
    trivial solution phi = 0 through the margin term max(0, M - |phi(D(y)) - t(x)|^2). Trained with
    `model.fit` on `(tiles [B, 4, t, t, 3], downsampled [B, t, t, 3])` from
    `keras_ssl.augment.CountingTransform`; `model(images)` embeds whole images with the encoder.

    `counting_accuracy` is the fraction of images whose own downsampled count is closer to the sum
    of their tiles' counts than the other image's is.

    Args:
        encoder: a Keras model mapping images to features.
        num_counts: k, the count vector's size (1000 in the paper).
        margin: M (10 in the paper).
        head_hidden_dims: hidden widths between the encoder and the counts (the paper's fc6, fc7:
            4096 each).
        synchronized_bn: the head's batch norm over all replicas.

    Example:
    ```python
    model = keras_ssl.methods.Counting(keras_ssl.encoders.ResNet18(stem="cifar"), num_counts=1000)
    model.compile(optimizer="adam")
    model.fit(dataset)  # (tiles, downsampled) batches
    ```
    """

    metric_names = ("loss", "count_loss", "margin_loss", "counting_accuracy")

    def __init__(self, encoder, num_counts=1000, margin=10.0, head_hidden_dims=(4096, 4096),
                 synchronized_bn=False, **kwargs):
        super().__init__(encoder, **kwargs)
        self.num_counts, self.margin = int(num_counts), float(margin)
        self.head_hidden_dims = tuple(head_hidden_dims)
        self.synchronized_bn = synchronized_bn
        self.counter = MLPHead(self.head_hidden_dims, self.num_counts, batch_norm=True,
                               synchronized_bn=synchronized_bn, name="counter")

    def build_heads(self, feature_shape):
        self.counter.build((None, feature_shape[-1]))

    def counts(self, features, training=False):
        """phi's head: features [..., D] -> counts [..., k] >= 0 (float32)."""
        shape = tf.shape(features)
        flat = tf.reshape(features, [-1, features.shape[-1]])
        out = tf.nn.relu(tf.cast(self.counter(flat, training=training), tf.float32))
        return tf.reshape(out, tf.concat([shape[:-1], [self.num_counts]], axis=0))

    def compute_objective(self, data, training):
        tiles, downsampled = data
        views = tf.concat([tiles, tf.cast(downsampled, tiles.dtype)[:, None]], axis=1)
        counts = self.counts(self.tile_encoder(views, training=training), training=training)
        loss, own, margin_term, contrast = counting_loss(counts[:, 4], counts[:, :4], self.margin)
        accuracy = tf.reduce_mean(tf.cast(own < contrast, tf.float32))
        return tf.reduce_mean(loss), {"count_loss": tf.reduce_mean(own),
                                      "margin_loss": tf.reduce_mean(margin_term),
                                      "counting_accuracy": accuracy}

    def get_config(self):
        config = super().get_config()
        config.update(num_counts=self.num_counts, margin=self.margin,
                      head_hidden_dims=self.head_hidden_dims,
                      synchronized_bn=self.synchronized_bn)
        return config


def counting_views(config):
    return augment.CountingTransform(**config.augment)


def _checks(config):
    m, a = config.model, config.augment
    config_checks.positive_int("model.num_counts", m.num_counts)
    config_checks.positive("model.margin", m.margin)
    config_checks.boolean("augment.random_filter", a.random_filter)
    config_checks.check(config.data.image_size >= 4 and config.data.image_size % 2 == 0,
                        "data.image_size", config.data.image_size,
                        "an even size >= 4 (a 2x2 grid of tiles)")
    check_colors(config)


def _preview(transform, images, outputs):
    """The 4 tiles T_j of the 2x2 grid (with a gap drawn between them, to see them apart) and the
    image downsampled to a tile's size, D(x)."""
    del images
    tiles, downsampled = outputs
    return [("tiles T_1..T_4", mosaic(tiles, 2, 2)),
            ("D(x)", displayable(np.asarray(downsampled)))]


registry.register(
    "counting", Counting,
    # Section 4 of the paper: AlexNet features, fc layers of 4096, k = 1000 ReLU counts, M = 10.
    model=dict(num_counts=1000, margin=10.0, head_hidden_dims=(4096, 4096)),
    augment=dict(random_filter=True, flip_probability=0.5, color_mode="none",
                 grey_probability=0.3),
    views=counting_views, checks=_checks, preview=_preview)
