"""RotNet's pretext labelling (Gidaris et al. 2018, "Unsupervised Representation Learning by
Predicting Image Rotations"): every image in all four rotations 0/90/180/270 degrees, in one batch."""

import keras
import tensorflow as tf

from keras_ssl.augment._random import batch_size
from keras_ssl.augment.crop import full_window
from keras_ssl.augment.simclr_transform import to_float_images

NUM_ROTATIONS = 4


def rotate_all(images):
    """[B, S, S, C] -> ([4B, S, S, C], labels int32 [4B]).

    The four rotations of image i are rows 4i..4i+3, labelled 0..3 for k * 90 degrees
    counter-clockwise, so a batch split across replicas keeps each image's rotations together.
    """
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"rotate_all expects a batch [B, H, W, C], got shape {images.shape}.")
    if images.shape[1] is None or images.shape[1] != images.shape[2]:
        raise ValueError(
            f"rotate_all needs square images of static size (rotations keep the shape), got "
            f"{images.shape}; crop or resize to a square first.")
    rotated = tf.stack([tf.image.rot90(images, k) for k in range(NUM_ROTATIONS)], axis=1)
    rotated = tf.reshape(rotated, [-1, *images.shape[1:]])
    labels = tf.tile(tf.range(NUM_ROTATIONS, dtype=tf.int32), [batch_size(images)])
    return rotated, labels


@keras.saving.register_keras_serializable(package="keras_ssl")
class RotationTransform:
    """Augment with `base` (e.g. `PaddedCropFlipTransform`), then `rotate_all`.

    `transform(images_uint8 [B, S, S, 3], seed) -> (float32 [4B, S, S, 3], labels int32 [4B])`.
    Streaming uses the base's crop stage (the whole image without a base).

    Example:
    ```python
    images, labels = RotationTransform(PaddedCropFlipTransform())(images_uint8, seed)
    ```
    """

    def __init__(self, base=None):
        self.base = keras.saving.deserialize_keras_object(base) if isinstance(base, dict) else base

    def __call__(self, images, seed):
        x = self.base(images, seed) if self.base is not None else to_float_images(images)
        return rotate_all(x)

    def crop_windows(self, height, width, seed):
        return (self.base.crop_windows(height, width, seed) if self.base is not None
                else full_window(height, width)[None])

    def crop_sizes(self, image_size=None):
        return self.base.crop_sizes(image_size) if self.base is not None else [image_size]

    def augment_crops(self, crops, seed):
        return rotate_all(self.base.augment_crops(crops, seed) if self.base is not None else crops[0])

    def get_config(self):
        return {"base": keras.saving.serialize_keras_object(self.base) if self.base else None}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
