"""Several independently augmented views of the same batch (SimCLR's two views, BYOL's asymmetric pair)."""

import keras
import tensorflow as tf

from keras_ssl.augment._random import split_seed


@keras.saving.register_keras_serializable(package="keras_ssl")
class MultiViewTransform:
    """Applies each transform to the batch with its own seed and returns the views as a tuple.

    Example:
    ```python
    views = keras_ssl.augment.MultiViewTransform([SimCLRTransform(32)] * 2)
    view1, view2 = views(images_uint8, seed)
    ```

    Streaming: `crop_windows` stacks each transform's windows (one decode serves all views) and
    `augment_crops` hands each transform its crops, with the seeds `__call__` would give it.
    """

    def __init__(self, transforms):
        if not transforms:
            raise ValueError("MultiViewTransform needs at least one transform.")
        self.transforms = [keras.saving.deserialize_keras_object(t) if isinstance(t, dict) else t
                           for t in transforms]

    def __call__(self, images, seed):
        seeds = split_seed(seed, len(self.transforms))
        return tuple(t(images, s) for t, s in zip(self.transforms, seeds))

    def crop_windows(self, height, width, seed):
        """Every view's crop boxes, int32 [V, 4], each transform with its `__call__` seed."""
        seeds = split_seed(seed, len(self.transforms))
        return tf.concat([t.crop_windows(height, width, s) for t, s in zip(self.transforms, seeds)], 0)

    def crop_sizes(self, image_size=None):
        return [size for t in self.transforms for size in t.crop_sizes(image_size)]

    def augment_crops(self, crops, seed):
        seeds = split_seed(seed, len(self.transforms))
        views, start = [], 0
        for t, s in zip(self.transforms, seeds):
            count = len(t.crop_sizes())
            views.append(t.augment_crops(crops[start:start + count], s))
            start += count
        return tuple(views)

    def get_config(self):
        return {"transforms": [keras.saving.serialize_keras_object(t) for t in self.transforms]}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
