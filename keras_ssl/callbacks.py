"""Training callbacks that Keras does not ship."""

import math
import time

import keras


class RaiseOnNaN(keras.callbacks.Callback):
    """Stop with an error as soon as the loss is NaN or infinite.

    Keras' `TerminateOnNaN` only stops training, so code after `fit` would go on with a broken model;
    this raises instead. Checkpoints written before the bad batch stay intact.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise FloatingPointError(
                f"loss became {float(loss)} at batch {batch}: training diverged. Lower the learning "
                "rate (train.base_learning_rate) or raise the warm-up; the last checkpoint is intact.")


class TimeBudget(keras.callbacks.Callback):
    """Stop training after the batch during which `minutes` have passed since `fit` began."""

    def __init__(self, minutes):
        super().__init__()
        self.seconds = 60.0 * minutes
        self.stopped_early = False

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self._start > self.seconds:
            self.stopped_early = True
            self.model.stop_training = True
