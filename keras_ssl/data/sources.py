"""Image sources: TensorFlow Datasets, image folders and in-memory arrays.

A source is named by one value so that configs and the command line can carry it:

* ``"tfds:NAME"`` -- a prepared TensorFlow Datasets dataset (downloaded only when asked).
* ``"folder:/path"`` -- ``/path/<split>/<class>/<image>``, label = class folder name (streaming
  also reads unlabeled folders, see `keras_ssl.data.folders`). Paths may be on any `tf.io.gfile`
  filesystem (``gs://``, ``ram://``).
* ``"tfrecord:PATTERN"`` -- TFRecord files of `tf.train.Example`s holding encoded images
  (``"image"`` bytes, ``"label"`` int64 as TFDS writes them); streaming only.
* ``"idx:/path"`` -- MNIST-format IDX files ``/path/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
  (optionally ``.gz``); split ``"test"`` reads ``t10k``. ``"fashion_mnist:/path"`` is the same with
  Fashion-MNIST's class names; ``"fashion_mnist:"`` alone reads the Debian package
  ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
* ``{"train": (images, labels), "test": (images, labels)}`` or ``(images, labels)``
  (the latter is the ``"train"`` split) -- numpy arrays already in memory.

Every source loads to the same arrays: uint8 images ``[N, H, W, 3]``, int32 labels
``[N]`` and the list of class names.
"""

import os
import re
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from keras_ssl.data.folders import FOLDER_LAYOUT, list_image_folder

ACCEPTED_FORMS = (
    "'tfds:NAME' (a prepared TensorFlow Datasets dataset, e.g. 'tfds:cifar10'), "
    f"'folder:/path' (an image folder laid out as {FOLDER_LAYOUT}), "
    "'tfrecord:PATTERN' (TFRecord files of encoded images, e.g. 'tfrecord:/data/train-*'), "
    "'idx:/path' or 'fashion_mnist:/path' (MNIST-format IDX files), "
    "(images, labels) numpy arrays, or a dict {split: (images, labels)}"
)
# Decoded images are gathered in chunks of this many; a decode error is then looked for
# file by file from the failing chunk on.
_CHUNK = 1024
# Where the Debian package dataset-fashion-mnist installs the IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot"]
# File prefix of each split in the MNIST IDX layout.
_IDX_SPLITS = {"train": "train", "test": "t10k", "t10k": "t10k"}


class Source(NamedTuple):
    """A parsed source: ``kind`` is ``"tfds"``, ``"folder"``, ``"tfrecord"``, ``"idx"``,
    ``"fashion_mnist"`` or ``"arrays"``.

    ``location`` is the TFDS name, the folder / IDX directory path or the TFRecord file pattern
    (None for arrays); ``arrays``
    maps split name to checked ``(images uint8 [N,H,W,3], labels int32 [N])``.
    """

    kind: str
    location: str | None = None
    arrays: dict | None = None

    @property
    def streamable(self):
        """True for the sources read from files (folder, tfrecord, tfds), which can be streamed;
        the others are read into memory only."""
        return self.kind in ("folder", "tfrecord", "tfds")


def parse_source(source):
    """Parses a source value into a `Source`; checks arrays but touches no files.

    Example:

    >>> parse_source("tfds:cifar10")
    Source(kind='tfds', location='cifar10', arrays=None)
    >>> parse_source("folder:/data/cifar10").location
    '/data/cifar10'
    >>> x = np.zeros((4, 8, 8, 3), np.uint8)
    >>> parse_source((x, np.arange(4))).arrays["train"][1].dtype
    dtype('int32')
    """
    if isinstance(source, Source):
        return source
    if isinstance(source, str):
        prefix, sep, rest = source.partition(":")
        if sep and prefix == "tfds":
            if not rest:
                raise ValueError(f"Source {source!r} has no dataset name; expected e.g. 'tfds:cifar10'.")
            return Source("tfds", rest)
        if sep and prefix == "folder":
            if not rest:
                raise ValueError(f"Source {source!r} has no path; expected e.g. 'folder:/data/cifar10'.")
            return Source("folder", os.path.expanduser(rest))
        if sep and prefix == "tfrecord":
            if not rest:
                raise ValueError(f"Source {source!r} has no file pattern; expected e.g. "
                                 "'tfrecord:/data/train-*.tfrecord'.")
            return Source("tfrecord", rest)
        if sep and prefix == "idx":
            if not rest:
                raise ValueError(f"Source {source!r} has no path; expected e.g. 'idx:/data/mnist'.")
            return Source("idx", os.path.expanduser(rest))
        if sep and prefix == "fashion_mnist":
            return Source("fashion_mnist", os.path.expanduser(rest or FASHION_MNIST_DIR))
        raise ValueError(f"Unknown source {source!r}; expected one of: {ACCEPTED_FORMS}.")
    if isinstance(source, tuple):
        return Source("arrays", arrays={"train": check_arrays(source, "source")})
    if isinstance(source, dict):
        if not source:
            raise ValueError(f"The source dict is empty; expected {{split: (images, labels)}}.")
        return Source(
            "arrays",
            arrays={split: check_arrays(pair, f"source[{split!r}]") for split, pair in source.items()},
        )
    raise ValueError(f"Unknown source of type {type(source).__name__}; expected one of: {ACCEPTED_FORMS}.")


def check_arrays(pair, where="arrays"):
    """Checks an ``(images, labels)`` pair and returns it as (uint8 [N,H,W,3], int32 [N]).

    Grey images ``[N,H,W]`` / ``[N,H,W,1]`` are repeated to RGB and labels ``[N,1]``
    (as `keras.datasets.cifar10.load_data` gives them) are flattened.

    Example:

    >>> images, labels = check_arrays((np.zeros((2, 4, 4), np.uint8), [[0], [1]]))
    >>> images.shape, labels.tolist()
    ((2, 4, 4, 3), [0, 1])
    """
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise ValueError(f"{where} must be a pair (images, labels), got {type(pair).__name__}.")
    images, labels = np.asarray(pair[0]), np.asarray(pair[1])
    if images.dtype != np.uint8:
        raise ValueError(
            f"{where}: images have dtype {images.dtype}; expected uint8 in [0, 255] "
            "(e.g. `np.round(x * 255).astype(np.uint8)` for floats in [0, 1])."
        )
    if images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 1):
        images = np.repeat(images.reshape(images.shape[:3] + (1,)), 3, axis=-1)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"{where}: images have shape {images.shape}; expected [N, H, W, 3] (or grey [N, H, W])."
        )
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{where}: labels have shape {labels.shape}; expected [{len(images)}] (one per image)."
        )
    if len(labels) and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{where}: labels have dtype {labels.dtype}; expected integer class indices.")
    if len(labels) and (labels.min() < 0 or labels.max() > np.iinfo(np.int32).max):
        raise ValueError(
            f"{where}: labels must be class indices >= 0, got range [{labels.min()}, {labels.max()}]."
        )
    return images, labels.astype(np.int32)


def load_arrays(source, split="train", image_size=None, max_examples=None, data_dir=None,
                download=False):
    """Loads one split of a source fully into memory.

    Args:
      source: see `parse_source`.
      split: split name; for ``tfds:`` any TFDS split string (e.g. ``"train[:10%]"``),
        for ``folder:`` a sub-folder of the root.
      image_size: int or (height, width). Images of another size are resized
        (bilinear, antialiased). If None all images must share one size.
      max_examples: keep only this many examples: the first ones for ``tfds:`` (TFDS
        stores examples shuffled), a fixed random subset (seed 0, in source order) for
        folders and arrays, whose examples are grouped by class.
      data_dir: TFDS data directory (default: TFDS's own, ``~/tensorflow_datasets``).
      download: let TFDS download and prepare a ``tfds:`` dataset that is not prepared yet.

    Returns:
      ``(images uint8 [N, H, W, 3], labels int32 [N], class_names list of str)``.

    Example:

    >>> images, labels, class_names = load_arrays("folder:/data/cifar10", split="test")
    >>> images.shape, class_names[:2]
    ((10000, 32, 32, 3), ['airplane', 'automobile'])
    """
    parsed = parse_source(source)
    size = check_image_size(image_size)
    if max_examples is not None and not is_positive_int(max_examples):
        raise ValueError(f"max_examples must be a positive int or None, got {max_examples!r}.")
    if parsed.kind == "tfds":
        images, labels, class_names = _load_tfds(
            parsed.location, split, size, max_examples, data_dir, download)
        where = f"'tfds:{parsed.location}' split {split!r}"
    elif parsed.kind == "folder":
        images, labels, class_names = _load_folder(parsed.location, split, size, max_examples)
        where = f"folder {os.path.join(parsed.location, split)}"
    elif parsed.kind == "tfrecord":
        raise ValueError(f"'tfrecord:{parsed.location}' is read by streaming only: use "
                         "keras_ssl.data.streaming_eval_dataset / streaming_pretraining_dataset.")
    elif parsed.kind in ("idx", "fashion_mnist"):
        images, labels, class_names = _load_idx(parsed.location, split, size, max_examples)
        if parsed.kind == "fashion_mnist":
            class_names = list(FASHION_MNIST_CLASSES)
        where = f"IDX files in {parsed.location} split {split!r}"
    else:
        images, labels, class_names = _load_in_memory(parsed.arrays, split, size, max_examples)
        where = f"arrays split {split!r}"
    if len(images) == 0:
        raise ValueError(f"{where} holds no examples.")
    return images, labels, class_names


def split_file_names(source, split="train"):
    """The file paths of an image-folder split, in the order `load_arrays` loads them; else None.

    Lets a subset of a split be named by file (e.g. SimCLR's 1% ImageNet list).

    Example:

    >>> split_file_names("folder:/data/cifar10", "train")[0]  # doctest: +SKIP
    '/data/cifar10/train/airplane/0001.jpg'
    """
    parsed = parse_source(source)
    if parsed.kind != "folder":
        return None
    return list_image_folder(parsed.location, split, labeled=True).paths


def is_positive_int(value):
    """True for a Python or NumPy int > 0 (bools and floats such as 2.0 are rejected)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


def check_image_size(image_size):
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else tuple(image_size)
    if len(size) != 2 or not all(is_positive_int(s) for s in size):
        raise ValueError(f"image_size must be a positive int or (height, width), got {image_size!r}.")
    return tuple(int(s) for s in size)


def _resize(images, size):
    """Resizes uint8 images ([H,W,3] or [B,H,W,3]) to `size`; identity if already that size."""

    def resize():
        resized = tf.image.resize(images, size, antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    same = tf.reduce_all(tf.equal(tf.shape(images)[-3:-1], size))
    return tf.ensure_shape(tf.cond(same, lambda: images, resize), images.shape[:-3].concatenate(size + (3,)))


def subset_indices(n, max_examples):
    """Indices of a fixed random subset (in source order) of `max_examples` out of `n`."""
    if max_examples is None or max_examples >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, max_examples, replace=False))


def _load_in_memory(arrays, split, size, max_examples):
    if split not in arrays:
        raise ValueError(
            f"The arrays source has no split {split!r} (it has {sorted(arrays)}); a bare "
            "(images, labels) pair is the 'train' split, pass {split: (images, labels)} for others."
        )
    num_classes = max((int(labels.max()) + 1 for _, labels in arrays.values() if len(labels)), default=0)
    images, labels = arrays[split]
    keep = subset_indices(len(images), max_examples)
    images, labels = images[keep], labels[keep]
    if size is not None and images.shape[1:3] != size:
        chunks = [images[i : i + _CHUNK] for i in range(0, len(images), _CHUNK)]
        images = np.concatenate([_resize(tf.constant(chunk), size).numpy() for chunk in chunks])
    return images, labels, [str(i) for i in range(num_classes)]


def tfds_builder(name, data_dir=None, download=False):
    """The TFDS builder of a prepared dataset (prepared here only if `download`), else a ValueError
    saying how to prepare it."""
    import tensorflow_datasets as tfds  # Slow to import; only needed here.

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as err:
        raise ValueError(
            f"'tfds:{name}': TensorFlow Datasets has no dataset {name!r} (see "
            "https://www.tensorflow.org/datasets/catalog). For your own images use "
            f"'folder:/path' laid out as {FOLDER_LAYOUT}."
        ) from err
    if not builder.is_prepared():
        if not download:
            # Downloads are opt-in: offline, tfds retries a download for minutes.
            raise ValueError(
                f"'tfds:{name}' is not prepared in {builder.data_dir}. Prepare it once with "
                f"`tfds build {name} --data_dir=DIR` and pass data_dir=DIR, allow the download "
                "(download=True; --config.data.tfds_download=True), or use 'folder:/path' with "
                f"images laid out as {FOLDER_LAYOUT}."
            )
        builder.download_and_prepare()
    return builder


def _load_tfds(name, split, size, max_examples, data_dir, download):
    builder = tfds_builder(name, data_dir, download)
    keys = builder.info.supervised_keys
    if not keys or len(keys) != 2:
        raise ValueError(f"'tfds:{name}' has no (image, label) supervised keys (it has {keys!r}).")
    image_feature, label_feature = builder.info.features[keys[0]], builder.info.features[keys[1]]
    shape = getattr(image_feature, "shape", None)
    if shape is None or len(shape) != 3:
        raise ValueError(f"'tfds:{name}': feature {keys[0]!r} is not an image [H, W, C] (shape {shape}).")
    if size is None and None in shape[:2]:
        raise ValueError(f"'tfds:{name}' has images of varying size {shape}; pass image_size to resize them.")

    def to_rgb(image, label):
        if shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        image = image[..., :3]  # Drops alpha.
        return (image if size is None else _resize(image, size)), tf.cast(label, tf.int32)

    ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    if max_examples is not None:
        ds = ds.take(max_examples)
    ds = ds.map(to_rgb, num_parallel_calls=tf.data.AUTOTUNE).batch(_CHUNK).prefetch(tf.data.AUTOTUNE)
    chunks = list(ds.as_numpy_iterator())
    images = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros((0, 1, 1, 3), np.uint8)
    labels = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros((0,), np.int32)
    names = getattr(label_feature, "names", None)
    class_names = list(names) if names else [str(i) for i in range(int(labels.max(initial=-1)) + 1)]
    return images, labels, class_names


def _read_idx(path):
    """An IDX file (LeCun et al., MNIST) as a numpy array: magic 0 0 <type> <ndim>, sizes, data."""
    import gzip

    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4]!r}, "
                         "expected 00 00 08 <ndim>).")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, ">i4", ndim, offset=4))
    values = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {values.size} values but its header says {shape}; the "
                         "file is truncated or corrupt.")
    return values.reshape(shape)


def _load_idx(root, split, size, max_examples):
    if split not in _IDX_SPLITS:
        raise ValueError(f"IDX source {root} has splits 'train' and 'test', got {split!r}.")
    arrays = []
    for kind in ("images-idx3", "labels-idx1"):
        name = f"{_IDX_SPLITS[split]}-{kind}-ubyte"
        path = next((os.path.join(root, name + ext) for ext in (".gz", "")
                     if os.path.isfile(os.path.join(root, name + ext))), None)
        if path is None:
            raise ValueError(
                f"{os.path.join(root, name)}[.gz] not found; an IDX source is a directory with "
                "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (Fashion-MNIST: "
                "`apt-get install dataset-fashion-mnist` puts them in "
                f"{FASHION_MNIST_DIR}).")
        arrays.append(_read_idx(path))
    # Grey [N, H, W] -> RGB, and the subset / resize of in-memory arrays.
    images, labels = check_arrays(tuple(arrays), f"IDX files in {root}")
    return _load_in_memory({split: (images, labels)}, split, size, max_examples)


def _decode(path):
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def _load_folder(root, split, size, max_examples):
    paths, labels, class_names, _ = list_image_folder(root, split, labeled=True)
    keep = subset_indices(len(paths), max_examples)
    paths, labels = [paths[i] for i in keep], labels[keep]
    check_size = size is None
    if check_size:
        size = tuple(_decode_file(paths[0]).shape[:2])

    def decode(path):
        image = _decode(path)
        # ensure_shape fails the pipeline on another size; the file is then named below.
        return tf.ensure_shape(image, size + (3,)) if check_size else _resize(image, size)

    ds = tf.data.Dataset.from_tensor_slices(paths)
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    chunks = []
    try:
        for chunk in ds.batch(_CHUNK).prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
            chunks.append(chunk)
    except tf.errors.OpError as err:
        # The failing file is in the chunk the error came with (the map is ordered).
        start = len(chunks) * _CHUNK
        for path in paths[start:] + paths[:start]:
            image = _decode_file(path)
            if check_size and image.shape[:2] != size:
                raise ValueError(
                    f"Image {path} is {image.shape[0]}x{image.shape[1]} but {paths[0]} is "
                    f"{size[0]}x{size[1]}; pass image_size=(height, width) to resize all images."
                ) from err
        raise
    return np.concatenate(chunks), labels, class_names


def _decode_file(path):
    """Decodes one file eagerly, naming it if it cannot be read."""
    try:
        return _decode(path).numpy()
    except tf.errors.OpError as err:
        # Keeps TF's reason without the "{{function_node ...}}" / "[Op:...] name:" decorations.
        reason = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", err.message, flags=re.S).strip().rstrip(".")
        raise ValueError(
            f"Image {path} is not a readable JPEG/PNG/BMP/GIF image ({reason}). Fix or remove the file."
        ) from err
