"""Progress bars for the evaluation protocols (feature extraction, probe and fine-tune training)."""

import sys

import keras


def progbar(target, title, unit_name, stateful_metrics=None):
    """A `keras.utils.Progbar` after a `title` line; redraws on a terminal, one line in logs."""
    print(title, flush=True)
    return keras.utils.Progbar(target, verbose=1 if sys.stdout.isatty() else 2,
                               unit_name=unit_name, stateful_metrics=stateful_metrics)


class EpochProgress(keras.callbacks.Callback):
    """One bar over the epochs of a `fit`, showing the loss (Keras' own bar counts steps)."""

    def __init__(self, title, epochs):
        super().__init__()
        self.title = title
        self.epochs = epochs

    def on_train_begin(self, logs=None):
        # The loss shown is the last epoch's, not an average over epochs.
        self.bar = progbar(self.epochs, self.title, "epoch", stateful_metrics=["loss"])

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(epoch + 1, [("loss", float((logs or {})["loss"]))])
