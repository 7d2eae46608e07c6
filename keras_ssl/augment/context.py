"""Context Prediction pairs (Doersch, Gupta & Efros 2015, "Unsupervised Visual Representation
Learning by Context Prediction"): a patch and one of its 8 neighbours in a 3x3 grid with gap and
jitter, labelled by the neighbour's relative position.

Labels name the neighbour's cell in row-major order around the centre (the paper's figure 2):

    0 1 2
    3 . 4
    5 6 7

so label l is grid cell NEIGHBOUR_CELLS[l] of the 3x3 grid, whose centre cell is 4.
"""

import keras
import tensorflow as tf

from keras_ssl.augment._random import batch_size, split_seed
from keras_ssl.augment.crop import random_resized_crop
from keras_ssl.augment.tiles import (COLOR_MODES, check_grid, counter_chromatic_aberration,
                                     extract_tiles, normalize_tiles, random_pixelation,
                                     tile_positions)
from keras_ssl.augment.whole_image import WholeImageTransform

NUM_POSITIONS = 8
CENTRE_CELL = 4
NEIGHBOUR_CELLS = (0, 1, 2, 3, 5, 6, 7, 8)
# (row, column) offset of each label's neighbour from the centre patch.
NEIGHBOUR_OFFSETS = tuple((c // 3 - 1, c % 3 - 1) for c in NEIGHBOUR_CELLS)


def context_pairs(images, tile_size, gap, jitter, seed):
    """(pairs [B, 2, t, t, C] = (centre patch, neighbour), labels int32 [B], positions [B, 2, 2])."""
    images = tf.convert_to_tensor(images)
    check_grid(min(images.shape[1], images.shape[2]), 3, tile_size, gap, jitter)
    s_label, s_tiles = split_seed(seed, 2)
    batch = batch_size(images)
    labels = tf.random.stateless_uniform([batch], maxval=NUM_POSITIONS, dtype=tf.int32,
                                         seed=s_label)
    cells = tf.stack([tf.fill([batch], CENTRE_CELL),
                      tf.gather(tf.constant(NEIGHBOUR_CELLS, tf.int32), labels)], axis=1)
    shape = images.shape if images.shape[0] is not None else (batch, *images.shape[1:])
    positions = tile_positions(shape, 3, tile_size, gap, jitter, s_tiles, cells=cells)
    return extract_tiles(images, positions, tile_size), labels, positions


@keras.saving.register_keras_serializable(package="keras_ssl")
class ContextPredictionTransform(WholeImageTransform):
    """`transform(images uint8 [B, S, S, 3], seed) -> (pairs float32 [B, 2, t, t, 3], labels int32
    [B] in 0..7)`: per image, the centre patch of a 3x3 grid and a random neighbour.

    Args:
        tile_size, gap, jitter: the paper's 96-pixel patches, 48-pixel gap, jitter up to 7 pixels
            (section 3: "the gap ... approximately half the patch width", "randomly jitter each
            patch location by up to 7 pixels").
        normalize: each patch to zero mean, unit variance (the paper subtracts each patch's mean).
        color_mode: "project" (the paper's projection against chromatic aberration), "drop",
            "grey" or "none"; grey_probability for "grey".
        crop_scale: (low, high): first a random resized crop of that area fraction, back to the
            image's size (None: off). On upsampled or JPEG images it randomises the scale and phase
            of the resampling and 8x8-block patterns, which otherwise tell a patch's absolute place.
        pixelation_probability, min_pixels: each patch down-sampled to as few as `min_pixels`
            and up-sampled again with that probability (section 3.1; the authors' code: 1/3, 100
            pixels of a 96-pixel patch). 0: off.

    Example:
    ```python
    pairs, labels = ContextPredictionTransform(tile_size=18, gap=3, jitter=1)(images_uint8, seed)
    ```
    """

    def __init__(self, tile_size=96, gap=48, jitter=7, normalize=True, color_mode="project",
                 grey_probability=0.3, crop_scale=None, pixelation_probability=1.0 / 3.0,
                 min_pixels=100):
        check_grid(None, 3, tile_size, gap, jitter)
        if color_mode not in COLOR_MODES:
            raise ValueError(f"color_mode={color_mode!r}: expected one of {COLOR_MODES}.")
        self.tile_size, self.gap, self.jitter = int(tile_size), int(gap), int(jitter)
        self.normalize, self.color_mode = bool(normalize), color_mode
        self.grey_probability = float(grey_probability)
        self.crop_scale = None if crop_scale is None else tuple(float(v) for v in crop_scale)
        if not 0 <= pixelation_probability <= 1 or min_pixels < 1:
            raise ValueError("pixelation_probability must be in [0, 1] and min_pixels >= 1, got "
                             f"{pixelation_probability!r} and {min_pixels!r}.")
        self.pixelation_probability = float(pixelation_probability)
        self.min_pixels = int(min_pixels)

    def augment_crops(self, crops, seed):
        (x,) = crops
        s_color, s_pairs = split_seed(seed, 2)
        if self.crop_scale is not None:
            x = random_resized_crop(x, x.shape[1:3], tf.random.experimental.stateless_fold_in(
                seed, 1), scale=self.crop_scale)
        x = counter_chromatic_aberration(x, self.color_mode, s_color, self.grey_probability)
        pairs, labels, _ = context_pairs(x, self.tile_size, self.gap, self.jitter, s_pairs)
        if self.pixelation_probability > 0:
            pairs = random_pixelation(pairs, tf.random.experimental.stateless_fold_in(seed, 2),
                                      self.pixelation_probability, self.min_pixels)
        if self.normalize:
            pairs = normalize_tiles(pairs)
        return pairs, labels

    def get_config(self):
        return {"tile_size": self.tile_size, "gap": self.gap, "jitter": self.jitter,
                "normalize": self.normalize, "color_mode": self.color_mode,
                "grey_probability": self.grey_probability, "crop_scale": self.crop_scale,
                "pixelation_probability": self.pixelation_probability,
                "min_pixels": self.min_pixels}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
