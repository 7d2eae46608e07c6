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
import tensorflow as tf

ON_BAD_IMAGE = ("skip", "error")
_log = logging.getLogger("keras_ssl.data")


class BadImages:
    """Counts images that could not be read or decoded; logs each name once.

    ``count`` counts every skip (an image bad in every epoch counts once per epoch); ``names``
    holds the distinct ones (file paths, or ``file:index`` for records); ``error`` is the error
    that stopped the pipeline (None until one did): TensorFlow hands it on wrapped in an op error
    whose message is a traceback, so the command line reports this one instead. A training
    pipeline also gives each skip's epoch and its position in the epoch's order (`in_epoch`),
    which is what lets a resumed run's counts equal an uninterrupted one's (`BadImagesLogger`).
    """

    def __init__(self):
        self.count = 0
        self.names = set()
        self.error = None
        self.unplaced = 0  # skips without an epoch (a tf.data service, or no epochs given)
        # epoch -> positions of its skips: a set, as Keras may start reading an epoch twice.
        self._positions = {}
        self._lock = threading.Lock()  # tf.data runs the hook from its own threads.

    def record(self, names, on_bad_image, max_bad, description, epoch=None, positions=None):
        """Called by the pipeline with the names of skipped images (and, when it knows them,
        their epoch and positions in it); raises to stop it."""
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
            if epoch is None:
                self.unplaced += len(names)
            else:
                self._positions.setdefault(epoch, set()).update(positions)
            if len(self.names) > max_bad:
                self._fail(
                    f"{len(self.names)} images of {description} could not be read or decoded, more "
                    f"than the allowed {max_bad} (max_bad_fraction); e.g. {sorted(self.names)[:3]}. "
                    "Fix the files or raise max_bad_fraction.")

    def in_epoch(self, epoch, before=None):
        """Skips recorded in `epoch` (at positions below `before` in its order, if given)."""
        with self._lock:
            positions = self._positions.get(epoch, ())
            return len(positions) if before is None else sum(p < before for p in positions)

    def _fail(self, message):
        self.error = ValueError(message)
        raise self.error


class BadImagesLogger(keras.callbacks.Callback):
    """Adds ``bad_images`` (images skipped in the epoch) to the epoch's logs.

    Put it before `keras.callbacks.CSVLogger` / TensorBoard so they record it. A skip counts in
    its own epoch, whenever the pipeline (which reads ahead) read it; skips with no epoch (a
    tf.data service pipeline) count in the epoch that read them.

    With `keras_ssl.callbacks.TrainingCheckpoint(..., counters=[logger])` the epoch's count up to
    the checkpoint's step is saved with it, so a run resumed mid-epoch (whose pipeline starts
    reading at that step) logs what an uninterrupted run logs. That needs ``examples_per_step``:
    the images one step takes from this pipeline (the global batch over the input pipelines).
    Under several workers each counts its own pipeline's skips and the chief's are checkpointed.
    """

    def __init__(self, bad_images, examples_per_step=None):
        super().__init__()
        self.bad_images = bad_images
        self.examples_per_step = examples_per_step
        with tf.init_scope():
            # The checkpoint's epoch and that epoch's skips before its step.
            self.checkpoint_variables = [tf.Variable(-1, dtype=tf.int64, trainable=False),
                                         tf.Variable(0, dtype=tf.int64, trainable=False)]
        self._resumed = None
        self._unplaced_seen = 0

    def _before_resume(self, epoch):
        """Skips of `epoch` before the position the run resumed at (0 unless it resumed there)."""
        if self._resumed is None:  # read once, before this run's own saves overwrite them
            self._resumed = tuple(int(v.numpy()) for v in self.checkpoint_variables)
        return self._resumed[1] if epoch == self._resumed[0] else 0

    def before_save(self, epoch, step):
        """Called by `TrainingCheckpoint` before it saves position (`epoch`, `step`)."""
        if self.examples_per_step is None:
            raise ValueError("BadImagesLogger needs examples_per_step to be checkpointed.")
        count = self._before_resume(epoch) + self.bad_images.in_epoch(
            epoch, before=step * self.examples_per_step)
        self.checkpoint_variables[0].assign(epoch)
        self.checkpoint_variables[1].assign(count)

    def on_epoch_end(self, epoch, logs=None):
        unplaced = self.bad_images.unplaced - self._unplaced_seen
        self._unplaced_seen = self.bad_images.unplaced
        if logs is not None:
            logs["bad_images"] = (self._before_resume(epoch) + self.bad_images.in_epoch(epoch)
                                  + unplaced)
