"""The labelled train / test splits an evaluation reads, in memory or streamed (read as needed).

A split whose decoded images fit in `memory_limit_mb` is decoded into memory; a larger
``folder:`` / ``tfds:`` split, and every ``tfrecord:`` one, is streamed batch by batch
(`keras_ssl.data.choice.choose_pipeline`), and of its images only those asked for are read.
Fine-tuning reads a split's listed rows (`LabelledSplit.listed_labels`, known without decoding an
image) in its own order, streamed batch by batch (`LabelledSplit.training_batches`).
Refusals (no labels, a record pattern without ``{split}``, images beyond the memory limit) are
ValueErrors whose message says what to do.

Example:

>>> data = LabelledData("folder:/data/cifar10", ("train", "test"), (32, 32), settings,
...                     memory_limit_mb=1024)                          # doctest: +SKIP
>>> data.train.pipeline, data.num_classes                              # doctest: +SKIP
('memory', 10)
>>> for images, labels in data.test.batches(512): ...                  # doctest: +SKIP
"""

import functools

import numpy as np
import tensorflow as tf

from keras_ssl.augment.crop import full_window
from keras_ssl.data.bad_images import BadImages
from keras_ssl.data.choice import choose_pipeline
from keras_ssl.data.decode import decode_crops
from keras_ssl.data.pipelines import eval_dataset
from keras_ssl.data.records import DEFAULT_LABEL_KEY
from keras_ssl.data.sources import load_arrays, parse_source, subset_indices
from keras_ssl.data.streaming import NEEDS_LABELS, _Reader, streaming_eval_dataset
from keras_ssl.data.streams import FileStream, encoded_source

# Encoded records shuffled together when fine-tuning reads a record split (which has no random
# access), as `streaming_eval_dataset` reads records in windows of as many.
RECORD_SHUFFLE_WINDOW = 1024


class LabelledSplit:
    """One labelled split: its labels, and its images in memory or streamed (read as needed).

    Rows are in source order; a streamed split's rows skip its bad images (`on_bad_image`) and
    keep `load_arrays`' subset for `max_examples` (a fixed random one of a folder, the first
    records otherwise), so both pipelines give the same rows.

    Args:
        source: a source value; a ``tfrecord:`` pattern names each split's files with
            ``{split}``.
        split: the split's name.
        image_size: (height, width) the images are decoded at.
        max_examples: keep this many rows (None: all).
        settings: the run's `data` config section (`keras_ssl.cli.config.data_config`): its
            pipeline, bad-image policy, TFDS and record keys.
        memory_limit_mb: decoded size above which "auto" streams the split.
        own: `source` is the run's own, whose layout and keys `settings` describe (another one
            is detected).
    """

    def __init__(self, source, split, image_size, max_examples, settings, memory_limit_mb,
                 own=True):
        d = settings
        self.source, self.split, self.image_size = source, split, image_size
        self.stream, self.bad, self._images, self._labels, self._keep = None, None, None, None, None
        parsed = parse_source(source)
        if parsed.kind == "tfrecord":
            # A pattern has no splits: "{split}" in it names each split's files.
            if "{split}" not in source:
                raise ValueError(
                    f"{source} names no splits; evaluation reads a train and a test split: write "
                    "the pattern with {split}, e.g. tfrecord:/data/{split}-*.tfrecord.")
            self.source = source = source.replace("{split}", split)
        if parsed.streamable:
            # The run's layout and keys describe its own source; another one is detected.
            self._args = dict(data_dir=d.tfds_data_dir, labeled=d.labeled if own else None,
                              image_key=d.image_key,
                              label_key=d.label_key if own else d.label_key or DEFAULT_LABEL_KEY)
            stream = encoded_source(source, split, download=d.tfds_download, **self._args)
            if not stream.labeled:
                raise ValueError(
                    f"evaluation needs labels, but {stream.description} has none. Evaluate on "
                    f"{NEEDS_LABELS}: give it at train time with "
                    "--config.data.eval_source=folder:/labelled/path, or here with "
                    "`keras-ssl eval --data=folder:/labelled/path`.")
            if choose_pipeline(source, d.pipeline, stream=lambda: stream, image_size=image_size,
                               memory_limit_mb=memory_limit_mb,
                               max_examples=max_examples) == "streaming":
                num = min(stream.num_examples, max_examples or stream.num_examples)
                self.stream, self.class_names, self.bad = stream, stream.class_names, BadImages()
                self._policy = dict(on_bad_image=d.on_bad_image,
                                    max_bad_fraction=d.max_bad_fraction, bad_images=self.bad)
                if num < stream.num_examples:
                    self._keep = (subset_indices(stream.num_examples, num)
                                  if parsed.kind == "folder" else np.arange(num))
                return
        self._images, self._labels, self.class_names = load_arrays(
            source, split, image_size, max_examples, data_dir=d.tfds_data_dir,
            download=d.tfds_download)

    @property
    def pipeline(self):
        return "memory" if self.stream is None else "streaming"

    @property
    def num_rows(self):
        """Rows before any bad image is met (`labels` has the rows read)."""
        if self._labels is not None:
            return len(self._labels)
        return len(self._keep) if self._keep is not None else self.stream.num_examples

    @property
    def labels(self):
        if self._labels is None:  # Streamed, not read yet: a pass for the labels alone.
            self._labels = np.concatenate([y for _, y in self.batches(512).as_numpy_iterator()])
        return self._labels

    def set_labels(self, labels):
        """Keeps the labels a pass over `batches` read (a streamed split then reads no more)."""
        self._labels = labels

    def batches(self, batch_size):
        """`(images uint8, labels)` batches of every row, in order."""
        if self.stream is None:
            return eval_dataset(self._images, self._labels, batch_size)
        ds = streaming_eval_dataset(self.source, batch_size, self.image_size, self.split,
                                    with_labels=True, **self._args, **self._policy)
        if self._keep is None:
            return ds
        keep = _mask(self._keep, self.stream.num_examples)
        return ds.unbatch().enumerate().filter(lambda i, _: tf.gather(keep, i)).map(
            lambda _, example: example).batch(batch_size)

    def images(self, rows=None):
        """uint8 images of `rows` (default all), in that order; streamed, only they are read."""
        if self.stream is None:
            return self._images if rows is None else self._images[rows]
        rows = np.arange(len(self.labels)) if rows is None else np.asarray(rows)
        good = rows if self._keep is None else self._keep[rows]  # rows among readable images
        wanted = np.unique(good)
        examples = self.stream.examples(None, 0, 1)
        if self.bad.names:  # Rows count the readable images only.
            bad = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                sorted(self.bad.names), tf.ones(len(self.bad.names), tf.int32)), 0)
            examples = examples.filter(lambda name, *_: tf.equal(bad.lookup(name), 0))
        mask, size = _mask(wanted, wanted[-1] + 1), self.image_size

        def decode(_, example):
            return _whole_image(self.stream.read(*example[1:])[0], size)

        ds = examples.enumerate().take_while(lambda i, _: i <= int(wanted[-1])).filter(
            lambda i, _: tf.gather(mask, i)).map(decode, tf.data.AUTOTUNE)
        images = np.stack(list(ds.as_numpy_iterator()))
        return images[np.searchsorted(wanted, good)]

    @functools.cached_property
    def listed_labels(self):
        """Labels of every listed row, read without decoding an image (a folder's from its file
        list, records' from their label feature): the rows fine-tuning and its label subsets
        index. They are `labels` unless the split is streamed and holds bad images, which
        `labels` leaves out once met and these keep (fine-tuning skips them when it meets them).
        """
        if self.stream is None:
            return self._labels
        if isinstance(self.stream, FileStream):
            labels = self.stream.labels
        else:
            stream = self.stream
            ds = stream.examples(None, 0, 1).map(lambda _, data, label: stream.read(data, label)[1],
                                                 tf.data.AUTOTUNE)
            labels = np.concatenate(list(ds.batch(4096).as_numpy_iterator()))
        labels = np.asarray(labels, np.int32)
        return labels if self._keep is None else labels[self._keep]

    def training_batches(self, epochs, batch_size):
        """`(epoch, images uint8, labels int32)` batches of a streamed split's listed rows, epoch
        after epoch, read as needed; an epoch's last batch may be smaller.

        `epochs` yields each epoch's `(rows, key)`: its rows (indices into `listed_labels`) in
        order, and an int64 [2] key. A folder is read in the order of `rows`, so the batches
        are those of the same rows in memory. Records cannot be read in any order: each epoch
        reads its rows in source order and shuffles each window of `RECORD_SHUFFLE_WINDOW` of
        them by the key (as pretraining shuffles records), so a batch holds rows at most that
        many places apart. Bad images follow the split's `on_bad_image` policy (a skipped one
        leaves its batch an image short). `epochs` is iterated once, as the dataset is.
        """
        stream, size = self.stream, self.image_size
        keep = None if self._keep is None else tf.constant(self._keep, tf.int64)
        files = isinstance(stream, FileStream)
        if files:
            paths, labels = tf.constant(stream.paths), tf.constant(stream.labels, tf.int32)

        def epoch_batches(epoch, rows_and_key):
            rows, key = rows_and_key
            chosen = rows if keep is None else tf.gather(keep, rows)
            if files:
                examples = tf.data.Dataset.from_tensor_slices(
                    (tf.gather(paths, chosen), tf.gather(paths, chosen), tf.gather(labels, chosen)))
            else:
                mask = tf.scatter_nd(chosen[:, None], tf.ones_like(chosen, tf.bool),
                                     [stream.num_examples])
                examples = stream.examples(None, 0, 1).enumerate().filter(
                    lambda i, _: tf.gather(mask, i)).map(lambda _, example: example)
            reader = _Reader(_OrderedExamples(stream, examples, not files),
                             self._policy["on_bad_image"], self._policy["max_bad_fraction"],
                             self.bad, RECORD_SHUFFLE_WINDOW)
            ds = reader.decoded(None if files else key, 0, 1, 0,
                                lambda contents, _: (_whole_image(contents, size),))
            ds = ds.map(lambda images, label: (images[0], tf.cast(label, tf.int32)))
            return ds.batch(batch_size).map(lambda images, labels: (epoch, images, labels))

        orders = tf.data.Dataset.from_generator(
            lambda: ((np.asarray(rows, np.int64), np.asarray(key, np.int64))
                     for rows, key in epochs),
            output_signature=(tf.TensorSpec([None], tf.int64), tf.TensorSpec([2], tf.int64)))
        return orders.enumerate().flat_map(epoch_batches).prefetch(tf.data.AUTOTUNE)


class _OrderedExamples:
    """A stream's examples in an order set beforehand, read as the stream reads them (for
    `_Reader`, which decodes them, skips the bad ones and shuffles windows if asked)."""

    def __init__(self, stream, examples, window_shuffle):
        self.num_examples, self.description, self.read = (stream.num_examples,
                                                          stream.description, stream.read)
        self.window_shuffle, self._examples = window_shuffle, examples

    def examples(self, *_):
        return self._examples


def _whole_image(contents, size):
    """The encoded image resized whole to `size`, rounded to uint8 (as `streaming_eval_dataset`
    and `load_arrays` give it)."""
    image = decode_crops(contents, lambda h, w: full_window(h, w)[None], [size], 0)[0]
    return tf.cast(tf.round(image), tf.uint8)


def _mask(indices, length):
    """A boolean tensor [length], True at `indices` (tf.data filters gather from it)."""
    mask = np.zeros(length, bool)
    mask[indices] = True
    return tf.constant(mask)


class LabelledData:
    """The labelled train / test splits (`LabelledSplit`) every protocol of one evaluation reads.

    Args:
        source, image_size, settings, own: as `LabelledSplit`.
        splits: the (train, test) split names.
        memory_limit_mb: as `LabelledSplit`.
        max_examples: (train, test) rows to keep (None: all).
    """

    def __init__(self, source, splits, image_size, settings, memory_limit_mb,
                 max_examples=(None, None), own=True):
        self.source, self.splits, self.image_size = source, splits, image_size
        self.memory_limit_mb, self.max_examples = memory_limit_mb, tuple(max_examples)
        self.train, self.test = (
            LabelledSplit(source, split, image_size, limit, settings, memory_limit_mb, own)
            for split, limit in zip(splits, self.max_examples))

    @functools.cached_property
    def class_names(self):
        # Records may carry no class names: then classes are the label values seen.
        return self.train.class_names or [str(i) for i in range(
            max(self.train.listed_labels.max(), self.test.listed_labels.max()) + 1)]

    @property
    def num_classes(self):
        return len(self.class_names)

    def identity(self):
        """The dataset as metrics.json describes it (after the features: skipped images known)."""
        identity = {
            "source": self.source if isinstance(self.source, str) else "arrays",
            "train_split": self.splits[0], "test_split": self.splits[1],
            # A split only fine-tuned on has no labels read: its listed rows (none decoded).
            "num_train": int(self.train.num_rows), "num_test": int(self.test.num_rows),
            "max_train_examples": self.max_examples[0],
            "max_test_examples": self.max_examples[1],
            "image_size": list(self.image_size), "classes": list(self.class_names),
            "pipeline": {"train": self.train.pipeline, "test": self.test.pipeline},
            "memory_limit_mb": self.memory_limit_mb,
        }
        for name, split in (("train", self.train), ("test", self.test)):
            if split.stream is not None and split.bad.names:
                identity[f"bad_images_skipped_{name}"] = len(split.bad.names)
        return identity
