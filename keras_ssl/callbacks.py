"""Training callbacks that Keras does not ship."""

import contextlib
import csv
import io
import logging
import math
import os
import signal
import sys
import threading
import time

import keras
import tensorflow as tf
from absl import logging as absl_logging

from keras_ssl import files

# TensorFlow's checkpoint code logs INFO lines through absl on every save ("Sharding callback
# duration: 46 microseconds"), which would land among the progress output of training.
_TF_CHECKPOINT_DIR = os.path.join(
    os.path.dirname(sys.modules[tf.train.Checkpoint.__module__].__file__), "")


class _DropTensorFlowCheckpointInfo(logging.Filter):
    def filter(self, record):
        return record.levelno > logging.INFO or not record.pathname.startswith(_TF_CHECKPOINT_DIR)


@contextlib.contextmanager
def _without_tensorflow_checkpoint_info():
    """Drop INFO records of TensorFlow's checkpoint code meanwhile; warnings and errors pass."""
    logger, drop = absl_logging.get_absl_logger(), _DropTensorFlowCheckpointInfo()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


class RaiseOnNaN(keras.callbacks.Callback):
    """Stop with an error as soon as the loss is NaN or infinite, naming the step.

    Keras' `TerminateOnNaN` only stops training, so code after `fit` would go on with a broken model;
    this raises instead. Put it before `TrainingCheckpoint` in the callbacks: Keras calls them in
    order, so the bad step's weights are never saved and the last checkpoint is the last good one.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            # The optimizer has counted the bad step: its number is the run's step, from 1.
            step = int(self.model.optimizer.iterations.numpy())
            raise FloatingPointError(
                f"loss became {float(loss)} at step {step} of the run: training diverged. Lower "
                "the learning rate (train.base_learning_rate) or raise the warm-up; the last "
                "checkpoint, from before that step, is intact and a re-run resumes from it.")


class StopOnSignal(keras.callbacks.Callback):
    """Stop training at the next batch boundary after SIGTERM: the notice a spot VM, a TPU VM's
    maintenance event or Kubernetes gives before it kills the process.

    The signal is only noted; after the batch running when it came, training stops as if a
    callback had asked it to, so `TrainingCheckpoint` saves that position (mid-epoch included)
    and `fit` returns. ``received`` is then the signal's number: exit (the command line exits with
    `PREEMPTED_EXIT_CODE`) and re-run the same training to resume at exactly that step. Under
    MultiWorkerMirroredStrategy (`keras_ssl.distribute.fit`'s loop) all workers stop after the
    same batch. The handlers are installed for the duration of each `fit` (from the main thread).

    This is what TensorFlow's `tf.distribute.experimental.PreemptionCheckpointHandler` does for
    custom loops, as a Keras callback: it works with `model.fit` and with any strategy.

    Example:
    ```python
    stop = StopOnSignal()
    keras_ssl.distribute.fit(model, dataset_fn, epochs=100, steps_per_epoch=steps,
                             callbacks=[stop, checkpoint])
    if stop.received:
        sys.exit(PREEMPTED_EXIT_CODE)
    ```
    """

    def __init__(self, signals=(signal.SIGTERM,)):
        super().__init__()
        self.signals = tuple(signals)
        self.received = None
        self._previous = {}

    def _note(self, signum, frame):
        self.received = signum
        absl_logging.warning("received %s: stopping after this batch, with a checkpoint",
                             signal.Signals(signum).name)

    def on_train_begin(self, logs=None):
        if threading.current_thread() is threading.main_thread():  # Python's rule for handlers
            self._previous = {s: signal.signal(s, self._note) for s in self.signals}

    def on_train_batch_end(self, batch, logs=None):
        if self.received is not None:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}


# What TensorFlow's PreemptionCheckpointHandler exits with by default (off GCE and TPU): a run
# stopped by a signal with its position saved; re-running the same command resumes it.
PREEMPTED_EXIT_CODE = 42


class HistoryCSV(keras.callbacks.Callback):
    """Keras' `CSVLogger` (a row per epoch: `epoch` then the logs' keys, sorted) for any
    `tf.io.gfile` path, appending to the rows already there (a resumed run).

    The file is rewritten whole after every epoch (`keras_ssl.files`): object stores such as GCS
    cannot append, and Keras' logger fails on their file objects. An epoch ended twice (stopped
    part-way, then resumed) keeps the row of its last end.

    Example:
    ```python
    model.fit(dataset, epochs=10, callbacks=[HistoryCSV("gs://bucket/run/history.csv")])
    ```
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_train_begin(self, logs=None):
        self._rows = []
        if tf.io.gfile.exists(self.path):
            with tf.io.gfile.GFile(self.path) as f:
                self._rows = list(csv.DictReader(f))

    def on_epoch_end(self, epoch, logs=None):
        # An epoch stopped part-way (a preempted run) is ended again when resumed: one row each.
        self._rows = [row for row in self._rows if int(row["epoch"]) != epoch]
        self._rows.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        keys = sorted({k for row in self._rows for k in row} - {"epoch"})
        text = io.StringIO()
        writer = csv.DictWriter(text, ["epoch"] + keys, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._rows)
        files.write_text(self.path, text.getvalue())


# A tenth of the healthy 1 / sqrt(d) of the widest embedding the library's methods log (d = 8192,
# Barlow Twins' and VICReg's): no healthy run of any method falls under it.
COLLAPSE_THRESHOLD = 0.1 / math.sqrt(8192)


class CollapseWarning(keras.callbacks.Callback):
    """Warn once, in plain words, when an epoch's mean `embedding_std` falls under `threshold`.

    `embedding_std` (`keras_ssl.losses.embedding_std`, SimSiam's collapse metric, Chen & He 2021,
    fig. 2) is the per-dimension std of the L2-normalised embeddings: about 1 / sqrt(d) when they
    spread over the sphere, 0 when every image gets the same embedding. It never exceeds
    1 / sqrt(d) (the variances of a unit vector's d coordinates sum to at most 1), so one
    threshold serves every d: the default, 0.1 / sqrt(8192) = 0.0011, is a tenth of the healthy
    value of the widest embedding here and 1/80 of a 128-d one's. A collapsed run's features carry
    no information about the image: training on is wasted, so the warning says so and what to
    change. Training is not stopped.

    Example:
    ```python
    model.fit(dataset, epochs=10, callbacks=[CollapseWarning()])  # model logs embedding_std
    ```
    """

    def __init__(self, threshold=COLLAPSE_THRESHOLD):
        super().__init__()
        self.threshold = threshold
        self.warned = False

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("embedding_std")
        if self.warned or value is None or not float(value) < self.threshold:
            return
        self.warned = True
        absl_logging.warning(
            "the representation has collapsed: in epoch %d the embeddings' spread (embedding_std, "
            "the mean over dimensions of their standard deviation after normalising to unit "
            "length) was %.2g, under %.2g, so the encoder maps every image to nearly the same "
            "vector and learns nothing more. A healthy run stays near 1/sqrt(embedding size). "
            "Lower the learning rate or raise the warm-up, check the augmentation, and check the "
            "method's safeguards against collapse (stop-gradient, momentum encoder, negatives).",
            epoch + 1, float(value), self.threshold)


class TimeBudget(keras.callbacks.Callback):
    """Stop training after the batch during which `minutes` have passed since training began.

    The clock starts at the first `fit` the callback sees and keeps running through later ones
    (a resumed epoch and the epochs after it are two `fit` calls, see `keras_ssl.distribute.fit`).
    """

    def __init__(self, minutes):
        super().__init__()
        self.seconds = 60.0 * minutes
        self.stopped_early = False
        self._start = None

    def on_train_begin(self, logs=None):
        if self._start is None:
            self._start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self._start > self.seconds:
            self.stopped_early = True
            self.model.stop_training = True


class TrainingCheckpoint(keras.callbacks.Callback):
    """Resumable checkpoints: weights, optimizer state (its `iterations` drives the learning-rate
    schedule), epoch and batch, every `save_every_steps` batches and after every epoch.

    Keras' `BackupAndRestore` restores only the epoch, so a run killed mid-epoch would redo the
    epoch from its first batch. Here `restore()` returns `(epoch, step)`, the position to go on
    from; with `keras_ssl.data.pretraining_dataset(..., epochs, initial_epoch, initial_step)` the
    resumed run then sees the batches and augmentation seeds an uninterrupted run would (the data's
    randomness is a function of the seed, epoch and step alone, so those are its RNG state).

    Checkpoints are written by `tf.train.CheckpointManager`, which points its `checkpoint` file at
    a new checkpoint only after all of it is written and keeps the `max_to_keep` latest: a run
    killed while writing leaves the previous checkpoint the one restored. Under
    MultiWorkerMirroredStrategy every worker saves (as TF requires), the chief into `directory`,
    the others into temporary directories that are removed; all restore from `directory`.

    Args:
        directory: where checkpoints go (`<workdir>/checkpoints` for the CLI).
        steps_per_epoch: batches per epoch.
        save_every_steps: also save after every this many batches (None: at epoch ends only).
        max_to_keep: checkpoints kept.
        counters: running counts saved with the position, so that a resumed run's logs equal an
            uninterrupted run's (e.g. `keras_ssl.data.BadImagesLogger`): objects with
            ``checkpoint_variables`` (a list of variables) and ``before_save(epoch, step)``,
            which sets them to their values at that position.

    Example:
    ```python
    checkpoint = keras_ssl.callbacks.TrainingCheckpoint("run/checkpoints", steps, 500)
    epoch, step = checkpoint.restore(model)  # (0, 0) for a new run; model and optimizer built
    keras_ssl.distribute.fit(model, dataset_fn, epochs=100, steps_per_epoch=steps,
                             callbacks=[checkpoint], initial_epoch=epoch, initial_step=step)
    ```
    """

    def __init__(self, directory, steps_per_epoch, save_every_steps=None, max_to_keep=2,
                 counters=()):
        super().__init__()
        if save_every_steps is not None and save_every_steps < 1:
            raise ValueError(f"save_every_steps must be a positive integer or None, got "
                             f"{save_every_steps!r}.")
        self.directory = directory
        self.steps_per_epoch = steps_per_epoch
        self.save_every_steps = save_every_steps
        self.max_to_keep = max_to_keep
        self.counters = list(counters)
        self._checkpoint = None
        self._resume = (0, 0)
        self._position = self._saved = (0, 0)

    def _track(self, model):
        """Create the tf.train.Checkpoint once the model and its optimizer have their variables."""
        if self._checkpoint is not None:
            return
        if model.optimizer is None or not model.optimizer.built:
            raise ValueError("TrainingCheckpoint needs a compiled model whose optimizer is built: "
                             "call model.optimizer.build(model.trainable_variables) first (inside "
                             "the strategy scope).")
        strategy = model.distribute_strategy
        self._chief = strategy.extended.should_checkpoint
        resolver = getattr(strategy, "cluster_resolver", None)
        worker = resolver.task_id if resolver is not None and resolver.task_id is not None else 0
        self._write_dir = (self.directory if self._chief
                           else os.path.join(self.directory, f".worker{worker}-tmp"))
        # Keras 3 models are not fully tracked by tf.train.Checkpoint's object graph (layers kept
        # in plain attributes are missed), so the variables are listed explicitly.
        with tf.init_scope():
            self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
            self._step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._checkpoint = tf.train.Checkpoint(
            model=list(model.variables), optimizer=list(model.optimizer.variables),
            epoch=self._epoch, step=self._step,
            counters=[v for counter in self.counters for v in counter.checkpoint_variables])
        self._manager = tf.train.CheckpointManager(self._checkpoint, self._write_dir,
                                                   self.max_to_keep)

    def restore(self, model):
        """Load the latest checkpoint of `directory` into `model`; return `(epoch, step)` to start
        from ((0, 0) without a checkpoint). Call before training, with the optimizer built."""
        self.set_model(model)
        self._track(model)
        latest = tf.train.latest_checkpoint(self.directory)
        self.restored_path = latest
        if latest is not None:
            status = self._checkpoint.restore(latest)
            # The reader itself: tf.train.list_variables takes ram://...ckpt-1 for a directory.
            saved = [n for n in tf.compat.v1.train.NewCheckpointReader(latest)
                     .get_variable_to_shape_map() if n.startswith("counters/")]
            if len(saved) == sum(len(c.checkpoint_variables) for c in self.counters):
                status.assert_consumed()
            else:  # a reader without the run's counters (the evaluation's figures)
                status.assert_existing_objects_matched()
            self._resume = (int(self._epoch.numpy()), int(self._step.numpy()))
        self._position = self._saved = self._resume
        return self._resume

    @property
    def position(self):
        """`(epoch, step)` reached: the next batch to train is batch `step` of `epoch`."""
        return self._position

    def on_epoch_begin(self, epoch, logs=None):
        # The resumed epoch's batches are numbered from 0 by `fit`; they start at the resumed step.
        self._offset = self._resume[1] if epoch == self._resume[0] else 0
        self._position = (epoch, self._offset)

    def on_train_batch_end(self, batch, logs=None):
        epoch = self._position[0]
        done = self._offset + batch + 1
        self._position = (epoch, done)
        step = epoch * self.steps_per_epoch + done
        if self.save_every_steps and step % self.save_every_steps == 0 and done < \
                self.steps_per_epoch:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        # Keras ends an epoch that a callback stopped early (TimeBudget) too: it is done only
        # when all its batches are.
        if self._position[1] >= self.steps_per_epoch:
            self._position = (epoch + 1, 0)
        self._save()

    def on_train_end(self, logs=None):
        if self._position != self._saved:  # stopped early (e.g. by TimeBudget) mid-epoch
            self._save()

    def _save(self):
        self._track(self.model)
        epoch, step = self._position
        self._epoch.assign(epoch)
        self._step.assign(step)
        for counter in self.counters:
            counter.before_save(epoch, step)
        with _without_tensorflow_checkpoint_info():
            self._manager.save(checkpoint_number=epoch * self.steps_per_epoch + step)
        if not self._chief and tf.io.gfile.exists(self._write_dir):
            tf.io.gfile.rmtree(self._write_dir)
        self._saved = self._position
