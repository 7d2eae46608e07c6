"""Decoding encoded images into crops of the original-resolution image, resized per crop.

Example:

>>> crops = decode_crops(tf.io.read_file("x.jpg"), lambda h, w: full_window(h, w)[None], [(224, 224)])
>>> crops[0].shape
TensorShape([224, 224, 3])
"""

import tensorflow as tf

_JPEG_MAGIC = b"\xff\xd8\xff"
# JPEGs with at most this many crops are decoded per crop (tf.image.decode_and_crop_jpeg decodes
# only the crop's rows and columns); more crops decode the whole image once. Measured by
# benchmarks/jpeg_crops.py: see that script for the numbers.
PARTIAL_DECODE_MAX_CROPS = 1
# libjpeg's chroma upsampling differs at the edges of a partially decoded region (measured here:
# up to 41 levels on 0.1-0.8% of a crop's pixels); decoding a margin around the crop and cutting
# it off gives the pixels of a full decode exactly (tested).
_MARGIN = 8


def decode_crops(contents, crop_windows, sizes, partial_decode_max_crops=PARTIAL_DECODE_MAX_CROPS):
    """Decodes an encoded image (JPEG/PNG/BMP/GIF, as RGB) into crops resized to `sizes`.

    Args:
        contents: scalar string tensor, the encoded file.
        crop_windows: ``fn(height, width) -> int32 [V, 4]`` windows (y0, x0, h, w) on the image's
            own size (e.g. a transform's ``crop_windows`` with a seed bound).
        sizes: V static output sizes (height, width).
        partial_decode_max_crops: JPEGs with at most this many crops use
            `tf.image.decode_and_crop_jpeg` per crop, else one full decode.

    Returns:
        A list of V float32 ``[h, w, 3]`` in [0, 255] (bilinear, antialiased resize).
    """

    def crop_decoded(image):
        windows = crop_windows(tf.shape(image)[0], tf.shape(image)[1])
        return _resized([image[w[0]:w[0] + w[2], w[1]:w[1] + w[3]]
                         for w in tf.unstack(windows, len(sizes))], sizes)

    def jpeg():
        if len(sizes) > partial_decode_max_crops:
            return crop_decoded(tf.io.decode_jpeg(contents, channels=3))
        shape = tf.image.extract_jpeg_shape(contents)
        windows = tf.unstack(crop_windows(shape[0], shape[1]), len(sizes))
        return _resized([_decode_window(contents, w, shape) for w in windows], sizes)

    def other():
        return crop_decoded(tf.io.decode_image(contents, channels=3, expand_animations=False))

    is_jpeg = tf.equal(tf.strings.substr(contents, 0, len(_JPEG_MAGIC)), _JPEG_MAGIC)
    return tf.cond(is_jpeg, jpeg, other)


def _decode_window(contents, window, shape):
    """`window` of a JPEG, decoded with a margin so that its pixels equal a full decode's."""
    start = tf.maximum(window[:2] - _MARGIN, 0)
    end = tf.minimum(window[:2] + window[2:] + _MARGIN, shape[:2])
    region = tf.image.decode_and_crop_jpeg(contents, tf.concat([start, end - start], 0), channels=3)
    offset = window[:2] - start
    return region[offset[0]:offset[0] + window[2], offset[1]:offset[1] + window[3]]


def _resized(crops, sizes):
    out = []
    for crop, size in zip(crops, sizes):
        # Enlarging, the antialiased kernel is the bilinear one (they differ by float rounding,
        # < 1e-3 of 255 measured) and ResizeBilinear is ~4x faster than ScaleAndTranslate.
        enlarging = tf.reduce_all(tf.shape(crop)[:2] <= size)
        x = tf.cond(enlarging,
                    lambda c=crop, s=size: tf.image.resize(c, s, method="bilinear"),
                    lambda c=crop, s=size: tf.image.resize(c, s, method="bilinear", antialias=True))
        out.append(tf.ensure_shape(tf.clip_by_value(x, 0.0, 255.0), tuple(size) + (3,)))
    return out
