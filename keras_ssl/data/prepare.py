"""`keras-ssl prepare`: a source converted once into TFRecord shards and a manifest, so that
training on millions of images starts without listing them (one ``isdir`` per file, and on
``gs://`` one request each) or counting records.

The output folder (any `tf.io.gfile` path) holds:

* ``shard-00000-of-00064.tfrecord`` ...: `tf.train.Example`s with the encoded image under
  ``"image"`` (the source's own bytes; with ``max_side``, images whose longer side exceeds it are
  resized to it and re-encoded as JPEG, quality 95) and, for a labelled source, its int64 class
  index under ``"label"``;
* ``manifest.json``, written last: the image count, every shard with its count, the source, the
  keys, the class names and the bad images skipped. ``"tfrecord:FOLDER"`` reads it instead of
  listing or counting anything (`keras_ssl.data.records.prepared_files`);
* ``.prepare/``: the conversion's settings and, per finished shard, its counts.

A shard is written under a temporary name, its counts are recorded, and it is renamed into place:
it exists whole or not at all. A re-run with the same settings converts only the shards that are
missing, so a conversion killed at any point finishes without duplicates or gaps. Every image is
decoded once: one that cannot be read or decoded is skipped, counted and named in the manifest.

A folder's images are dealt into the shards from a random permutation (``seed``), so every shard
is a uniform sample of the source in random order, which is what the per-epoch shuffle over shards
builds on (see docs/data.md). Records (``tfrecord:``, ``tfds:``) are split into contiguous runs
in their stored order. Memory: the source's file list (about 100-200 bytes an image, as for
training on the folder), the images in flight of each shard being written, and TensorFlow.

Example:

>>> manifest = prepare_shards("folder:/data/imagenet", "gs://bucket/imagenet/train",
...                           split="train", shards=1024, max_side=512)
>>> manifest["count"], len(manifest["shards"])
(1281167, 1024)
>>> ds = streaming_pretraining_dataset("tfrecord:gs://bucket/imagenet/train", 256, views)
"""

import json
import logging
import math
import os
import posixpath
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from keras_ssl.data.folders import ImageFolder
from keras_ssl.data.records import (DEFAULT_IMAGE_KEY, DEFAULT_LABEL_KEY, MANIFEST,
                                    MANIFEST_FORMAT, RecordFiles)
from keras_ssl.data.sources import is_positive_int, parse_source
from keras_ssl.data.streams import FileStream, RecordStream, encoded_source
from keras_ssl.files import write_text

# Images per shard when the number of shards is not given: ~110 MB of ImageNet JPEGs, in the
# 100-200 MB TensorFlow's data-performance guide recommends.
IMAGES_PER_SHARD = 1024
JPEG_QUALITY = 95  # of the images re-encoded at max_side
_PROGRESS = ".prepare"
_MAX_BAD_NAMES = 1000  # bad images named in the manifest (all are counted)
_log = logging.getLogger("keras_ssl.data")


def shard_name(index, shards):
    return f"shard-{index:05d}-of-{shards:05d}.tfrecord"


def prepare_shards(source, output, shards=None, split="train", max_side=None, workers=None,
                   seed=0, labeled=None, data_dir=None, image_key=DEFAULT_IMAGE_KEY,
                   label_key=DEFAULT_LABEL_KEY, log=print):
    """Converts one split of `source` into `shards` TFRecord files and a manifest in `output`.

    Args:
        source: a ``folder:``, ``tfrecord:`` or ``tfds:`` source (`keras_ssl.data.parse_source`).
        output: the output folder; re-running into it finishes an interrupted conversion.
        shards: files to write (default one per 1,024 images).
        split, labeled, data_dir, image_key, label_key: how the source is read
            (`keras_ssl.data.encoded_source`).
        max_side: re-encode (JPEG) images whose longer side exceeds it, resized to it.
        workers: shards converted at once (default the CPU count, at most 8); each reads and
            decodes in parallel too.
        seed: the permutation a folder's images are dealt from.
        log: called with a line of progress per finished shard.

    Returns:
        The manifest (a dict, as written to ``output/manifest.json``).

    Raises:
        ValueError: for a source read into memory only, bad arguments, or an `output` holding
            another conversion (the message says which settings differ).
    """
    if not parse_source(source).streamable:
        raise ValueError(f"keras-ssl prepare converts sources read from files ('folder:', "
                         f"'tfrecord:', 'tfds:'); {source!r} is read into memory whole and needs "
                         "no preparing.")
    for name, value in (("shards", shards), ("max_side", max_side), ("workers", workers)):
        if value is not None and not is_positive_int(value):
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    stream = encoded_source(source, split, data_dir, labeled, image_key, label_key)
    count = stream.num_examples
    shards = shards or math.ceil(count / IMAGES_PER_SHARD)
    if shards > count:
        raise ValueError(f"shards={shards} is more than the {count} images of "
                         f"{stream.description}; write at most {count} shards.")
    settings = dict(format=MANIFEST_FORMAT, source=source, split=split, shards=shards,
                    max_side=max_side, seed=seed, source_count=count)
    progress = posixpath.join(output, _PROGRESS)
    _start(progress, settings, output)
    done = set(tf.io.gfile.listdir(output)) & {
        name[:-len(".json")] for name in tf.io.gfile.listdir(progress)}
    todo = [i for i in range(shards) if shard_name(i, shards) not in done]
    if len(todo) < shards:
        log(f"{shards - len(todo)} of {shards} shards already written in {output}; converting "
            f"the other {len(todo)}.")
    parts = _parts(stream, shards, seed)
    encode = _checked(max_side)

    def convert(index):
        name = shard_name(index, shards)
        result = _write_shard(parts(index), encode, posixpath.join(output, name),
                              posixpath.join(progress, f"{name}.json"), labeled=stream.labeled)
        log(f"{name}: {result['count']} images"
            + (f", {result['bad_count']} bad skipped" if result["bad_count"] else ""))

    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
        for _ in pool.map(convert, todo):  # raises the first error of a shard
            pass
    manifest = _manifest(settings, stream, output, progress)
    write_text(posixpath.join(output, MANIFEST), json.dumps(manifest, indent=1))
    return manifest


def _start(progress, settings, output):
    """Records the settings of a new conversion, or checks a started one's against them."""
    path = posixpath.join(progress, "settings.json")
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            started = json.load(f)
        if started != settings:
            differ = {k: (started.get(k), v) for k, v in settings.items() if started.get(k) != v}
            raise ValueError(
                f"{output} holds a conversion with other settings: "
                + ", ".join(f"{k} {a!r} there, {b!r} now" for k, (a, b) in differ.items())
                + " (source_count: the images the source had). Prepare into another --output, or "
                f"delete {output} to start again.")
        return
    tf.io.gfile.makedirs(progress)
    write_text(path, json.dumps(settings))


def _parts(stream, shards, seed):
    """`index -> the stream of shard index`: a folder's images dealt from a permutation (every
    shard a uniform sample in random order), a record source's in contiguous runs."""
    if isinstance(stream, FileStream):
        order = np.random.default_rng(seed).permutation(stream.num_examples)

        def folder_part(index):
            mine = order[index::shards]
            labels = stream.labels[mine] if stream.labeled else None
            return FileStream(ImageFolder([stream.paths[i] for i in mine], labels,
                                          stream.class_names, "shard"), stream.description)

        return folder_part
    r, count = stream.records, stream.num_examples
    starts = np.cumsum([0] + list(r.lengths)).tolist()

    def record_part(index):
        lo, hi = index * count // shards, (index + 1) * count // shards
        pieces = [(file, skip + max(lo - start, 0), min(hi, start + length) - max(lo, start))
                  for file, skip, length, start in zip(r.files, r.skips, r.lengths, starts)
                  if start < hi and start + length > lo]
        files, skips, lengths = (list(column) for column in zip(*pieces))
        return RecordStream(RecordFiles(files, skips, lengths, r.parse, r.class_names,
                                        r.labeled, r.description))

    return record_part


def _checked(max_side):
    """`encoded image -> (bytes to write, its decoded shape)`: the image decoded (raising when it
    is bad), its own bytes kept unless its longer side exceeds `max_side`."""

    def encode(contents):
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
        # The shape is returned so that the decode runs: tf.data prunes ops no output needs
        # (a control dependency on it was not kept).
        shape = tf.shape(image)
        if max_side is None:
            return contents, shape
        longest = tf.reduce_max(shape[:2])

        def smaller():
            size = tf.cast(shape[:2], tf.float32) * (max_side / tf.cast(longest, tf.float32))
            size = tf.maximum(tf.cast(tf.round(size), tf.int32), 1)
            resized = tf.image.resize(image, size, method="bilinear", antialias=True)
            pixels = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
            return tf.io.encode_jpeg(pixels, quality=JPEG_QUALITY)

        return tf.cond(longest > max_side, smaller, lambda: contents), shape

    return encode


def _write_shard(part, encode, path, record_path, labeled):
    """Writes `part`'s good images to `path` whole (temporary name, then renamed after its counts
    are recorded at `record_path`); returns those counts."""

    def checked(k, example):
        contents, label = part.read(*example[1:])
        return (k, *encode(contents), label)

    # Unreadable and undecodable images are dropped; their positions are the gaps in k.
    examples = part.examples(None, 0, 1).enumerate().map(
        checked, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    temporary = f"{path}.tmp"
    if tf.io.gfile.exists(temporary):  # a killed run's; "w" would append to it on ram://
        tf.io.gfile.remove(temporary)
    bad, expected = [], 0
    with tf.io.TFRecordWriter(temporary) as writer:
        for k, contents, _, label in examples.prefetch(tf.data.AUTOTUNE).as_numpy_iterator():
            bad += range(expected, k)
            expected = k + 1
            feature = {DEFAULT_IMAGE_KEY: tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[contents]))}
            if labeled:
                feature[DEFAULT_LABEL_KEY] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[label]))
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=feature)).SerializeToString())
    bad += range(expected, part.num_examples)
    names = _names(part, bad)
    for name in names:
        _log.warning("skipping unreadable image %s", name)
    result = dict(count=part.num_examples - len(bad), bad_count=len(bad), bad_names=names)
    write_text(record_path, json.dumps(result))
    tf.io.gfile.rename(temporary, path, overwrite=True)
    return result


def _names(part, positions):
    """The names of `part`'s examples at `positions` (read again: bad images are rare)."""
    if not positions:
        return []
    wanted = set(positions)
    return [name.decode() for k, (name, *_) in enumerate(
        part.examples(None, 0, 1).as_numpy_iterator()) if k in wanted]


def _manifest(settings, stream, output, progress):
    shards, results = settings["shards"], []
    for index in range(shards):
        with tf.io.gfile.GFile(posixpath.join(progress, f"{shard_name(index, shards)}.json")) as f:
            results.append(json.load(f))
    bad_names = sorted(name for r in results for name in r["bad_names"])
    return dict(
        format=MANIFEST_FORMAT, version=1, source=settings["source"], split=settings["split"],
        count=sum(r["count"] for r in results),
        shards=[dict(file=shard_name(i, shards), count=r["count"]) for i, r in enumerate(results)],
        image_key=DEFAULT_IMAGE_KEY, label_key=DEFAULT_LABEL_KEY if stream.labeled else None,
        classes=stream.class_names if stream.labeled else None,
        max_side=settings["max_side"], seed=settings["seed"],
        bad_images=dict(count=len(bad_names), names=bad_names[:_MAX_BAD_NAMES]))
