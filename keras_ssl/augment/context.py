"""Context Prediction pairs (Doersch, Gupta & Efros 2015, "Unsupervised Visual Representation
Learning by Context Prediction"): a patch and one of its 8 neighbours on a grid of cells laid over
the whole image, labelled by the neighbour's position relative to the first patch.

Labels name the neighbour's offset in row-major order (the paper's figure 2; the authors'
cdoersch/deepcontext `train.py`, `pos2lbl`, counts the same way from 1):

    0 1 2
    3 . 4
    5 6 7

The sampler is the authors' `imgloader` in `train.py`, per image with stateless seeds and static
shapes. A grid of cells of side `tile_size + gap` starts at a uniform offset in [0, cell) on each
axis and holds every cell whose unjittered patch fits in the image; each patch is jittered by up to
`jitter` pixels per axis and clamped into the image, as `sample_patch` does. The authors train on
every ordered pair of neighbours of each grid, so a pair is drawn with that distribution: the grid's
size in proportion to its number of offsets times its number of pairs, then the offset, then one
of its ordered neighbour pairs uniformly (the label in proportion to its number of pairs, then the
first patch's cell uniformly among those whose neighbour in that direction exists).

Any patch of the grid can come first, so a single patch's absolute position no longer names the
label (with a fixed centre patch the neighbour's position did). What is left is the edge effect: a
patch at the image's border has no neighbour beyond it. On the ImageNet recipe's geometry (448
pixels, 96 / 48 / 7) a Bayes-optimal guess from one patch's exact position is right 26.5% of the
time (the most frequent label alone 15.7%, chance 12.5%; tests/test_patch_tasks.py). The two
positions together always give the relative position: no sampler can hide that.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.augment._random import batch_size, split_seed
from keras_ssl.augment.crop import random_resized_crop
from keras_ssl.augment.tiles import (COLOR_MODES, _flat_tiles, _unflat_tiles, check_grid,
                                     counter_chromatic_aberration, drop_colors, extract_tiles,
                                     normalize_tiles, random_pixelation)
from keras_ssl.augment.whole_image import WholeImageTransform

NUM_POSITIONS = 8
# (row, column) offset of each label's neighbour from the first patch.
NEIGHBOUR_OFFSETS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
# The authors' dropped channels: uniform noise in [-0.5, 0.5] of a 0..255 pixel (train.py,
# prep_image); here Gaussian with its standard deviation, in [0, 1] units.
DROP_NOISE_STDDEV = 1.0 / (255.0 * math.sqrt(12.0))


def grid_sizes(size, tile_size, gap):
    """{cells per axis: (first, last) grid offset giving it} over offsets 0..cell-1 (`train.py`:
    gridsz = (size + gap - offset) // cell); the offsets of one size are contiguous."""
    cell = tile_size + gap
    sizes = {}
    for offset in range(cell):
        n = (size + gap - offset) // cell
        first, _ = sizes.get(n, (offset, offset))
        sizes[n] = (first, offset)
    return sizes


def check_pairs(height, width, tile_size, gap, jitter):
    """Raise ValueError unless every grid offset leaves at least 2 cells per axis."""
    check_grid(None, 3, tile_size, gap, jitter)
    for side in (height, width):
        if min(grid_sizes(side, tile_size, gap)) < 2:
            raise ValueError(f"an image side of {side} pixels holds fewer than 2 patches of "
                             f"{tile_size} with gap {gap} at some grid offsets: at least "
                             f"{2 * (tile_size + gap) + tile_size - 1} are needed.")


def _pair_tables(height, width, tile_size, gap):
    """Static tables over the (rows, columns) grid sizes: their weight, offset ranges and per-label
    weight (the label's number of ordered pairs)."""
    rows, cols = grid_sizes(height, tile_size, gap), grid_sizes(width, tile_size, gap)
    combos, weights, label_weights = [], [], []
    for ny, (y0, y1) in sorted(rows.items()):
        for nx, (x0, x1) in sorted(cols.items()):
            pairs = [(ny - abs(dy)) * (nx - abs(dx)) for dy, dx in NEIGHBOUR_OFFSETS]
            combos.append((ny, nx, y0, y1 - y0 + 1, x0, x1 - x0 + 1))
            weights.append((y1 - y0 + 1) * (x1 - x0 + 1) * sum(pairs))
            label_weights.append(pairs)
    return (np.asarray(weights, np.float32), np.asarray(combos, np.int32),
            np.asarray(label_weights, np.float32))


def _categorical(weights, seed):
    """Per row of weights float [B, K] an index drawn in proportion to them (by the inverse CDF:
    tf.random.stateless_categorical has no XLA kernel)."""
    cdf = tf.math.cumsum(weights, axis=-1)
    u = tf.random.stateless_uniform([tf.shape(weights)[0], 1], seed=seed) * cdf[:, -1:]
    return tf.minimum(tf.reduce_sum(tf.cast(cdf <= u, tf.int32), axis=-1), weights.shape[-1] - 1)


def _uniform_index(count, seed):
    """Per element a uniform integer in [0, count) for an int32 tensor `count`."""
    u = tf.random.stateless_uniform(tf.shape(count), seed=seed)
    return tf.minimum(tf.cast(u * tf.cast(count, tf.float32), tf.int32), count - 1)


def pair_positions(images_shape, tile_size, gap, jitter, seed):
    """(positions int32 [B, 2, 2]: top-left (y, x) of the first patch and of its neighbour,
    labels int32 [B] in 0..7), drawn as the module docstring says.

    Args:
        images_shape: (B, H, W, ...) with static H, W.
    """
    batch, height, width = images_shape[0], int(images_shape[1]), int(images_shape[2])
    check_pairs(height, width, tile_size, gap, jitter)
    cell = tile_size + gap
    grid_weights, combos, label_weights = _pair_tables(height, width, tile_size, gap)
    s_grid, s_label, s_oy, s_ox, s_row, s_col, s_jitter = split_seed(seed, 7)
    grid = _categorical(tf.constant(grid_weights[None]) * tf.ones([batch, 1]), s_grid)
    ny, nx, y0, y_count, x0, x_count = tf.unstack(tf.gather(tf.constant(combos), grid), axis=1)
    labels = _categorical(tf.gather(tf.constant(label_weights), grid), s_label)
    offset_y = y0 + _uniform_index(y_count, s_oy)
    offset_x = x0 + _uniform_index(x_count, s_ox)
    dy, dx = tf.unstack(tf.gather(tf.constant(NEIGHBOUR_OFFSETS, tf.int32), labels), axis=1)
    # The first patch's cell among those whose neighbour in direction (dy, dx) is on the grid.
    row = tf.maximum(-dy, 0) + _uniform_index(ny - tf.abs(dy), s_row)
    col = tf.maximum(-dx, 0) + _uniform_index(nx - tf.abs(dx), s_col)
    rows = tf.stack([row, row + dy], axis=1)  # [B, 2]
    cols = tf.stack([col, col + dx], axis=1)
    shift = tf.random.stateless_uniform([batch, 2, 2], minval=-jitter, maxval=jitter + 1,
                                        dtype=tf.int32, seed=s_jitter)
    y = tf.clip_by_value(offset_y[:, None] + rows * cell + shift[..., 0], 0, height - tile_size)
    x = tf.clip_by_value(offset_x[:, None] + cols * cell + shift[..., 1], 0, width - tile_size)
    return tf.stack([y, x], axis=-1), labels


def context_pairs(images, tile_size, gap, jitter, seed):
    """(pairs [B, 2, t, t, C] = (first patch, neighbour), labels int32 [B], positions [B, 2, 2])."""
    images = tf.convert_to_tensor(images)
    shape = images.shape if images.shape[0] is not None else (batch_size(images),
                                                               *images.shape[1:])
    positions, labels = pair_positions(shape, tile_size, gap, jitter, seed)
    return extract_tiles(images, positions, tile_size), labels, positions


def drop_patch_colors(pairs, seed):
    """Colour dropping per patch, as the authors' `prep_image` (train.py): each patch keeps its own
    random channel, minus its own mean, the other two are zero-mean noise that depends on nothing
    in the image (`tiles.drop_colors` with `centred=True` on the patches folded into a batch)."""
    flat = _flat_tiles(pairs)
    return _unflat_tiles(drop_colors(flat, seed, DROP_NOISE_STDDEV, centred=True), pairs)


@keras.saving.register_keras_serializable(package="keras_ssl")
class ContextPredictionTransform(WholeImageTransform):
    """`transform(images uint8 [B, S, S, 3], seed) -> (pairs float32 [B, 2, t, t, 3], labels int32
    [B] in 0..7)`: per image, a random patch of a grid at a random offset and a random neighbour
    of it (the sampler of the module docstring).

    Args:
        tile_size, gap, jitter: the paper's 96-pixel patches, 48-pixel gap, jitter up to 7 pixels
            (section 3: "the gap ... approximately half the patch width", "randomly jitter each
            patch location by up to 7 pixels"; train.py: patch_sz, gap, noise).
        normalize: each patch to zero mean, unit variance (the paper subtracts each patch's mean;
            train.py also divides by its root mean square).
        color_mode: "project" (the paper's projection against chromatic aberration), "drop"
            (per patch, the paper's colour dropping as train.py does it: `drop_patch_colors`),
            "grey" or "none"; grey_probability for "grey".
        crop_scale: (low, high): first a random resized crop of that area fraction, back to the
            image's size (None: off). On upsampled or JPEG images it randomises the scale and phase
            of the resampling and 8x8-block patterns, whose phase difference between the two
            patches otherwise tells their relative place (the random grid does not remove it).
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
        if self.color_mode != "drop":
            x = counter_chromatic_aberration(x, self.color_mode, s_color, self.grey_probability)
        pairs, labels, _ = context_pairs(x, self.tile_size, self.gap, self.jitter, s_pairs)
        if self.pixelation_probability > 0:
            pairs = random_pixelation(pairs, tf.random.experimental.stateless_fold_in(seed, 2),
                                      self.pixelation_probability, self.min_pixels)
        if self.color_mode == "drop":  # after pixelation, as train.py's prep_image
            pairs = drop_patch_colors(pairs, s_color)
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
