"""Sources as streams of encoded examples ``(name, data, label)`` for the streaming pipelines.

An image folder streams its file paths (read when decoded), a record source its serialized
records; `encoded_source` picks the stream for a source value. Each stream gives one epoch's
examples for one input pipeline, in an order drawn from a key, without reading any image.

Example:

>>> stream = encoded_source("folder:/data/photos", "train")
>>> stream.num_examples, stream.labeled
(120000, False)
>>> epoch = stream.examples(order_key=tf.constant([0, 3], tf.int64), pipeline=0, num_pipelines=2)
"""

import numpy as np
import tensorflow as tf

from keras_ssl.data.folders import list_image_folder
from keras_ssl.data.records import DEFAULT_IMAGE_KEY, DEFAULT_LABEL_KEY, tfds_files, tfrecord_files
from keras_ssl.data.sources import parse_source

# Record files read at once by an input pipeline (deterministic round-robin): a window of 1,024
# records then holds 16 consecutive records of each of 64 files (64 of each of 16 files with 16),
# for a read buffer (256 KB) and a few buffered records per open file.
_CYCLE = 64


class FileStream:
    """The images of a folder split, one file per example; sharded by example across pipelines."""

    window_shuffle = False  # The whole epoch is permuted at once.

    def __init__(self, folder, description):
        self.paths = folder.paths
        self.labeled = folder.labels is not None
        self.labels = folder.labels if self.labeled else np.full(len(self.paths), -1, np.int32)
        self.class_names = folder.class_names
        self.num_examples = len(self.paths)
        self.description = f"{description} ({folder.layout} layout)"

    def examples_per_pipeline(self, num_pipelines):
        return self.num_examples // num_pipelines

    def examples(self, order_key, pipeline, num_pipelines):
        """Every pipeline draws the same permutation and keeps every `num_pipelines`-th example."""
        order = tf.range(self.num_examples)
        if order_key is not None:
            order = tf.random.experimental.stateless_shuffle(order, seed=order_key)
        mine = order[pipeline::num_pipelines]
        paths = tf.gather(tf.constant(self.paths), mine)
        return tf.data.Dataset.from_tensor_slices((paths, paths, tf.gather(self.labels, mine)))

    @staticmethod
    def read(path, label):
        return tf.io.read_file(path), label


class RecordStream:
    """Records of TFRecord files: disjoint files per pipeline, or every `num_pipelines`-th record
    when there are fewer files than pipelines."""

    window_shuffle = True  # Files are shuffled, interleaved, then windows of records permuted.

    def __init__(self, records):
        self.records = records
        self.labeled = records.labeled
        self.class_names = records.class_names
        self.num_examples = sum(records.lengths)
        self.description = records.description

    def _files_of(self, pipeline, num_pipelines):
        count = len(self.records.files)
        return list(range(pipeline, count, num_pipelines)) if count >= num_pipelines else list(
            range(count))

    def examples_per_pipeline(self, num_pipelines):
        if len(self.records.files) < num_pipelines:
            return self.num_examples // num_pipelines
        return min(sum(self.records.lengths[i] for i in self._files_of(p, num_pipelines))
                   for p in range(num_pipelines))

    def examples(self, order_key, pipeline, num_pipelines):
        r = self.records
        mine = self._files_of(pipeline, num_pipelines)
        files = tf.constant([r.files[i] for i in mine])
        skips = tf.constant([r.skips[i] for i in mine], tf.int64)
        lengths = tf.constant([r.lengths[i] for i in mine], tf.int64)
        if order_key is not None:
            order = tf.random.experimental.stateless_shuffle(tf.range(len(mine)), seed=order_key)
            files, skips, lengths = (tf.gather(t, order) for t in (files, skips, lengths))

        def read_file(file, skip, length):
            records = tf.data.TFRecordDataset(file).skip(skip).take(length).enumerate(start=skip)
            return records.map(
                lambda i, record: (tf.strings.join([file, tf.strings.as_string(i)], ":"), record,
                                   tf.constant(-1, tf.int32)))

        cycle = min(_CYCLE, len(mine)) if order_key is not None else 1  # 1: in file order
        parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) if cycle > 1 else {}
        ds = tf.data.Dataset.from_tensor_slices((files, skips, lengths)).interleave(
            read_file, cycle_length=cycle, block_length=1, **parallel)
        if len(r.files) < num_pipelines:
            ds = ds.shard(num_pipelines, pipeline)
        return ds

    def read(self, record, _):
        return self.records.parse(record)


def encoded_source(source, split="train", data_dir=None, labeled=None, image_key=DEFAULT_IMAGE_KEY,
                   label_key=DEFAULT_LABEL_KEY, download=False):
    """The stream of a ``folder:``, ``tfrecord:`` or ``tfds:`` source; lists files, reads no image.

    Args:
        source: a source string (see `keras_ssl.data.parse_source`).
        split: folder split sub-folder or TFDS split; unused for ``tfrecord:``.
        data_dir, download: TFDS data directory and whether TFDS may download.
        labeled: folder layout (see `keras_ssl.data.folders.list_image_folder`).
        image_key, label_key: ``tfrecord:`` feature keys (label_key None: unlabeled).

    Raises:
        ValueError: for in-memory / IDX sources (use `pretraining_dataset`) and, naming the path
            and the expected layout, for missing, empty or ambiguous sources.

    Example:

    >>> encoded_source("tfrecord:gs://bucket/train-*", label_key=None).num_examples
    1281167
    """
    parsed = parse_source(source)
    if parsed.kind == "folder":
        folder = list_image_folder(parsed.location, split, labeled)
        where = parsed.location if folder.layout == "flat" else f"{parsed.location}/{split}"
        return FileStream(folder, f"folder {where}")
    if parsed.kind == "tfrecord":
        return RecordStream(tfrecord_files(parsed.location, image_key, label_key))
    if parsed.kind == "tfds":
        return RecordStream(tfds_files(parsed.location, split, data_dir, download))
    raise ValueError(f"A {parsed.kind} source is read into memory, not streamed: use "
                     "keras_ssl.data.pretraining_dataset / load_arrays + eval_dataset for it.")
