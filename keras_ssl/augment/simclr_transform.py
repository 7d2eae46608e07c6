"""SimCLR's augmentation of one view (Chen et al. 2020, section 3 and appendix A)."""

import keras
import tensorflow as tf

from keras_ssl.augment._random import split_seed
from keras_ssl.augment.blur import random_gaussian_blur
from keras_ssl.augment.color import color_distortion
from keras_ssl.augment.crop import random_resized_crop, sample_crop_window
from keras_ssl.augment.flip import random_flip
from keras_ssl.augment.solarize import random_solarize


def to_float_images(images):
    """uint8 [B, H, W, C] in 0..255 -> float32 in [0, 1] (floats pass through)."""
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


@keras.saving.register_keras_serializable(package="keras_ssl")
class SimCLRTransform:
    """Random resized crop, flip, colour distortion, greyscale, optional blur and solarize.

    Called on a batch with a seed, it draws every parameter per image:
    `transform(images_uint8 [B, H, W, 3], seed int [2]) -> float32 [B, size, size, 3] in [0, 1]`.

    Args:
        image_size: output side.
        crop_scale, crop_ratio: random resized crop ranges (paper: (0.08, 1), (3/4, 4/3)).
        flip_probability: horizontal flip.
        color_strength: the paper's s (1.0 on ImageNet, 0.5 on CIFAR-10).
        color_jitter: (brightness, contrast, saturation, hue) instead of the factors derived from
            `color_strength` (0.8 s, 0.8 s, 0.8 s, 0.2 s); BYOL's are (0.4, 0.4, 0.2, 0.1).
        color_jitter_probability, grayscale_probability: 0.8 and 0.2 in the paper.
        blur_probability: 0.5 on ImageNet; 0 on CIFAR-10 (appendix B.9 leaves blur out at 32x32).
        solarize_probability: 0 for SimCLR (BYOL's second view uses 0.2).

    Streaming (`keras_ssl.data.streaming_pretraining_dataset`) runs it in two stages: per image,
    `crop_windows` draws the crop box on the original image, which is cut and resized to
    `image_size`; per batch, `augment_crops` does the rest (flip, colour, blur, solarize) with the
    seeds `__call__` would use.

    Example:
    ```python
    transform = keras_ssl.augment.SimCLRTransform(image_size=32, color_strength=0.5)
    view = transform(images_uint8, seed=tf.constant([1, 2]))
    window = transform.crop_windows(480, 640, seed=tf.constant([3, 4]))  # int32 [1, 4]
    ```
    """

    def __init__(self, image_size, crop_scale=(0.08, 1.0), crop_ratio=(3.0 / 4.0, 4.0 / 3.0),
                 flip_probability=0.5, color_strength=1.0, color_jitter_probability=0.8,
                 grayscale_probability=0.2, blur_probability=0.0, solarize_probability=0.0,
                 color_jitter=None):
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {crop_scale!r}.")
        if not 0 < crop_ratio[0] <= crop_ratio[1]:
            raise ValueError(f"crop_ratio must satisfy 0 < min <= max, got {crop_ratio!r}.")
        if color_jitter is not None:
            if len(color_jitter) != 4 or min(color_jitter) < 0:
                raise ValueError("color_jitter must be 4 numbers >= 0 (brightness, contrast, "
                                 f"saturation, hue), got {color_jitter!r}.")
            color_jitter = tuple(float(c) for c in color_jitter)
        self.color_jitter = color_jitter
        self.image_size = int(image_size)
        self.crop_scale = tuple(crop_scale)
        self.crop_ratio = tuple(crop_ratio)
        self.flip_probability = flip_probability
        self.color_strength = color_strength
        self.color_jitter_probability = color_jitter_probability
        self.grayscale_probability = grayscale_probability
        self.blur_probability = blur_probability
        self.solarize_probability = solarize_probability

    def __call__(self, images, seed):
        s_crop, *seeds = split_seed(seed, 5)
        x = to_float_images(images)
        x = random_resized_crop(x, self.image_size, s_crop, self.crop_scale, self.crop_ratio)
        return self._after_crop(x, *seeds)

    def crop_windows(self, height, width, seed):
        """The crop box on an image of `height` x `width`: int32 [1, 4] (y0, x0, h, w)."""
        return sample_crop_window(height, width, seed, self.crop_scale, self.crop_ratio)[None]

    def crop_sizes(self, image_size=None):
        """Each crop's output (height, width): the transform's own `image_size`."""
        return [(self.image_size, self.image_size)]

    def augment_crops(self, crops, seed):
        """The stages after the crop, on `[float32 [B, S, S, 3] in [0, 1]]` (one crop per image)."""
        (x,) = crops
        return self._after_crop(x, *split_seed(seed, 5)[1:])

    def _after_crop(self, x, s_flip, s_color, s_blur, s_solarize):
        x = random_flip(x, s_flip, self.flip_probability)
        x = color_distortion(x, s_color, self.color_strength, self.color_jitter_probability,
                             self.grayscale_probability, self.color_jitter)
        if self.blur_probability > 0:
            x = random_gaussian_blur(x, s_blur, self.blur_probability)
        if self.solarize_probability > 0:
            x = random_solarize(x, s_solarize, self.solarize_probability)
        return x

    def get_config(self):
        return {
            "image_size": self.image_size,
            "crop_scale": self.crop_scale,
            "crop_ratio": self.crop_ratio,
            "flip_probability": self.flip_probability,
            "color_strength": self.color_strength,
            "color_jitter_probability": self.color_jitter_probability,
            "grayscale_probability": self.grayscale_probability,
            "blur_probability": self.blur_probability,
            "solarize_probability": self.solarize_probability,
            "color_jitter": self.color_jitter,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
