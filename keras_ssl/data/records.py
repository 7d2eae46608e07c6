"""Record sources: TFRecord files of encoded images and prepared TFDS datasets, read undecoded.

Example:

>>> files = tfrecord_files("gs://bucket/train-*.tfrecord")
>>> files.files[:1], sum(files.lengths)
(['gs://bucket/train-00000.tfrecord'], 1281167)
"""

import json
import posixpath
from typing import Callable, NamedTuple

import tensorflow as tf

from keras_ssl.data.sources import tfds_builder

# What TFDS writes for an image dataset (tfds.features.Image / ClassLabel).
DEFAULT_IMAGE_KEY = "image"
DEFAULT_LABEL_KEY = "label"
# The file `keras-ssl prepare` writes last in its output folder (`keras_ssl.data.prepare`).
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "keras-ssl prepared images"


class RecordFiles(NamedTuple):
    """Record files and how to read them.

    ``files``: paths; ``skips`` / ``lengths``: records skipped at the start of each file and
    records read from it (TFDS sub-splits such as ``"train[:10%]"`` read parts of files);
    ``parse``: serialized record -> (encoded image bytes, int32 label, -1 when absent);
    ``class_names``: None when unknown or unlabeled; ``labeled``: records carry labels;
    ``description``: for messages.
    """

    files: list
    skips: list
    lengths: list
    parse: Callable
    class_names: list | None
    labeled: bool
    description: str


def tfrecord_files(pattern, image_key=DEFAULT_IMAGE_KEY, label_key=DEFAULT_LABEL_KEY):
    """The files matching `pattern` (`tf.io.gfile.glob`), their record counts and a parser.

    Records are `tf.train.Example`s with the encoded image (JPEG/PNG/BMP/GIF) as bytes under
    `image_key` and, unless `label_key` is None, an int64 label under it (missing -> -1).
    Counting reads every file once without decoding. A folder written by `keras-ssl prepare`
    (`pattern` is the folder) is read from its manifest instead: see `prepared_files`.

    Example:

    >>> files = tfrecord_files("/data/shards/*.tfrecord", image_key="jpeg", label_key=None)
    """
    manifest = posixpath.join(pattern, MANIFEST)
    if tf.io.gfile.exists(manifest):
        return prepared_files(pattern, label_key)
    files = sorted(tf.io.gfile.glob(pattern))
    where = f"'tfrecord:{pattern}'"
    if not files:
        raise ValueError(f"{where} matches no files; expected TFRecord files of tf.train.Example "
                         f"with encoded images under {image_key!r} (e.g. 'tfrecord:/data/train-*') "
                         "or a folder written by `keras-ssl prepare`.")
    if files == [pattern] and tf.io.gfile.isdir(pattern):
        raise ValueError(f"{where} is a folder without {MANIFEST}: name its record files "
                         f"('tfrecord:{posixpath.join(pattern, '*.tfrecord')}'), or, if `keras-ssl "
                         "prepare` was writing it, run that command again to finish it.")
    counts = tf.data.Dataset.from_tensor_slices(files).map(
        lambda f: tf.data.TFRecordDataset(f).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1),
        num_parallel_calls=tf.data.AUTOTUNE)
    lengths = [int(n) for n in counts.as_numpy_iterator()]
    if not sum(lengths):
        raise ValueError(f"{where}: the {len(files)} files hold no records.")
    return RecordFiles(files, [0] * len(files), lengths, example_parser(image_key, label_key),
                       None, label_key is not None, where)


def prepared_files(folder, label_key=DEFAULT_LABEL_KEY):
    """The shards of a folder `keras-ssl prepare` wrote, with the counts its manifest gives.

    Reads the manifest and lists the folder once; no record is read (a source of millions of
    images starts at once). The manifest's keys are used; ``label_key=None`` drops its labels.

    Raises:
        ValueError: naming the manifest and the fix when it is unreadable, not a manifest of
            `keras-ssl prepare`, or names shards that are missing.

    Example:

    >>> files = prepared_files("gs://bucket/imagenet/train")
    >>> len(files.files), sum(files.lengths), files.class_names[:1]
    (1024, 1281167, ['n01440764'])
    """
    path = posixpath.join(folder, MANIFEST)
    redo = (f"Run `keras-ssl prepare SOURCE --output={folder}` again (it rewrites the manifest "
            "and keeps the finished shards), or prepare the source into a new folder.")
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            manifest = json.loads(f.read())
        shards, count = manifest["shards"], int(manifest["count"])
        names = [str(s["file"]) for s in shards]
        lengths = [int(s["count"]) for s in shards]
        image_key, written_label_key = str(manifest["image_key"]), manifest["label_key"]
        classes = manifest["classes"]
        if manifest["format"] != MANIFEST_FORMAT:
            raise ValueError(f"its format is {manifest['format']!r}")
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a readable manifest of `keras-ssl prepare` ({e!r}). "
                         f"{redo}") from e
    if sum(lengths) != count or not count:
        raise ValueError(f"{path} says {count} images but its shards hold {sum(lengths)}. {redo}")
    present = {name.rstrip("/") for name in tf.io.gfile.listdir(folder)}
    missing = [name for name in names if name not in present]
    if missing:
        raise ValueError(f"{path} names {len(missing)} shards that are not in {folder} (e.g. "
                         f"{missing[0]}). {redo}")
    labeled = written_label_key is not None and label_key is not None
    return RecordFiles([posixpath.join(folder, name) for name in names], [0] * len(names), lengths,
                       example_parser(image_key, written_label_key if labeled else None),
                       list(classes) if labeled and classes else None, labeled,
                       f"'tfrecord:{folder}' (prepared: {count} images in {len(names)} shards)")


def example_parser(image_key, label_key):
    """serialized `tf.train.Example` -> (encoded image, int32 label; -1 if missing or no key)."""
    spec = {image_key: tf.io.FixedLenFeature([], tf.string)}
    if label_key is not None:
        spec[label_key] = tf.io.FixedLenFeature([], tf.int64, default_value=-1)

    def parse(record):
        example = tf.io.parse_single_example(record, spec)
        label = example[label_key] if label_key is not None else tf.constant(-1, tf.int64)
        return example[image_key], tf.cast(label, tf.int32)

    return parse


def tfds_files(name, split, data_dir=None, download=False):
    """The record files of a prepared TFDS split (sub-splits too), read with images undecoded.

    The image is the first supervised key (else the feature ``"image"``), the label the second.

    Example:

    >>> files = tfds_files("imagenet2012", "train", data_dir="/data/tensorflow_datasets")
    """
    import tensorflow_datasets as tfds  # Slow to import; only needed here.

    builder = tfds_builder(name, data_dir, download)
    where = f"'tfds:{name}' split {split!r}"
    if str(getattr(builder.info, "file_format", "tfrecord")).lower().find("tfrecord") < 0:
        raise ValueError(f"{where} is stored as {builder.info.file_format}; streaming reads "
                         "TFRecord-prepared datasets (`tfds build --file_format=tfrecord`).")
    keys = builder.info.supervised_keys or (DEFAULT_IMAGE_KEY,)
    features = builder.info.features
    image_key, label_key = keys[0], (keys[1] if len(keys) > 1 else None)
    if image_key not in features or not isinstance(features[image_key], tfds.features.Image):
        raise ValueError(f"{where}: no image feature {image_key!r} (features: {list(features)}).")
    instructions = builder.info.splits[split].file_instructions
    files = [str(i.filename) for i in instructions]
    skips = [int(i.skip) for i in instructions]
    lengths = [int(i.take) if i.take >= 0 else int(i.examples_in_shard) - int(i.skip)
               for i in instructions]
    names = getattr(features[label_key], "names", None) if label_key else None

    def parse(record):
        example = features.deserialize_example(
            record, decoders={image_key: tfds.decode.SkipDecoding()})
        label = example[label_key] if label_key else tf.constant(-1, tf.int64)
        return example[image_key], tf.cast(label, tf.int32)

    return RecordFiles(files, skips, lengths, parse, list(names) if names else None,
                       label_key is not None, where)
