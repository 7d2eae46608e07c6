"""Counting views (Noroozi, Pirsiavash & Favaro 2017, "Representation Learning by Learning to
Count"): the four tiles T_1..T_4 of a 2x2 grid over the image and the whole image downsampled, D,
to a tile's size, so that phi(D(x)) = sum_j phi(T_j(x)) can be asked of a counting network phi.

The tiles are the image's four quadrants (no gap: together they are the image, as the paper's
tiling is; its section 3.1 / figure 3), D(x) the whole image resized to a quadrant's size. The
paper picks the downsampling filter at random (among bicubic, bilinear, Lanczos and area), so that
phi cannot tell D(x) from a tile by the filter's footprint; `random_filter=False` always uses area
averaging.
"""

import keras
import tensorflow as tf

from keras_ssl.augment._random import batch_size, split_seed
from keras_ssl.augment.flip import random_flip
from keras_ssl.augment.tiles import COLOR_MODES, counter_chromatic_aberration, extract_tiles
from keras_ssl.augment.whole_image import WholeImageTransform

DOWNSAMPLING_FILTERS = ("bicubic", "bilinear", "lanczos3", "area")


def quadrant_positions(image_size, batch):
    """Top-left (y, x) of the 4 quadrants, row-major, int32 [B, 4, 2]."""
    half = image_size // 2
    corners = tf.constant([[0, 0], [0, half], [half, 0], [half, half]], tf.int32)
    return tf.tile(corners[None], [batch, 1, 1])


def downsample(images, size, seed=None, random_filter=True):
    """Each image resized to `size` by a per-image random filter of DOWNSAMPLING_FILTERS (or by
    area averaging); float [B, S, S, C] -> [B, size, size, C], clipped to the input's range."""
    if not random_filter:
        return tf.image.resize(images, [size, size], method="area")
    which = tf.random.stateless_uniform([batch_size(images)], maxval=len(DOWNSAMPLING_FILTERS),
                                        dtype=tf.int32, seed=seed)
    out = tf.zeros([batch_size(images), size, size, images.shape[-1]], images.dtype)
    for i, method in enumerate(DOWNSAMPLING_FILTERS):
        resized = tf.image.resize(images, [size, size], method=method, antialias=True)
        out = tf.where(tf.equal(which, i)[:, None, None, None], resized, out)
    return tf.clip_by_value(out, tf.reduce_min(images), tf.reduce_max(images))


def counting_views(images, seed, random_filter=True):
    """(tiles [B, 4, S/2, S/2, C], downsampled [B, S/2, S/2, C]) of square images [B, S, S, C]."""
    images = tf.convert_to_tensor(images)
    size = images.shape[1]
    if size is None or size != images.shape[2]:
        raise ValueError(f"counting_views needs square images of static size, got {images.shape}.")
    half = size // 2
    images = images[:, :2 * half, :2 * half]
    tiles = extract_tiles(images, quadrant_positions(2 * half, batch_size(images)), half)
    return tiles, downsample(images, half, seed, random_filter)


@keras.saving.register_keras_serializable(package="keras_ssl")
class CountingTransform(WholeImageTransform):
    """`transform(images uint8 [B, S, S, 3], seed) -> (tiles float32 [B, 4, S/2, S/2, 3],
    downsampled float32 [B, S/2, S/2, 3])`, after an optional flip and colour counter-measure.

    Args:
        random_filter: draw D's downsampling filter per image (the paper's counter-measure).
        flip_probability: horizontal flip of the image before tiling (keeps the counts' sum).
        color_mode, grey_probability: see `keras_ssl.augment.tiles`.

    Example:
    ```python
    tiles, downsampled = CountingTransform()(images_uint8, seed)
    ```
    """

    def __init__(self, random_filter=True, flip_probability=0.5, color_mode="none",
                 grey_probability=0.3):
        if color_mode not in COLOR_MODES:
            raise ValueError(f"color_mode={color_mode!r}: expected one of {COLOR_MODES}.")
        self.random_filter = bool(random_filter)
        self.flip_probability = float(flip_probability)
        self.color_mode, self.grey_probability = color_mode, float(grey_probability)

    def augment_crops(self, crops, seed):
        (x,) = crops
        s_flip, s_color, s_filter = split_seed(seed, 3)
        x = random_flip(x, s_flip, self.flip_probability)
        x = counter_chromatic_aberration(x, self.color_mode, s_color, self.grey_probability)
        return counting_views(x, s_filter, self.random_filter)

    def get_config(self):
        return {"random_filter": self.random_filter, "flip_probability": self.flip_probability,
                "color_mode": self.color_mode, "grey_probability": self.grey_probability}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
