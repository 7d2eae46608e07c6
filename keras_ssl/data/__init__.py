"""Data sources and tf.data pipelines.

Example:

>>> from keras_ssl import data
>>> images, labels, class_names = data.load_arrays("folder:/data/cifar10", split="train")
>>> ds = data.pretraining_dataset(None, 512, augment_fn, arrays=(images, labels))
>>> big = data.streaming_pretraining_dataset("folder:gs://bucket/photos", 256, views)  # streamed
>>> data.prepare_shards("folder:gs://bucket/photos", "gs://bucket/shards")  # once, > 1M images
>>> sharded = data.streaming_pretraining_dataset("tfrecord:gs://bucket/shards", 256, views)
>>> served = data.streaming_pretraining_dataset("folder:gs://bucket/photos", 256, views, epochs=100,
...                                             service="grpc://dispatcher:5050")  # tf.data service
"""

from keras_ssl.data.archive import unpack_image_folder
from keras_ssl.data.bad_images import BadImages, BadImagesLogger
from keras_ssl.data.choice import choose_pipeline, decoded_mb
from keras_ssl.data.device_augmentation import AUGMENT_ON, DeviceAugmentation
from keras_ssl.data.folders import list_image_folder
from keras_ssl.data.labelled import LabelledData, LabelledSplit
from keras_ssl.data.pipelines import eval_dataset, pretraining_dataset
from keras_ssl.data.prepare import prepare_shards
from keras_ssl.data.service import distribute_to_service
from keras_ssl.data.sources import load_arrays, parse_source
from keras_ssl.data.streaming import (streaming_eval_dataset, streaming_pretraining_dataset,
                                     streaming_steps_per_epoch)
from keras_ssl.data.streams import encoded_source

__all__ = [
    "AUGMENT_ON", "BadImages", "BadImagesLogger", "DeviceAugmentation", "LabelledData",
    "LabelledSplit", "choose_pipeline",
    "decoded_mb", "distribute_to_service", "encoded_source", "eval_dataset", "list_image_folder",
    "load_arrays", "parse_source", "prepare_shards", "pretraining_dataset",
    "streaming_eval_dataset", "streaming_pretraining_dataset", "streaming_steps_per_epoch",
    "unpack_image_folder",
]
