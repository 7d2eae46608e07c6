"""Exemplar-CNN's surrogate classes (Dosovitskiy et al. 2014, "Discriminative Unsupervised Feature
Learning with Convolutional Neural Networks"; TPAMI 2016, section 3.1): every seed image is a
class, and its views are drawn from the paper's transformation families.

Example:
```python
views, labels = ExemplarTransform(num_views=2)(images_uint8, seed, image_index=index)
# views float32 [2B, S, S, 3]; labels int32 [2B] = each image's index, rows 2i, 2i+1 of image i
```
"""

import math

import keras
import tensorflow as tf

from keras_ssl.augment._random import batch_size, split_seed
from keras_ssl.augment.simclr_transform import to_float_images


def _log_uniform(shape, low, high, seed):
    return tf.exp(tf.random.stateless_uniform(shape, seed, math.log(low), math.log(high)))


def gradient_energy_windows(images, patch_size):
    """Top-left corners int32 [B, 2] of each image's `patch_size` window of highest gradient
    energy (the sum of squared Sobel magnitudes), the paper's seed positions "at regions
    containing considerable gradients". A function of the image alone, so stable per image."""
    grey = tf.reduce_mean(images, axis=-1, keepdims=True)
    energy = tf.reduce_sum(tf.image.sobel_edges(grey) ** 2, axis=[-2, -1])[..., None]
    window = tf.nn.avg_pool2d(energy, patch_size, 1, "VALID")[..., 0]  # [B, H-p+1, W-p+1]
    cols = tf.shape(window)[2]
    flat = tf.argmax(tf.reshape(window, [batch_size(images), -1]), axis=1, output_type=tf.int32)
    return tf.stack([flat // cols, flat % cols], axis=-1)


def seed_patches(images, patch_size):
    """The seed patch of every image [B, p, p, 3]: the whole image when it is the patch size,
    else its window of highest gradient energy."""
    if patch_size is None or (images.shape[1] == patch_size and images.shape[2] == patch_size):
        return images
    corners = gradient_energy_windows(images, patch_size)
    return tf.map_fn(lambda ic: tf.slice(ic[0], tf.concat([ic[1], [0]], 0),
                                         [patch_size, patch_size, 3]),
                     (images, corners), fn_output_signature=images.dtype)


def random_similarity(images, seed, translation=0.2, scale=(0.7, 1.4), rotation=20.0):
    """Per image: translation by up to `translation` x the size (each axis), scaling by a factor
    in `scale` (log-uniform), rotation by up to `rotation` degrees; reflected borders."""
    n, h, w = batch_size(images), images.shape[1], images.shape[2]
    s_t, s_s, s_r = split_seed(seed, 3)
    shift = tf.random.stateless_uniform([n, 2], s_t, -translation, translation) * [w, h]
    factor = _log_uniform([n], scale[0], scale[1], s_s)
    angle = tf.random.stateless_uniform([n], s_r, -rotation, rotation) * (math.pi / 180.0)
    cos, sin = tf.cos(angle) / factor, tf.sin(angle) / factor
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    # Output pixel (x, y) reads input A (p - c) + c - shift, with A = R(-angle) / factor.
    a0, a1, b0, b1 = cos, sin, -sin, cos
    a2 = cx - a0 * cx - a1 * cy - shift[:, 0]
    b2 = cy - b0 * cx - b1 * cy - shift[:, 1]
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.constant([h, w], tf.int32),
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")


def principal_component_contrast(images, seed, factor=(0.5, 2.0)):
    """"Contrast 1": each image's pixels projected on the principal components of all pixels (of
    the batch, standing in for the dataset's), each projection multiplied by its own factor in
    `factor` (log-uniform, one per component and image)."""
    pixels = tf.reshape(images, [-1, 3])
    mean = tf.reduce_mean(pixels, axis=0)
    centred = pixels - mean
    covariance = tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(pixels)[0],
                                                                         tf.float32)
    _, vectors = tf.linalg.eigh(covariance)  # columns are the components
    f = _log_uniform([batch_size(images), 1, 1, 3], factor[0], factor[1], seed)
    projected = tf.tensordot(images - mean, vectors, 1) * f
    return tf.clip_by_value(tf.tensordot(projected, tf.transpose(vectors), 1) + mean, 0.0, 1.0)


def hsv_jitter(images, seed, power=(0.25, 4.0), multiply=(0.7, 1.4), add=(-0.1, 0.1),
               hue=(-0.1, 0.1)):
    """"Contrast 2" and "Color": S and V raised to a power in `power`, multiplied by a factor in
    `multiply` and shifted by `add` (the same for all pixels of an image); `hue` added to H."""
    n = batch_size(images)
    s_p, s_m, s_a, s_h = split_seed(seed, 4)
    hsv = tf.image.rgb_to_hsv(tf.clip_by_value(images, 0.0, 1.0))
    p = _log_uniform([n, 1, 1, 2], power[0], power[1], s_p)
    m = _log_uniform([n, 1, 1, 2], multiply[0], multiply[1], s_m)
    a = tf.random.stateless_uniform([n, 1, 1, 2], s_a, add[0], add[1])
    sv = tf.clip_by_value(tf.pow(hsv[..., 1:], p) * m + a, 0.0, 1.0)
    h = tf.math.floormod(hsv[..., :1] + tf.random.stateless_uniform([n, 1, 1, 1], s_h, hue[0],
                                                                       hue[1]), 1.0)
    return tf.image.hsv_to_rgb(tf.concat([h, sv], axis=-1))


@keras.saving.register_keras_serializable(package="keras_ssl")
class ExemplarTransform:
    """`transform(images_uint8 [B, H, W, 3], seed, image_index int [B]) -> (views float32
    [K B, p, p, 3], labels int32 [K B])`: `num_views` = K random transformations of each seed
    patch, labelled by the image's index (its surrogate class), rows Ki..Ki+K-1 of image i.

    The transformation families and ranges are the paper's (TPAMI 2016, section 3.1):
    translation within 0.2 of the patch size, scaling by 0.7..1.4, rotation within 20 degrees,
    contrast 1 (principal-component projections x 0.5..2), contrast 2 (S, V to the power
    0.25..4, x 0.7..1.4, + -0.1..0.1) and colour (hue + -0.1..0.1). Each family is applied to
    every view (the paper composes them all, each with random strength).

    `uses_image_index` asks `keras_ssl.data.pretraining_dataset` for each image's row index,
    stable across epochs, which is the label (called without it, as `keras-ssl preview` does,
    the batch positions 0..B-1 stand in). The streaming pipeline carries no such index, so
    this transform has no crop stage (streaming refuses it).
    """

    uses_image_index = True

    def __init__(self, num_views=2, patch_size=None, translation=0.2, scale=(0.7, 1.4),
                 rotation=20.0, pca_contrast=(0.5, 2.0), hsv_power=(0.25, 4.0),
                 hsv_multiply=(0.7, 1.4), hsv_add=(-0.1, 0.1), hue=(-0.1, 0.1)):
        self.num_views = int(num_views)
        self.patch_size = patch_size
        self.translation = float(translation)
        self.scale = tuple(scale)
        self.rotation = float(rotation)
        self.pca_contrast = tuple(pca_contrast)
        self.hsv_power = tuple(hsv_power)
        self.hsv_multiply = tuple(hsv_multiply)
        self.hsv_add = tuple(hsv_add)
        self.hue = tuple(hue)

    def __call__(self, images, seed, image_index=None):
        if image_index is None:  # a lone batch (a preview): its positions stand in
            image_index = tf.range(batch_size(images))
        x = seed_patches(to_float_images(images), self.patch_size)
        k = self.num_views
        x = tf.repeat(x, k, axis=0)
        labels = tf.repeat(tf.cast(image_index, tf.int32), k)
        s_geo, s_pca, s_hsv = split_seed(seed, 3)
        x = random_similarity(x, s_geo, self.translation, self.scale, self.rotation)
        x = principal_component_contrast(x, s_pca, self.pca_contrast)
        x = hsv_jitter(x, s_hsv, self.hsv_power, self.hsv_multiply, self.hsv_add, self.hue)
        return x, labels

    def get_config(self):
        return {k: getattr(self, k) for k in (
            "num_views", "patch_size", "translation", "scale", "rotation", "pca_contrast",
            "hsv_power", "hsv_multiply", "hsv_add", "hue")}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
