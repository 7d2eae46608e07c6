"""Grid tiling for the patch-grid pretext tasks (Context Prediction, Jigsaw, Counting), and the
counter-measures their papers take against shortcuts.

An n x n grid of square cells of side `tile_size + gap` is laid on each image (at a random origin
where the image is larger than the grid); in every cell a `tile_size` tile sits at the cell's centre
moved by a random jitter of at most `jitter` pixels in each direction, drawn per image and per tile
from stateless seeds. Neighbouring tiles are therefore at least `gap - 2 * jitter` pixels apart, so
a network cannot match them by edge continuity (Doersch et al. 2015, section 3; Noroozi & Favaro
2016, section 3.2).

Counter-measures, each switchable:
- `normalize_tiles`: each tile to zero mean and unit standard deviation on its own (Noroozi &
  Favaro 2016, section 3.2: "we normalize the mean and the standard deviation of each patch
  independently"), so a tile's brightness and contrast do not say where it came from.
- `color_mode` against chromatic aberration (Doersch et al. 2015, section 3.1): "project" removes
  the green-magenta axis from every pixel (the paper's "projection"), "drop" keeps one random colour
  channel and replaces the other two by Gaussian noise (the paper's "color dropping"; Context
  Prediction drops per patch, `centred`), "grey" replaces the image by its luma with
  `grey_probability` (Noroozi & Favaro 2016 use 30%).
- `random_pixelation`: some tiles down-sampled and up-sampled again, so that resolution does not
  tell tiles apart (Doersch et al. 2015, section 3.1).
- `jitter_channels`: each colour channel of a tile moved by its own pixel offset, so that
  misaligned channels (chromatic aberration) do not say where a tile lies (Noroozi & Favaro 2016,
  section 3.2).
"""

import math

import tensorflow as tf

from keras_ssl.augment._random import batch_size, bernoulli, select, split_seed
from keras_ssl.augment.color import to_grayscale

COLOR_MODES = ("none", "grey", "project", "drop")
# Unit vector of the green-magenta axis in RGB (Doersch et al. 2015, section 3.1: chromatic
# aberration shifts green against red and blue).
_GREEN_MAGENTA = (-1.0 / math.sqrt(6.0), 2.0 / math.sqrt(6.0), -1.0 / math.sqrt(6.0))


def grid_extent(grid, tile_size, gap):
    """The side in pixels of an n x n grid of cells of side tile_size + gap."""
    return grid * (tile_size + gap)


def check_grid(image_size, grid, tile_size, gap, jitter):
    """Raise ValueError naming the argument when the grid does not fit or tiles could overlap."""
    if tile_size < 1 or gap < 0 or jitter < 0 or grid < 1:
        raise ValueError(f"tile_size >= 1, gap >= 0, jitter >= 0 and grid >= 1 are needed, got "
                         f"tile_size={tile_size}, gap={gap}, jitter={jitter}, grid={grid}.")
    if 2 * jitter > gap:
        raise ValueError(f"jitter={jitter} moves tiles out of their cells: at most gap // 2 = "
                         f"{gap // 2}.")
    if image_size is not None and grid_extent(grid, tile_size, gap) > image_size:
        raise ValueError(f"a {grid}x{grid} grid of tiles {tile_size} with gap {gap} needs "
                         f"{grid_extent(grid, tile_size, gap)} pixels, more than the image's "
                         f"{image_size}.")


def tile_positions(images_shape, grid, tile_size, gap, jitter, seed, cells=None):
    """Top-left pixel (y, x) of every tile, int32 [B, T, 2], T = len(cells) (default all n*n, in
    row-major order).

    The grid's origin is uniform over the positions where it fits in the image (the same for all
    tiles of an image); each tile is at its cell's centre plus a uniform integer jitter in
    [-jitter, jitter] on each axis.

    Args:
        images_shape: (B, H, W, ...) with static H, W.
        cells: cell indices (row * grid + column) of the tiles wanted, e.g. a [B, T] tensor.
    """
    batch, height, width = images_shape[0], images_shape[1], images_shape[2]
    cell = tile_size + gap
    extent = grid * cell
    s_origin_y, s_origin_x, s_jitter = split_seed(seed, 3)
    oy = tf.random.stateless_uniform([batch, 1], maxval=height - extent + 1, dtype=tf.int32,
                                     seed=s_origin_y)
    ox = tf.random.stateless_uniform([batch, 1], maxval=width - extent + 1, dtype=tf.int32,
                                     seed=s_origin_x)
    if cells is None:
        cells = tf.tile(tf.range(grid * grid, dtype=tf.int32)[None], [batch, 1])
    cells = tf.cast(cells, tf.int32)
    num_tiles = cells.shape[1]
    shift = tf.random.stateless_uniform([batch, num_tiles, 2], minval=-jitter, maxval=jitter + 1,
                                        dtype=tf.int32, seed=s_jitter)
    row, col = cells // grid, cells % grid
    y = oy + row * cell + gap // 2 + shift[..., 0]
    x = ox + col * cell + gap // 2 + shift[..., 1]
    return tf.stack([y, x], axis=-1)


def extract_tiles(images, positions, tile_size):
    """images [B, H, W, C], positions int32 [B, T, 2] (top-left) -> [B, T, t, t, C], exact pixels."""
    offsets = tf.range(tile_size, dtype=tf.int32)
    rows = positions[..., 0:1] + offsets  # [B, T, t]
    cols = positions[..., 1:2] + offsets
    strips = tf.gather(images, rows, axis=1, batch_dims=1)  # [B, T, t, W, C]
    return tf.gather(strips, cols, axis=3, batch_dims=2)  # [B, T, t, t, C]


def grid_tiles(images, grid, tile_size, gap, jitter, seed, cells=None):
    """The tiles of an n x n grid with gap and jitter: ([B, T, t, t, C], positions int32 [B, T, 2]).

    Example:
    ```python
    tiles, positions = grid_tiles(images, grid=3, tile_size=18, gap=3, jitter=1, seed=seed)
    tiles.shape  # [B, 9, 18, 18, 3]; tile 4 is the centre cell's
    ```
    """
    images = tf.convert_to_tensor(images)
    check_grid(min(images.shape[1], images.shape[2]), grid, tile_size, gap, jitter)
    positions = tile_positions(images.shape if images.shape[0] is not None else
                               (batch_size(images), *images.shape[1:]),
                               grid, tile_size, gap, jitter, seed, cells)
    return extract_tiles(images, positions, tile_size), positions


def normalize_tiles(tiles, epsilon=1e-3):
    """Each tile [..., t, t, C] to zero mean and unit standard deviation over its pixels and
    channels (a constant tile becomes 0)."""
    mean, variance = tf.nn.moments(tiles, axes=[-3, -2, -1], keepdims=True)
    return (tiles - mean) / tf.sqrt(variance + epsilon ** 2)


def project_out_green_magenta(images):
    """Remove every pixel's component along the green-magenta axis (Doersch et al. 2015, 3.1)."""
    axis = tf.constant(_GREEN_MAGENTA, images.dtype)
    return images - tf.tensordot(images, axis, axes=1)[..., None] * axis


def drop_colors(images, seed, noise_stddev=0.01, centred=False):
    """Per image, keep one random channel; replace the other two by Gaussian noise of
    `noise_stddev` around the kept channel's mean ("color dropping", Doersch et al. 2015, 3.1:
    noise of about 1/100 of the channel's standard deviation).

    centred: instead the kept channel minus its own mean and the noise around 0, so the noise
    depends on nothing in the image (the authors' cdoersch/deepcontext train.py, prep_image, which
    does it per patch: Context Prediction passes its patches as the batch).
    """
    s_channel, s_noise = split_seed(seed, 2)
    batch = batch_size(images)
    keep = tf.random.stateless_uniform([batch], maxval=3, dtype=tf.int32, seed=s_channel)
    mask = tf.one_hot(keep, 3, dtype=images.dtype)
    shape = [batch] + [1] * (images.shape.rank - 2) + [3]
    mask = tf.reshape(mask, shape)
    kept = tf.reduce_sum(images * mask, axis=-1, keepdims=True)
    mean = tf.reduce_mean(kept, axis=list(range(1, images.shape.rank)), keepdims=True)
    noise = noise_stddev * tf.random.stateless_normal(tf.shape(images), seed=s_noise,
                                                      dtype=images.dtype)
    if centred:
        return mask * (images - mean) + (1.0 - mask) * noise
    return mask * images + (1.0 - mask) * (mean + noise)


def counter_chromatic_aberration(images, mode, seed, grey_probability=0.3):
    """images [B, ..., 3] float: `mode` one of COLOR_MODES (see the module docstring)."""
    if mode not in COLOR_MODES:
        raise ValueError(f"color_mode={mode!r}: expected one of {COLOR_MODES}.")
    if mode == "none":
        return images
    if mode == "project":
        return project_out_green_magenta(images)
    if mode == "drop":
        return drop_colors(images, seed)
    grey = bernoulli(batch_size(images), grey_probability, seed)
    grey = tf.reshape(grey, [-1] + [1] * (images.shape.rank - 1))
    return tf.where(grey, to_grayscale(images), images)


def _flat_tiles(tiles):
    """[..., t, t, C] -> [N, t, t, C]."""
    return tf.reshape(tiles, [-1, *tiles.shape[-3:]])


def _unflat_tiles(flat, tiles):
    """[N, t, t, C] back to the shape of `tiles` (static where it is known)."""
    shape = tiles.shape if tiles.shape.is_fully_defined() else tf.shape(tiles)
    return tf.reshape(flat, shape)


def random_pixelation(tiles, seed, probability=1.0 / 3.0, min_pixels=100, levels=8):
    """Tiles [..., t, t, C], each with `probability` down-sampled (area averaging) to a side whose
    area is uniform in [min_pixels, (t - 1)^2] and up-sampled back to t (bilinear).

    Doersch et al. 2015, section 3.1: "we randomly downsampled some patches to as little as 100
    total pixels, and then upsampled"; the probability 1/3 and the uniform area are the authors'
    (cdoersch/deepcontext, train.py). The side is rounded to one of `levels` values spread evenly
    over that range of areas, so that each level is one batched resize.
    """
    tiles = tf.convert_to_tensor(tiles)
    flat = _flat_tiles(tiles)
    t = flat.shape[1]
    low, high = float(min_pixels), float((t - 1) ** 2)
    if high <= low:  # tiles too small to lose resolution
        return tiles
    sides = sorted({int(round(math.sqrt(low + (k + 0.5) / levels * (high - low))))
                    for k in range(levels)})
    s_apply, s_level = split_seed(seed, 2)
    n = batch_size(flat)
    level = tf.random.stateless_uniform([n], maxval=len(sides), dtype=tf.int32, seed=s_level)
    level = tf.where(bernoulli(n, probability, s_apply), level, -1)
    out = flat
    for k, side in enumerate(sides):
        small = tf.image.resize(flat, [side, side], method="area")
        pixelated = tf.image.resize(small, [t, t], method="bilinear")
        out = select(tf.equal(level, k), pixelated, out)
    return _unflat_tiles(out, tiles)


def jitter_channels(tiles, seed, max_shift=2):
    """Tiles [..., t, t, C] with every channel of every tile moved by its own integer offset in
    [-max_shift, max_shift] on each axis (the tile's edge pixels repeated where the shift uncovers
    them).

    Noroozi & Favaro 2016, section 3.2: against chromatic aberration the colour channels of each
    tile are spatially jittered by 0, +-1 or +-2 pixels.
    """
    if max_shift == 0:
        return tiles
    tiles = tf.convert_to_tensor(tiles)
    flat = _flat_tiles(tiles)
    t, channels = flat.shape[1], flat.shape[3]
    padded = tf.pad(flat, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]],
                    mode="SYMMETRIC")
    size = t + 2 * max_shift
    planes = tf.reshape(tf.transpose(padded, [0, 3, 1, 2]), [-1, size, size])  # [N * C, P, P]
    offsets = tf.random.stateless_uniform([tf.shape(planes)[0], 2], minval=0,
                                          maxval=2 * max_shift + 1, dtype=tf.int32, seed=seed)
    window = tf.range(t)[None]
    planes = tf.gather(planes, offsets[:, :1] + window, axis=1, batch_dims=1)
    planes = tf.gather(planes, offsets[:, 1:] + window, axis=2, batch_dims=1)
    out = tf.transpose(tf.reshape(planes, [-1, channels, t, t]), [0, 2, 3, 1])
    return _unflat_tiles(out, tiles)


def is_grey(images):
    """bool [B]: every pixel of the image has equal channels."""
    spread = tf.reduce_max(images, axis=-1) - tf.reduce_min(images, axis=-1)
    return tf.equal(tf.reduce_max(tf.reshape(spread, [batch_size(images), -1]), axis=1), 0.0)


def grid_to_image(tiles, grid, gap, fill=1.0):
    """[B, n*n, t, t, C] tiles in row-major order -> [B, S, S, C] mosaic with `gap` pixels of `fill`
    between tiles (for looking at tiles, e.g. `keras-ssl preview`)."""
    tiles = tf.convert_to_tensor(tiles)
    t, channels = tiles.shape[2], tiles.shape[4]
    padded = tf.pad(tiles, [[0, 0], [0, 0], [0, gap], [0, gap], [0, 0]], constant_values=fill)
    cell = t + gap
    rows = tf.reshape(padded, [-1, grid, grid, cell, cell, channels])
    image = tf.reshape(tf.transpose(rows, [0, 1, 3, 2, 4, 5]),
                       [-1, grid * cell, grid * cell, channels])
    return image[:, :grid * cell - gap, :grid * cell - gap]


def select_images(mask, if_true, if_false):
    """Per-image choice for batches of any rank by a [B] mask."""
    if if_true.shape.rank == 4:
        return select(mask, if_true, if_false)
    return tf.where(tf.reshape(mask, [-1] + [1] * (if_true.shape.rank - 1)), if_true, if_false)
