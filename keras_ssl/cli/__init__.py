"""The `keras-ssl` command line (`keras_ssl.cli.main`)."""

import contextlib


class UsageError(Exception):
    """A mistake of the user's (a config key or value, a missing file, a folder that is not a run),
    not a bug: `keras-ssl` prints its message alone and exits with status 2 (`--traceback` shows
    the traceback)."""


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
