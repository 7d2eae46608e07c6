"""Where the augmentation after the crop runs: in the input pipeline ("host") or in the train step
on each replica's batch ("device").

With ``augment_on="device"`` the pre-training pipelines stop before the augmentation and yield,
per replica and step, an element the train step finishes with `DeviceAugmentation`:

- streaming: ``{"crops": (uint8 [B, h, w, 3], ...), "seed": int64 [2]}``: the transform's crops,
  cut from the original image and resized, then the transform's ``augment_crops`` on the device;
- in memory: ``{"images": uint8 [B, H, W, 3], "seed": int64 [2]}`` (and ``"image_index"`` for a
  transform that ``uses_image_index``): the images are decoded and at size already, so the whole
  transform (its crop included) runs on the device.

The host path computes `augment_element` on the same element in the pipeline, so both give the same
views from the same seeds (tests/test_device_augmentation.py: bitwise on the CPU with grappler's
constant folding off; with it, which rewrites a few float32 products in the train step's graph
only, within 7e-7).

Example:

>>> ds = streaming_pretraining_dataset("folder:/data/photos", 256, views, augment_on="device")
>>> model.device_augmentation = DeviceAugmentation(views)
>>> model.fit(ds)  # each replica augments its own batch in the train step
"""

import tensorflow as tf

from keras_ssl.augment.simclr_transform import to_float_images

AUGMENT_ON = ("host", "device")


def check_augment_on(augment_on, transform, with_labels=False):
    """Refuses a bad ``augment_on`` and what the device path does not do; returns True for it."""
    if augment_on not in AUGMENT_ON:
        raise ValueError(f"augment_on must be one of {AUGMENT_ON}, got {augment_on!r}.")
    if augment_on == "host":
        return False
    if transform is None:
        raise ValueError("augment_on='device' needs a transform to run on the device; without "
                         "one the pipeline yields the images themselves (use augment_on='host').")
    if with_labels:
        raise ValueError("augment_on='device' yields the transform's inputs for the train step, "
                         "without labels; use augment_on='host' with with_labels=True.")
    return True


def augment_element(transform, element):
    """The transform's output from a pipeline element of ``augment_on="device"`` (see above)."""
    if "crops" in element:
        return transform.augment_crops([to_float_images(c) for c in element["crops"]],
                                       element["seed"])
    index = {"image_index": element["image_index"]} if "image_index" in element else {}
    return transform(element["images"], element["seed"], **index)


class DeviceAugmentation:
    """The train step's augmentation of batches from a pipeline built with ``augment_on="device"``.

    Set as ``model.device_augmentation`` (`keras_ssl.methods.PretrainingMethod`): the train and test
    steps turn each replica's element into the transform's output, with the element's seed, before
    the method's objective. It is not part of the saved model (``model(images)``, ``predict`` and
    export see images, as before); a resumed run sets it again.
    """

    def __init__(self, transform):
        if transform is None:
            raise ValueError("DeviceAugmentation needs the pipeline's transform, got None.")
        self.transform = transform

    def __call__(self, element):
        if not (isinstance(element, dict) and "seed" in element):
            raise ValueError(
                "model.device_augmentation is set but the batch is not from a pipeline built "
                "with augment_on='device' (a dict with 'seed'); build the dataset with "
                "augment_on='device', or set model.device_augmentation = None.")
        return augment_element(self.transform, element)


def to_uint8(crops):
    """Crops in [0, 255] (float) rounded to uint8, as `load_arrays` rounds its resize: both paths
    augment these same pixels."""
    return tuple(tf.cast(tf.round(c), tf.uint8) for c in crops)
