"""The `keras-ssl` command line (`keras_ssl.cli.main`)."""

import contextlib


class UsageError(Exception):
    """A mistake of the user's (a config key or value, a missing file, a folder that is not a run),
    not a bug: `keras-ssl` prints its message alone and exits with status 2 (`--traceback` shows
    the traceback)."""


class Preempted(Exception):
    """Training stopped on a signal (preemption) with its position checkpointed: not an error,
    but the run is not finished; `keras-ssl` prints the message and exits with `exit_code`."""

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code


@contextlib.contextmanager
def data_errors():
    """Report the data layer's refusals (a missing or empty folder, a wrong layout, a TFDS dataset
    that is not prepared, a batch larger than the data) as user errors: their messages name the
    path and the fix."""
    try:
        yield
    except (ValueError, FileNotFoundError) as e:
        if isinstance(e, UsageError):
            raise
        raise UsageError(str(e)) from e


@contextlib.contextmanager
def bad_image_errors(*bad_images):
    """Report what stopped a streamed pipeline over `bad_images` (`keras_ssl.data.BadImages`:
    `data.on_bad_image=error`, more than `data.max_bad_fraction`, or batches a tf.data service
    lost, `keras_ssl.data.service.EpochTally`) as a user error, with that
    error's message alone: TensorFlow hands it on as an op error holding a traceback."""
    import tensorflow as tf  # here: `keras-ssl --help` need not load TensorFlow

    try:
        yield
    except tf.errors.OpError as e:
        error = next((b.error for b in bad_images if b is not None and b.error), None)
        if error is None:
            raise
        raise UsageError(str(error)) from e
