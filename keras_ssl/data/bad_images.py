"""Unreadable images met while streaming: skipped and counted, or an error, with their names.

Example:

>>> bad = BadImages()
>>> ds = streaming_pretraining_dataset("folder:/data/web", 256, views, bad_images=bad)
>>> model.fit(ds, epochs=10, callbacks=[BadImagesLogger(bad), keras.callbacks.CSVLogger("h.csv")])
>>> bad.count, sorted(bad.names)[:1]
(3, ['/data/web/train/x/broken.jpg'])
"""

import logging
import threading

import keras

ON_BAD_IMAGE = ("skip", "error")
_log = logging.getLogger("keras_ssl.data")


class BadImages:
    """Counts images that could not be read or decoded; logs each name once.

    ``count`` counts every skip (an image bad in every epoch counts once per epoch); ``names``
    holds the distinct ones (file paths, or ``file:index`` for records); ``error`` is the error
    that stopped the pipeline (None until one did): TensorFlow hands it on wrapped in an op error
    whose message is a traceback, so the command line reports this one instead.
    """

    def __init__(self):
        self.count = 0
        self.names = set()
        self.error = None
        self._lock = threading.Lock()  # tf.data runs the hook from its own threads.

    def record(self, names, on_bad_image, max_bad, description):
        """Called by the pipeline with the names of skipped images; raises to stop it."""
        with self._lock:
            for name in names:
                if on_bad_image == "error":
                    self._fail(f"Image {name} of {description} could not be read or decoded "
                               "(on_bad_image='error'). Fix or remove the file, or pass "
                               "on_bad_image='skip'.")
                self.count += 1
                if name not in self.names:
                    self.names.add(name)
                    _log.warning("skipping unreadable image %s", name)
            if len(self.names) > max_bad:
                self._fail(
                    f"{len(self.names)} images of {description} could not be read or decoded, more "
                    f"than the allowed {max_bad} (max_bad_fraction); e.g. {sorted(self.names)[:3]}. "
                    "Fix the files or raise max_bad_fraction.")

    def _fail(self, message):
        self.error = ValueError(message)
        raise self.error


class BadImagesLogger(keras.callbacks.Callback):
    """Adds ``bad_images`` (images skipped during the epoch) to the epoch's logs.

    Put it before `keras.callbacks.CSVLogger` / TensorBoard so they record it. The pipeline reads
    ahead (prefetch), so a skip is counted in the epoch that read it.
    """

    def __init__(self, bad_images):
        super().__init__()
        self.bad_images = bad_images
        self._seen = 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["bad_images"] = self.bad_images.count - self._seen
        self._seen = self.bad_images.count
