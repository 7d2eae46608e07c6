"""Unpack an image-folder archive (e.g. CIFAR-10 as `train/<class>/*.jpg`) into a cache once."""

import os
import tarfile

try:
    import fcntl
except ImportError:  # Windows: no flock, so concurrent callers there are not serialised
    fcntl = None

_DONE = ".unpacked"


def unpack_image_folder(archive, destination):
    """Extract the .tar/.tar.gz `archive` into `destination` unless done before; return `destination`.

    A marker file is written last, so an interrupted extraction is redone on the next call; a lock
    file beside `destination` makes concurrent callers (parallel test workers, two jobs) wait for
    one extraction instead of writing the same files at once.

    Example:
    ```python
    root = unpack_image_folder("../shared/data/cifar10-jpg.tar.gz", ".cache/data/cifar10")
    images, labels, classes = load_arrays(f"folder:{root}", "test")
    ```
    """
    marker = os.path.join(destination, _DONE)
    if os.path.exists(marker):
        return destination
    if not os.path.isfile(archive):
        raise FileNotFoundError(f"archive {archive} not found: pass the path of a .tar.gz holding "
                                "train/<class>/<image> and test/<class>/<image>.")
    os.makedirs(destination, exist_ok=True)
    with open(os.path.normpath(destination) + ".lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(marker):  # another process extracted it while this one waited
            return destination
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(destination, filter="data")
        except tarfile.TarError as e:
            raise ValueError(f"{archive} is not a readable tar archive: {e}") from e
        open(marker, "w").close()
    return destination
