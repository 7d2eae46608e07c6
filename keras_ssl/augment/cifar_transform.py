"""The standard CIFAR training augmentation: 4-pixel padded random crop and horizontal flip
(He et al. 2016, section 4.2)."""

import keras

from keras_ssl.augment._random import split_seed
from keras_ssl.augment.crop import random_padded_crop
from keras_ssl.augment.flip import random_flip
from keras_ssl.augment.whole_image import WholeImageTransform


@keras.saving.register_keras_serializable(package="keras_ssl")
class PaddedCropFlipTransform(WholeImageTransform):
    """`transform(images_uint8, seed) -> float32 [0, 1]`: padded random crop, then flip, per image.

    Streaming: the whole image is resized to the pipeline's `image_size` (as in-memory sources
    resize on loading), then padded, cropped and flipped per batch.

    Example:
    ```python
    views = PaddedCropFlipTransform(padding=4)(images_uint8, seed=tf.constant([1, 2]))
    ```
    """

    def __init__(self, padding=4, flip_probability=0.5):
        self.padding = int(padding)
        self.flip_probability = flip_probability

    def augment_crops(self, crops, seed):
        """Padded crop and flip of `[float32 [B, S, S, 3] in [0, 1]]`."""
        (x,) = crops
        s_crop, s_flip = split_seed(seed, 2)
        if self.padding > 0:
            x = random_padded_crop(x, self.padding, s_crop)
        return random_flip(x, s_flip, self.flip_probability)

    def get_config(self):
        return {"padding": self.padding, "flip_probability": self.flip_probability}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
