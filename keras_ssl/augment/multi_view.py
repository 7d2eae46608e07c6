"""Several independently augmented views of the same batch (SimCLR's two views, BYOL's asymmetric pair)."""

import keras

from keras_ssl.augment._random import split_seed


@keras.saving.register_keras_serializable(package="keras_ssl")
class MultiViewTransform:
    """Applies each transform to the batch with its own seed and returns the views as a tuple.

    Example:
    ```python
    views = keras_ssl.augment.MultiViewTransform([SimCLRTransform(32)] * 2)
    view1, view2 = views(images_uint8, seed)
    ```
    """

    def __init__(self, transforms):
        if not transforms:
            raise ValueError("MultiViewTransform needs at least one transform.")
        self.transforms = [keras.saving.deserialize_keras_object(t) if isinstance(t, dict) else t
                           for t in transforms]

    def __call__(self, images, seed):
        seeds = split_seed(seed, len(self.transforms))
        return tuple(t(images, s) for t, s in zip(self.transforms, seeds))

    def get_config(self):
        return {"transforms": [keras.saving.serialize_keras_object(t) for t in self.transforms]}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
