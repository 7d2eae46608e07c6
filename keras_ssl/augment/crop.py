"""Crops with per-image random boxes, all drawn at once and applied by one `crop_and_resize`."""

import math

import tensorflow as tf

from keras_ssl.augment._random import batch_size, split_seed

_ATTEMPTS = 10


def random_resized_crop(images, size, seed, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0)):
    """Inception-style random resized crop (Szegedy et al. 2015), SimCLR's main augmentation.

    Each image gets a box covering a fraction in `scale` of its area with aspect ratio in `ratio`
    (log-uniform), at a uniform position, resized bilinearly to `size`. As in torchvision/SimCLR,
    up to 10 draws are tried per image; if none fits, the whole image is used.

    Args:
        images: float [B, H, W, C].
        size: output (height, width) or an int.
        seed: int tensor [2].
    Returns:
        float32 [B, size, size, C].
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    images = tf.convert_to_tensor(images, tf.float32)
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    y0, x0, crop_h, crop_w = _sample_boxes(batch_size(images), height, width, seed, scale, ratio)
    return _crop(images, y0, x0, crop_h, crop_w, size)


def sample_crop_window(height, width, seed, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0)):
    """One `random_resized_crop` box on an image of `height` x `width`, in whole pixels.

    The box is drawn on the image's own size (not on a resized copy), so a crop of scale s covers s
    of the original area; `tf.image.decode_and_crop_jpeg` and slicing take it as it is.

    Args:
        height, width: the image's size (int32 scalars, e.g. from `tf.image.extract_jpeg_shape`).
        seed: int tensor [2].
    Returns:
        int32 [4]: (y0, x0, crop_height, crop_width).

    Example:
    ```python
    y0, x0, h, w = tf.unstack(sample_crop_window(480, 640, seed=tf.constant([0, 1])))
    crop = image[y0:y0 + h, x0:x0 + w]
    ```
    """
    h = tf.cast(height, tf.float32)
    w = tf.cast(width, tf.float32)
    y0, x0, crop_h, crop_w = _sample_boxes(1, h, w, seed, scale, ratio)
    # Whole pixels, at least one, inside the image (rounding may push a box one pixel out).
    crop_h = tf.clip_by_value(tf.round(crop_h), 1.0, h)
    crop_w = tf.clip_by_value(tf.round(crop_w), 1.0, w)
    y0 = tf.clip_by_value(tf.floor(y0), 0.0, h - crop_h)
    x0 = tf.clip_by_value(tf.floor(x0), 0.0, w - crop_w)
    return tf.cast(tf.concat([y0, x0, crop_h, crop_w], axis=0), tf.int32)


def full_window(height, width):
    """The window (y0, x0, height, width) int32 [4] of the whole image."""
    return tf.stack([0, 0, tf.cast(height, tf.int32), tf.cast(width, tf.int32)])


def random_padded_crop(images, padding, seed):
    """Pad by `padding` pixels (reflect) and take a random crop of the original size per image.

    The standard CIFAR training augmentation (He et al. 2016, section 4.2), used here for RotNet.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    batch = batch_size(images)
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]], mode="REFLECT")
    s_y, s_x = split_seed(seed, 2)
    y0 = tf.random.stateless_uniform([batch], maxval=2 * padding + 1, dtype=tf.int32, seed=s_y)
    x0 = tf.random.stateless_uniform([batch], maxval=2 * padding + 1, dtype=tf.int32, seed=s_x)
    h = tf.cast(height, tf.float32)
    w = tf.cast(width, tf.float32)
    size = (images.shape[1], images.shape[2])
    if None in size:
        raise ValueError("random_padded_crop needs a static image size; batch images of one size.")
    return _crop(padded, tf.cast(y0, tf.float32), tf.cast(x0, tf.float32),
                 tf.fill([batch], h), tf.fill([batch], w), size)


def _sample_boxes(batch, height, width, seed, scale, ratio):
    """Per-image Inception boxes (y0, x0, crop_h, crop_w), float32 [batch] each, in pixels."""
    s_area, s_ratio, s_y, s_x = split_seed(seed, 4)
    area = height * width * tf.random.stateless_uniform(
        [batch, _ATTEMPTS], minval=scale[0], maxval=scale[1], seed=s_area)
    log_ratio = tf.random.stateless_uniform(
        [batch, _ATTEMPTS], minval=math.log(ratio[0]), maxval=math.log(ratio[1]), seed=s_ratio)
    aspect = tf.exp(log_ratio)
    crop_w = tf.sqrt(area * aspect)
    crop_h = tf.sqrt(area / aspect)
    fits = (crop_w <= width) & (crop_h <= height)
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
    any_fit = tf.reduce_any(fits, axis=1)
    crop_w = tf.where(any_fit, tf.gather(crop_w, first, batch_dims=1), width)
    crop_h = tf.where(any_fit, tf.gather(crop_h, first, batch_dims=1), height)

    y0 = tf.random.stateless_uniform([batch], seed=s_y) * (height - crop_h)
    x0 = tf.random.stateless_uniform([batch], seed=s_x) * (width - crop_w)
    return y0, x0, crop_h, crop_w


def _crop(images, y0, x0, crop_h, crop_w, size):
    """Crop pixel boxes [y0, y0 + crop_h) x [x0, x0 + crop_w) and resize them to `size`."""
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    # crop_and_resize maps normalised coordinate 1 to pixel H - 1 (pixel centres).
    boxes = tf.stack([
        y0 / (height - 1.0),
        x0 / (width - 1.0),
        (y0 + crop_h - 1.0) / (height - 1.0),
        (x0 + crop_w - 1.0) / (width - 1.0),
    ], axis=1)
    box_indices = tf.range(batch_size(images))
    return tf.image.crop_and_resize(images, boxes, box_indices, size, method="bilinear")
