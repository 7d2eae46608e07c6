"""Gaussian blur with a per-image sigma (SimCLR appendix A: sigma in [0.1, 2.0], kernel 10% of the side)."""

import tensorflow as tf

from keras_ssl.augment._random import apply_where, batch_size, bernoulli, split_seed


def random_gaussian_blur(images, seed, probability=0.5, sigma=(0.1, 2.0), kernel_size=None):
    """Blur each image with `probability`, with its own sigma drawn uniformly from `sigma`.

    Only the images drawn for blurring are convolved (`apply_where`). `kernel_size` defaults to
    10% of the image height (odd). images: float [B, H, W, C] with static H, W, C.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if kernel_size is None:
        kernel_size = max(3, int(0.1 * images.shape[1]) // 2 * 2 + 1)
    batch = batch_size(images)
    s_sigma, s_apply = split_seed(seed, 2)
    sigmas = tf.random.stateless_uniform([batch], minval=sigma[0], maxval=sigma[1], seed=s_sigma)
    return apply_where(bernoulli(batch, probability, s_apply),
                       lambda x, which: gaussian_blur(x, tf.gather(sigmas, which), kernel_size),
                       images)


def gaussian_blur(images, sigmas, kernel_size):
    """Each image blurred with its own sigma (float32 [B]), in one separable depthwise convolution:
    the batch is moved into the channel axis so every image gets its own kernel; reflect padding."""
    _, height, width, channels = images.shape
    radius = kernel_size // 2
    offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernels = tf.exp(-(offsets[None, :] ** 2) / (2.0 * sigmas[:, None] ** 2))
    kernels /= tf.reduce_sum(kernels, axis=1, keepdims=True)  # [B, K]
    kernels = tf.repeat(kernels, channels, axis=0)  # [B * C, K], image-major like the channels below

    # [B, H, W, C] -> [1, H, W, B * C]
    stacked = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, height, width, -1])
    stacked = tf.pad(stacked, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    kernel_t = tf.transpose(kernels)  # [K, B * C]
    vertical = kernel_t[:, None, :, None]
    horizontal = kernel_t[None, :, :, None]
    blurred = tf.nn.depthwise_conv2d(stacked, vertical, [1, 1, 1, 1], "VALID")
    blurred = tf.nn.depthwise_conv2d(blurred, horizontal, [1, 1, 1, 1], "VALID")
    return tf.transpose(tf.reshape(blurred, [height, width, -1, channels]), [2, 0, 1, 3])
