"""AMDIM's training views as the authors' code makes them (Philip-Bachman/amdim-public, datasets.py):
one horizontal flip of the image shared by both views, then per view either a reflect-padded
translation (`TransformsC10`, CIFAR) or a random resized crop (`TransformsSTL10`,
`TransformsImageNet128`), colour jitter with p 0.8 and random grey with p 0.25."""

import keras

from keras_ssl.augment._random import batch_size, bernoulli, select, split_seed
from keras_ssl.augment.color import color_distortion
from keras_ssl.augment.crop import random_padded_crop
from keras_ssl.augment.flip import random_flip
from keras_ssl.augment.multi_view import MultiViewTransform
from keras_ssl.augment.whole_image import WholeImageTransform


@keras.saving.register_keras_serializable(package="keras_ssl")
class TranslateColorTransform(WholeImageTransform):
    """One view of the code's `TransformsC10`: with `translate_probability` (0.8) a translation by
    (dy, dx), each uniform in [-max_translation, max_translation] (4), the uncovered border filled
    by reflection (the code's `RandomTranslateWithReflect`, which does not repeat the edge pixel:
    tf.pad's REFLECT); then colour jitter with `color_jitter_probability` and greyscale with
    `grayscale_probability`. No crop and no flip (`SharedFlipViews` flips both views at once).

    `transform(images_uint8 [B, H, W, 3], seed) -> float32 [B, H, W, 3] in [0, 1]`.

    Example:
    ```python
    view = TranslateColorTransform()(images_uint8, seed=tf.constant([1, 2]))
    ```
    """

    def __init__(self, max_translation=4, translate_probability=0.8,
                 color_jitter=(0.4, 0.4, 0.4, 0.2), color_jitter_probability=0.8,
                 grayscale_probability=0.25):
        self.max_translation = int(max_translation)
        self.translate_probability = translate_probability
        self.color_jitter = tuple(float(c) for c in color_jitter)
        self.color_jitter_probability = color_jitter_probability
        self.grayscale_probability = grayscale_probability

    def augment_crops(self, crops, seed):
        (x,) = crops
        s_shift, s_apply, s_color = split_seed(seed, 3)
        if self.max_translation > 0:
            # A crop of the original size from the image padded by m is a translation in [-m, m].
            moved = random_padded_crop(x, self.max_translation, s_shift)
            x = select(bernoulli(batch_size(x), self.translate_probability, s_apply), moved, x)
        return color_distortion(x, s_color, jitter_probability=self.color_jitter_probability,
                                grayscale_probability=self.grayscale_probability,
                                jitter=self.color_jitter)

    def get_config(self):
        return {"max_translation": self.max_translation,
                "translate_probability": self.translate_probability,
                "color_jitter": self.color_jitter,
                "color_jitter_probability": self.color_jitter_probability,
                "grayscale_probability": self.grayscale_probability}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_ssl")
class SharedFlipViews(MultiViewTransform):
    """`MultiViewTransform` whose views of one image share one horizontal flip (p
    `flip_probability`), as the code flips the image once before making both views.

    The flip is applied after the views' own transforms rather than before: the same distribution,
    as a mirrored image's uniform translation or crop box is a mirrored uniform one and colour
    jitter / grey do not depend on position.

    Example:
    ```python
    view1, view2 = SharedFlipViews([TranslateColorTransform()] * 2)(images_uint8, seed)
    ```
    """

    def __init__(self, transforms, flip_probability=0.5):
        super().__init__(transforms)
        self.flip_probability = flip_probability

    def __call__(self, images, seed):
        s_views, s_flip = split_seed(seed, 2)
        return self._flip(super().__call__(images, s_views), s_flip)

    def crop_windows(self, height, width, seed):
        return super().crop_windows(height, width, split_seed(seed, 2)[0])

    def augment_crops(self, crops, seed):
        s_views, s_flip = split_seed(seed, 2)
        return self._flip(super().augment_crops(crops, s_views), s_flip)

    def _flip(self, views, seed):
        # One seed for every view: the same per-image draws, so the same images are mirrored.
        return tuple(random_flip(v, seed, self.flip_probability) for v in views)

    def get_config(self):
        return {**super().get_config(), "flip_probability": self.flip_probability}
