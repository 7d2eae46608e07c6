"""Mask makers of the Context Encoder (Pathak et al. 2016, "Context Encoders: Feature Learning by
Inpainting", section 3.3): a central square, random blocks and random regions.

Every maker returns float32 masks [B, H, W, 1], 1 on the hole to fill in, 0 on the context; random
ones draw each image's mask from its own stateless seed.

Example:
```python
hole = central_square_mask(8, 32)                        # the central 16 x 16 square
hole = random_block_mask(8, 32, seed, num_blocks=4, block_size=8)
hole = random_region_mask(8, 32, seed, coverage=0.25)    # smooth blobs, exactly 1/4 of pixels
band = overlap_band(hole, 1)                             # the context ring the loss weights 10x
```
"""

import tensorflow as tf

MASK_KINDS = ("central", "blocks", "regions")


def central_square_mask(batch_size, size, hole_size=None):
    """The centred `hole_size` square (default half the side: the paper's 64 of 128), [B, S, S, 1]."""
    hole_size = size // 2 if hole_size is None else hole_size
    top = (size - hole_size) // 2
    line = tf.cast((tf.range(size) >= top) & (tf.range(size) < top + hole_size), tf.float32)
    square = line[:, None] * line[None, :]
    return tf.tile(square[None, :, :, None], [batch_size, 1, 1, 1])


def random_block_corners(batch_size, size, seed, num_blocks, block_size):
    """int32 [B, K, 2] top-left corners (row, column) of K blocks per image, inside the image."""
    return tf.random.stateless_uniform([batch_size, num_blocks, 2], seed, 0,
                                       size - block_size + 1, tf.int32)


def blocks_to_mask(corners, size, block_size):
    """The union of the `block_size` squares at `corners` [B, K, 2], as [B, S, S, 1] masks."""
    r = tf.range(size)
    rows = (r[None, None] >= corners[..., :1]) & (r[None, None] < corners[..., :1] + block_size)
    cols = (r[None, None] >= corners[..., 1:]) & (r[None, None] < corners[..., 1:] + block_size)
    blocks = tf.cast(rows[..., :, None], tf.float32) * tf.cast(cols[..., None, :], tf.float32)
    return tf.reduce_max(blocks, axis=1)[..., None]


def random_block_mask(batch_size, size, seed, num_blocks=4, block_size=None):
    """The union of `num_blocks` possibly overlapping squares of `block_size` (default a quarter
    of the side) at random places per image: the paper's "random block" masks (at most the
    paper's quarter of the image with the defaults)."""
    block_size = size // 4 if block_size is None else block_size
    return blocks_to_mask(random_block_corners(batch_size, size, seed, num_blocks, block_size),
                          size, block_size)


def random_region_mask(batch_size, size, seed, coverage=0.25, smoothness=4):
    """Random smooth regions covering exactly `round(coverage * S * S)` pixels of each image.

    The paper cuts out the shapes of PASCAL VOC segmentation masks (about a quarter of the image);
    without that dataset, each image's regions are the top `coverage` of a smooth random field
    (uniform noise at 1/`smoothness` resolution, bicubically upsampled), blob-shaped holes of a
    declared area.
    """
    low = max(2, size // smoothness)
    noise = tf.random.stateless_uniform([batch_size, low, low, 1], seed)
    field = tf.reshape(tf.image.resize(noise, [size, size], method="bicubic"), [batch_size, -1])
    count = int(round(coverage * size * size))
    _, index = tf.math.top_k(field, k=count)
    hole = tf.reduce_sum(tf.one_hot(index, size * size), axis=1)
    return tf.reshape(hole, [batch_size, size, size, 1])


def make_mask(kind, batch_size, size, seed, **options):
    """A mask of `kind` (one of `MASK_KINDS`); `options` go to its maker."""
    if kind == "central":
        return central_square_mask(batch_size, size, options.get("hole_size"))
    if kind == "blocks":
        return random_block_mask(batch_size, size, seed, options.get("num_blocks", 4),
                                 options.get("block_size"))
    if kind == "regions":
        return random_region_mask(batch_size, size, seed, options.get("coverage", 0.25))
    raise ValueError(f"mask kind must be one of {MASK_KINDS}, got {kind!r}.")


def overlap_band(hole, width):
    """The context pixels within `width` pixels (chessboard distance) of the hole, [B, H, W, 1]:
    the overlap the paper's decoder also predicts, weighted 10x in the reconstruction loss."""
    if not width:
        return tf.zeros_like(hole)
    grown = tf.nn.max_pool2d(hole, 2 * width + 1, 1, "SAME")
    return grown - hole


def fill_holes(images, hole, value):
    """`images` [B, H, W, 3] with the hole replaced by `value` (the paper fills the mean colour)."""
    return images * (1.0 - hole) + hole * tf.constant(value, images.dtype)
