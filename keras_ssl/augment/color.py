"""SimCLR's colour distortion: colour jitter in random order, then random greyscale.

Chen et al. 2020, appendix A ("Data augmentation details"): brightness, contrast and saturation factors
of 0.8 * s, hue 0.2 * s, the four applied in a random order with probability 0.8, then greyscale with
probability 0.2; s = 1.0 on ImageNet, 0.5 on CIFAR-10 (appendix B.9). Brightness is multiplicative as in
SimCLR v2's default implementation. All draws, including the order, are per image; the result is
clipped to [0, 1] after each operation as in the SimCLR code.
"""

import itertools

import tensorflow as tf

from keras_ssl.augment._random import apply_where, batch_size, bernoulli, split_seed

_GREY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # ITU-R 601-2 luma, as tf.image.rgb_to_grayscale.


def to_grayscale(images):
    """[B, H, W, 3] -> [B, H, W, 1] luma."""
    return tf.tensordot(images, tf.constant(_GREY_WEIGHTS, images.dtype)[:, None], axes=1)


def _grey3(images):
    """The luma in 3 equal channels: tiled, as broadcasting along the channel axis is ~3x slower."""
    images = tf.convert_to_tensor(images, tf.float32)
    return tf.tile(to_grayscale(images), [1, 1, 1, 3])


def _uniform(batch, low, high, seed):
    return tf.random.stateless_uniform([batch, 1, 1, 1], minval=low, maxval=high, seed=seed)


def adjust_brightness(images, factor):
    return tf.clip_by_value(images * factor, 0.0, 1.0)


def adjust_contrast(images, factor):
    images = tf.convert_to_tensor(images, tf.float32)
    # Tiled to the full shape: broadcasting along the channel axis is ~3x slower than a tile.
    mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
    mean = tf.tile(mean, [1, tf.shape(images)[1], tf.shape(images)[2], 1])
    return tf.clip_by_value((images - mean) * factor + mean, 0.0, 1.0)


def adjust_saturation(images, factor):
    grey = _grey3(images)
    return tf.clip_by_value(grey + (images - grey) * factor, 0.0, 1.0)


def adjust_hue(images, delta):
    """Rotates hue by `delta` (in turns): tf.image's rgb_to_hsv, shift, hsv_to_rgb, op for op.

    The same float32 arithmetic as TensorFlow's RGBToHSV / HSVToRGB kernels (so the same result),
    on [B, 3, H, W] planes: about 2x faster than those kernels on [..., 3] pixels.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    planes = tf.transpose(images, [0, 3, 1, 2])
    r, g, b = tf.unstack(planes, axis=1)
    value = tf.maximum(tf.maximum(r, g), b)
    chroma = value - tf.minimum(tf.minimum(r, g), b)
    saturation = tf.math.divide_no_nan(chroma, value)
    # MulNoNan, not Mul: grappler re-associates chains of Mul (norm * diff), changing the rounding.
    # 1 / 0 -> 0 makes grey pixels' hue 0 as the kernel's explicit check does.
    norm = tf.math.multiply_no_nan(tf.math.divide_no_nan(1.0, chroma), 1.0 / 6.0)
    r_max, g_max = tf.equal(r, value), tf.equal(g, value)
    diff = _where(r_max, g - b, _where(g_max, b - r, r - g))
    offset = _where(r_max, tf.zeros_like(r),
                    _where(g_max, tf.fill(tf.shape(r), 2.0 / 6.0), tf.fill(tf.shape(r), 4.0 / 6.0)))
    hue = norm * diff + offset
    hue = _where(hue < 0.0, hue + 1.0, hue)
    hue = hue + tf.reshape(tf.cast(delta, tf.float32), [-1, 1, 1])
    hue = hue - tf.floor(hue)  # floormod(hue, 1), exactly; FloorMod is ~5x slower
    # hsv_to_rgb: channel c is (1 - s + s d_c) v, d_c = clip(sign_c |6 h - k_c| + a_c, 0, 1).
    k = tf.constant([3.0, 2.0, 4.0])[:, None, None]
    sign = tf.constant([1.0, -1.0, -1.0])[:, None, None]
    a = tf.constant([-1.0, 2.0, 2.0])[:, None, None]
    d = tf.clip_by_value(sign * tf.abs((hue * 6.0)[:, None] - k) + a, 0.0, 1.0)
    saturation, value = saturation[:, None], value[:, None]
    rgb = ((1.0 - saturation) + saturation * d) * value
    return tf.transpose(tf.clip_by_value(rgb, 0.0, 1.0), [0, 2, 3, 1])


def _where(condition, x, y):
    """Elementwise select of equal shapes (Select; tf.where's SelectV2 is ~6x slower here)."""
    return tf.raw_ops.Select(condition=condition, x=x, y=y)


def color_jitter(images, seed, brightness, contrast, saturation, hue, probability=1.0):
    """Per-image colour jitter with the four operations in a per-image random order.

    Factors are drawn from [1 - x, 1 + x] (hue: delta in [-hue, hue]). Applied to each image with
    `probability`. images: float [B, H, W, 3] in [0, 1].
    """
    images = tf.convert_to_tensor(images, tf.float32)
    batch = batch_size(images)
    s_b, s_c, s_s, s_h, s_order, s_apply = split_seed(seed, 6)
    # Factors are clamped at 0 as in SimCLR (strengths above 1.25 would make them negative).
    b = _uniform(batch, max(0.0, 1.0 - brightness), 1.0 + brightness, s_b)
    c = _uniform(batch, max(0.0, 1.0 - contrast), 1.0 + contrast, s_c)
    s = _uniform(batch, max(0.0, 1.0 - saturation), 1.0 + saturation, s_s)
    h = _uniform(batch, -hue, hue, s_h)
    factors = [b, c, s, h]
    ops = [adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue]
    # A random permutation per image (argsort of uniform noise). The batch is split once by
    # order (24 groups, and a 25th of the images left as they are, with 1 - probability), each
    # group goes through its four operations and the groups are stitched back: one copy of the
    # batch in and one out, not one of each per slot.
    order = tf.argsort(tf.random.stateless_uniform([batch, 4], seed=s_order), axis=1)
    group = tf.where(bernoulli(batch, probability, s_apply), _order_index(order), len(_ORDERS))
    parts = tf.dynamic_partition(images, group, len(_ORDERS) + 1)
    indices = tf.dynamic_partition(tf.range(batch), group, len(_ORDERS) + 1)
    for g, ops_order in enumerate(_ORDERS):
        for op in ops_order:
            parts[g] = ops[op](parts[g], tf.gather(factors[op], indices[g]))
    return tf.ensure_shape(tf.dynamic_stitch(indices, parts), images.shape)


_ORDERS = tuple(itertools.permutations(range(4)))


def _order_index(order):
    """The index in `_ORDERS` of each row of `order` (int32 [B, 4], a permutation of 0..3)."""
    codes = [sum(op << 2 * (3 - slot) for slot, op in enumerate(o)) for o in _ORDERS]
    code = tf.reduce_sum(order * tf.constant([64, 16, 4, 1], order.dtype), axis=1)
    matches = tf.equal(code[:, None], tf.constant([codes], code.dtype))
    return tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int32)


def random_grayscale(images, seed, probability=0.2):
    """Replace each image by its greyscale (3 equal channels) with `probability`."""
    images = tf.convert_to_tensor(images, tf.float32)
    return apply_where(bernoulli(batch_size(images), probability, seed), lambda x, _: _grey3(x),
                       images)


def color_distortion(images, seed, strength=1.0, jitter_probability=0.8, grayscale_probability=0.2,
                     jitter=None):
    """SimCLR's colour distortion of strength `strength` (the paper's s).

    `jitter` = (brightness, contrast, saturation, hue) replaces the factors derived from `strength`
    (0.8 s, 0.8 s, 0.8 s, 0.2 s); BYOL uses (0.4, 0.4, 0.2, 0.1) (Grill et al. 2020, appendix B).
    """
    if jitter is None:
        jitter = (0.8 * strength, 0.8 * strength, 0.8 * strength, 0.2 * strength)
    brightness, contrast, saturation, hue = jitter
    s_jitter, s_grey = split_seed(seed, 2)
    images = color_jitter(images, s_jitter, brightness=brightness, contrast=contrast,
                          saturation=saturation, hue=hue, probability=jitter_probability)
    return random_grayscale(images, s_grey, grayscale_probability)
