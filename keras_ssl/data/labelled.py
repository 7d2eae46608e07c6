"""The labelled train / test splits an evaluation reads, in memory or streamed (read as needed).

A split whose decoded images fit in `memory_limit_mb` is decoded into memory; a larger
``folder:`` / ``tfds:`` split, and every ``tfrecord:`` one, is streamed batch by batch
(`keras_ssl.data.choice.choose_pipeline`), and of its images only those asked for are read.
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
from keras_ssl.data.choice import choose_pipeline, decoded_mb
from keras_ssl.data.decode import decode_crops
from keras_ssl.data.pipelines import eval_dataset
from keras_ssl.data.records import DEFAULT_LABEL_KEY
from keras_ssl.data.sources import load_arrays, parse_source, subset_indices
from keras_ssl.data.streaming import NEEDS_LABELS, streaming_eval_dataset
from keras_ssl.data.streams import encoded_source


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
            contents = self.stream.read(*example[1:])[0]
            image = decode_crops(contents, lambda h, w: full_window(h, w)[None], [size], 0)[0]
            return tf.cast(tf.round(image), tf.uint8)  # As streaming_eval_dataset.

        ds = examples.enumerate().take_while(lambda i, _: i <= int(wanted[-1])).filter(
            lambda i, _: tf.gather(mask, i)).map(decode, tf.data.AUTOTUNE)
        images = np.stack(list(ds.as_numpy_iterator()))
        return images[np.searchsorted(wanted, good)]


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
        memory_limit_mb: as `LabelledSplit`, and the most fine-tuning reads of a streamed split.
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
            max(self.train.labels.max(), self.test.labels.max()) + 1)]

    @property
    def num_classes(self):
        return len(self.class_names)

    def identity(self):
        """The dataset as metrics.json describes it (after the features: skipped images known)."""
        identity = {
            "source": self.source if isinstance(self.source, str) else "arrays",
            "train_split": self.splits[0], "test_split": self.splits[1],
            "num_train": int(len(self.train.labels)), "num_test": int(len(self.test.labels)),
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

    def finetune_arrays(self, protocol, rows=None):
        """(train images of `rows`, their labels, test images) for fine-tuning, in memory; more
        than memory_limit_mb of them read from a streamed split is refused."""
        num_train = len(self.train.labels) if rows is None else len(rows)
        mb = decoded_mb(num_train * (self.train.stream is not None)
                        + len(self.test.labels) * (self.test.stream is not None),
                        self.image_size)
        if mb > self.memory_limit_mb:
            raise ValueError(
                f"{protocol} trains on images in memory: {num_train} train + "
                f"{len(self.test.labels)} test images at {self.image_size[0]}x"
                f"{self.image_size[1]} are {mb:.0f} MB decoded, more than data.memory_limit_mb="
                f"{self.memory_limit_mb:g}. Raise it (--memory_limit_mb=...), evaluate on fewer "
                "images (--max_train_examples, --max_test_examples) or use --protocol=semi (a "
                "label subset).")
        labels = self.train.labels if rows is None else self.train.labels[rows]
        return self.train.images(rows), labels, self.test.images()
