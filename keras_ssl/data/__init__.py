"""Data sources and tf.data pipelines.

Example:

>>> from keras_ssl import data
>>> images, labels, class_names = data.load_arrays("folder:/data/cifar10", split="train")
>>> ds = data.pretraining_dataset(None, 512, augment_fn, arrays=(images, labels))
"""

from keras_ssl.data.archive import unpack_image_folder
from keras_ssl.data.pipelines import eval_dataset, pretraining_dataset
from keras_ssl.data.sources import load_arrays, parse_source

__all__ = [
    "eval_dataset", "load_arrays", "parse_source", "pretraining_dataset", "unpack_image_folder",
]
