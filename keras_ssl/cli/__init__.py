"""The `keras-ssl` command line (`keras_ssl.cli.main`)."""


class UsageError(Exception):
    """A mistake of the user's (a config key or value, a missing file, a folder that is not a run),
    not a bug: `keras-ssl` prints its message alone and exits with status 2 (`--traceback` shows
    the traceback)."""
