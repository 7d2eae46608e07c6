"""The streaming crop stage of transforms that take the whole decoded image."""

from keras_ssl.augment.crop import full_window
from keras_ssl.augment.simclr_transform import to_float_images


class WholeImageTransform:
    """Base of transforms with no crop of their own: the pipeline hands them the whole image at
    `data.image_size`, and a subclass implements `augment_crops([float32 [B, S, S, 3]], seed)`."""

    def __call__(self, images, seed):
        return self.augment_crops([to_float_images(images)], seed)

    def crop_windows(self, height, width, seed):
        """The whole image, int32 [1, 4]."""
        return full_window(height, width)[None]

    def crop_sizes(self, image_size=None):
        """The pipeline's `image_size` (the transform keeps the size it is given)."""
        return [image_size]

    def augment_crops(self, crops, seed):
        raise NotImplementedError
