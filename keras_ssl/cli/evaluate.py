"""`keras-ssl eval`: an encoder under the papers' protocols -> metrics JSON, report.md and figures.

The encoder is a run's `encoder.keras` (`--workdir`) or an exported SavedModel (`--encoder`); the
data is `--data` (transfer), else the run's `data.eval_source`, else its `data.source`. Every
protocol can also be run on the same architecture at random initialisation (`--random_init`), the
baseline a representation has to beat.

Memory: a split whose decoded images fit in `data.memory_limit_mb` is decoded into memory (the
fastest path: on the CIFAR-10 test split, 1.1 s against 4.7 s streamed); a larger `folder:` /
`tfds:` split, and every `tfrecord:` one, is streamed batch by batch and only its features and
labels are kept. Figures read only the images they show. Fine-tuning (`finetune`, `semi`) trains
on images in memory: of a streamed split only the labelled rows are read, and more than
`memory_limit_mb` of them is refused. Every file is read and written through `tf.io.gfile`.
"""

import dataclasses
import functools
import hashlib
import io
import json
import os
import posixpath
import re

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from matplotlib.figure import Figure

from keras_ssl import evaluation
from keras_ssl.augment.crop import full_window
from keras_ssl.cli import UsageError, bad_image_errors, builders, data_errors
from keras_ssl.cli.config import data_config, eval_config
from keras_ssl.cli.workdir import Workdir
from keras_ssl.data import BadImages, encoded_source, load_arrays, parse_source
from keras_ssl.data import streaming_eval_dataset
from keras_ssl.data.decode import decode_crops
from keras_ssl.data.records import DEFAULT_LABEL_KEY
from keras_ssl.data.sources import split_file_names, subset_indices
from keras_ssl.data.streaming import NEEDS_LABELS
from keras_ssl.evaluation import report
from keras_ssl.files import write_bytes, write_text

PROTOCOLS = ("knn", "linear", "mlp", "finetune", "semi", "retrieval", "cluster")
DEFAULT_PROTOCOLS = ("knn", "linear")
# Protocols that read frozen features (extracted once per encoder and shared).
_FEATURE_PROTOCOLS = ("knn", "linear", "mlp", "retrieval", "cluster")
# RotNet's classifiers on a layer's feature maps (with --layers only; not in 'all').
MAP_PROTOCOLS = ("nonlinear", "conv")
RETRIEVAL_KS = (1, 5, 10, 100)


@dataclasses.dataclass
class EvalOptions:
    """What `keras-ssl eval` runs; the flags of the same names fill it.

    protocols: names from PROTOCOLS.
    random_init: protocols also run on the architecture at random init; None: kNN when
        `protocols` holds it and the architecture is known (a run's workdir).
    encoder: a SavedModel directory to evaluate instead of the workdir's encoder.keras.
    data: a data source (`keras_ssl.data.parse_source`) instead of the run's, for transfer.
    output_dir: where metrics, report and figures go; default the workdir (for --data:
        <workdir>/eval_<data>).
    max_train_examples / max_test_examples: evaluate on a fixed random subset (CPU budgets).
    finetune_epochs: epochs of `finetune` (all labels).
    semi_epochs: epochs of `semi`; None: SimCLR's 60 for a subset of <= 1% of the labels, else 30.
    semi_fractions: label fractions of the class-balanced subsets for `semi`.
    subset_file: a file of train indices or file names to use for `semi` instead.
    memory_limit_mb: decoded size above which a split is streamed and fine-tuning refused;
        None: the run's `data.memory_limit_mb`.
    layers: also run the frozen-feature protocols (and MAP_PROTOCOLS) on each of these layers
        (`keras_ssl.evaluation.LayerFeatures`; ("all",): every layer of the encoder).
    layer_dims: the size each layer's map is average-pooled within; None: Goyal et al.'s 9216.
    map_epochs: epochs of MAP_PROTOCOLS; None: the authors' (RotNet's code).
    """

    protocols: tuple = DEFAULT_PROTOCOLS
    random_init: tuple | None = None
    encoder: str | None = None
    data: str | None = None
    output_dir: str | None = None
    max_train_examples: int | None = None
    max_test_examples: int | None = None
    finetune_epochs: int = 30
    semi_epochs: int | None = None
    finetune_batch_size: int = 256
    finetune_learning_rate: float | None = None
    semi_fractions: tuple = (0.01, 0.1)
    subset_file: str | None = None
    memory_limit_mb: float | None = None
    layers: tuple = ()
    layer_dims: int | None = None
    map_epochs: int | None = None


def parse_protocols(text, what="--protocol"):
    """'knn,linear' -> ('knn', 'linear'); 'all' -> every protocol; 'none' or '' -> ()."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if names == ["all"]:
        return PROTOCOLS
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in PROTOCOLS + MAP_PROTOCOLS]
    if unknown:
        raise ValueError(f"{what}={text!r} names unknown protocols {unknown}; choose from "
                         f"{', '.join(PROTOCOLS + MAP_PROTOCOLS)}, or 'all'.")
    return tuple(dict.fromkeys(names))


# Sources read from files: streamed when large (tfrecord: always, load_arrays cannot read it).
_STREAMABLE = ("folder", "tfrecord", "tfds")


def _decoded_mb(num_images, image_size):
    return num_images * image_size[0] * image_size[1] * 3 / 2**20


class _Split:
    """One labelled split: its labels, and its images in memory or streamed (read as needed).

    Rows are in source order; a streamed split's rows skip its bad images (`data.on_bad_image`)
    and keep `load_arrays`' subset for `max_examples` (a fixed random one of a folder, the first
    records otherwise), so both paths give the same rows.
    """

    def __init__(self, source, split, image_size, max_examples, d, memory_limit_mb, own):
        self.source, self.split, self.image_size = source, split, image_size
        self.stream, self._images, self._labels, self._keep = None, None, None, None
        kind = parse_source(source).kind
        if kind == "tfrecord":
            # A pattern has no splits: "{split}" in it names each split's files.
            if "{split}" not in source:
                raise UsageError(
                    f"{source} names no splits; evaluation reads a train and a test split: write "
                    "the pattern with {split}, e.g. tfrecord:/data/{split}-*.tfrecord.")
            self.source = source = source.replace("{split}", split)
        if kind in _STREAMABLE:
            # The run's layout and keys describe its own source; another one is detected.
            self._args = dict(data_dir=d.tfds_data_dir, labeled=d.labeled if own else None,
                              image_key=d.image_key,
                              label_key=d.label_key if own else d.label_key or DEFAULT_LABEL_KEY)
            stream = encoded_source(source, split, download=d.tfds_download, **self._args)
            if not stream.labeled:
                raise UsageError(
                    f"evaluation needs labels, but {stream.description} has none. Evaluate on "
                    f"{NEEDS_LABELS}: give it at train time with "
                    "--config.data.eval_source=folder:/labelled/path, or here with "
                    "`keras-ssl eval --data=folder:/labelled/path`.")
            num = min(stream.num_examples, max_examples or stream.num_examples)
            if kind == "tfrecord" or d.pipeline == "streaming" or (
                    d.pipeline == "auto" and _decoded_mb(num, image_size) > memory_limit_mb):
                self.stream, self.class_names, self.bad = stream, stream.class_names, BadImages()
                self._policy = dict(on_bad_image=d.on_bad_image,
                                    max_bad_fraction=d.max_bad_fraction, bad_images=self.bad)
                if num < stream.num_examples:
                    self._keep = (subset_indices(stream.num_examples, num) if kind == "folder"
                                  else np.arange(num))
                return
        self._images, self._labels, self.class_names = load_arrays(
            source, split, image_size, max_examples, data_dir=d.tfds_data_dir,
            download=d.tfds_download)

    @property
    def pipeline(self):
        return "memory" if self.stream is None else "streaming"

    @property
    def labels(self):
        if self._labels is None:  # Streamed, no features yet: a pass for the labels alone.
            with bad_image_errors(self.bad):
                self._labels = np.concatenate(
                    [y for _, y in self._batches(512).as_numpy_iterator()])
        return self._labels

    def features(self, encoder, batch_size):
        """The encoder's frozen features of every row; a streamed split keeps only them."""
        if self.stream is None:
            return evaluation.extract_features(encoder, self._images, batch_size, True)
        num = len(self._keep) if self._keep is not None else self.stream.num_examples
        with bad_image_errors(self.bad):
            features, self._labels = evaluation.extract_dataset_features(
                encoder, self._batches(batch_size), num, verbose=True)
        return features

    def _batches(self, batch_size):
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


class _Data:
    """The labelled train / test splits every protocol of one evaluation reads."""

    def __init__(self, source, splits, image_size, options, d, own):
        self.source, self.splits, self.image_size = source, splits, image_size
        self.memory_limit_mb = (options.memory_limit_mb if options.memory_limit_mb is not None
                                else d.memory_limit_mb)
        self.options = options
        self.train, self.test = (
            _Split(source, split, image_size, limit, d, self.memory_limit_mb, own)
            for split, limit in zip(splits, (options.max_train_examples,
                                             options.max_test_examples)))

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
            "max_train_examples": self.options.max_train_examples,
            "max_test_examples": self.options.max_test_examples,
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
        mb = _decoded_mb(num_train * (self.train.stream is not None)
                         + len(self.test.labels) * (self.test.stream is not None),
                         self.image_size)
        if mb > self.memory_limit_mb:
            raise UsageError(
                f"{protocol} trains on images in memory: {num_train} train + "
                f"{len(self.test.labels)} test images at {self.image_size[0]}x"
                f"{self.image_size[1]} are {mb:.0f} MB decoded, more than data.memory_limit_mb="
                f"{self.memory_limit_mb:g}. Raise it (--memory_limit_mb=...), evaluate on fewer "
                "images (--max_train_examples, --max_test_examples) or use --protocol=semi (a "
                "label subset).")
        labels = self.train.labels if rows is None else self.train.labels[rows]
        return self.train.images(rows), labels, self.test.images()


def evaluate(workdir=None, options=None):
    """Runs `options.protocols` (default kNN + linear) and writes the metrics, report and figures.

    Args:
        workdir: a `keras-ssl train` run directory (config, encoder.keras, history.csv), or None
            with `options.encoder` set.
        options: an `EvalOptions`; default kNN + linear probe on the run's data.

    Returns:
        The combined metrics, also written to <output_dir>/metrics.json.
    """
    options = options or EvalOptions()
    if workdir is None and options.encoder is None:
        raise UsageError("keras-ssl eval needs --workdir (a training run) or --encoder (a "
                         "SavedModel directory from `keras-ssl export`).")
    wd = Workdir(workdir) if workdir else None
    config = wd.load_config() if wd else None
    ev = config.eval if config else eval_config()
    # The data section's defaults under the run's values, so a run written before a key existed
    # still evaluates.
    d = data_config()
    if config:
        d.update(config.data)
    seed = config.seed if config else 0
    if options.data is None and config is None:
        raise UsageError("--encoder without --workdir needs --data, the data source to evaluate "
                         "on (e.g. --data=folder:/data/cifar10 or --data=fashion_mnist:).")
    if options.output_dir is None and wd is None:
        raise UsageError("--encoder without --workdir needs --output_dir for the metrics.")
    random_init = options.random_init
    if random_init is None:
        random_init = ("knn",) if config is not None and "knn" in options.protocols else ()
    if random_init and config is None:
        raise UsageError("--random_init needs --workdir: the architecture to initialise at random "
                         "comes from the run's config.")
    if set(options.protocols) & set(MAP_PROTOCOLS) and not options.layers:
        raise UsageError(f"{'/'.join(MAP_PROTOCOLS)} classify a layer's feature maps: name the "
                         "layers with --layers (e.g. --layers=stage1,stage2,stage3,stage4).")
    if "semi" in options.protocols and options.subset_file and options.max_train_examples:
        raise UsageError("--subset_file indexes the whole train split; drop --max_train_examples.")
    # A fresh copy for each fine-tuning run, which changes the weights it is given.
    if options.encoder:
        load_encoder = functools.partial(evaluation.SavedModelEncoder, options.encoder)
    else:
        load_encoder = functools.partial(keras.models.load_model, wd.require_encoder())
    with data_errors():  # Not a SavedModel of `keras-ssl export`.
        encoder = load_encoder()
    image_size = evaluation.encoder_image_size(encoder) or (d.image_size,) * 2
    layers = _layers(options.layers, encoder)

    source = options.data or d.eval_source or d.source
    splits = ("train", "test") if options.data else (d.train_split, d.test_split)
    output_dir = options.output_dir
    if output_dir is None:
        output_dir = (wd.path if options.data is None else
                      posixpath.join(wd.path, "eval_" + re.sub(r"[^A-Za-z0-9_.-]+", "_",
                                                               options.data).strip("_")))
    with data_errors():  # A missing folder, a wrong layout, TFDS not prepared...
        data = _Data(source, splits, image_size, options, d, own=source == d.source)
    tf.io.gfile.makedirs(output_dir)
    logging.info("evaluating on %s (train %s, test %s)", source, data.train.pipeline,
                 data.test.pipeline)

    def random_encoder():
        keras.utils.set_random_seed(seed)
        return builders.build_whole_image_encoder(config)

    rows = {"encoder": (load_encoder, options.protocols)}
    if random_init:
        rows["random_init"] = (random_encoder, [p for p in PROTOCOLS + MAP_PROTOCOLS
                                                if p in random_init])
    results, figures = {}, {}
    for row, (loader, protocols) in rows.items():
        protocols = [p for p in protocols if p not in MAP_PROTOCOLS]
        results[row] = {}
        features = None
        if any(p in _FEATURE_PROTOCOLS for p in protocols):
            frozen = encoder if row == "encoder" else loader()
            features = (data.train.features(frozen, ev.batch_size),
                        data.test.features(frozen, ev.batch_size))
        for protocol in protocols:
            logging.info("%s: %s", row, protocol)
            results[row][protocol] = _RUNNERS[protocol](
                data=data, features=features, loader=loader, ev=ev, seed=seed, options=options)
            logging.info("%s %s: %s", row, protocol, _headline(protocol, results[row][protocol]))
        if row == "encoder" and features is not None:
            figures = _figures(output_dir, data, features)
        if row == "encoder" and wd is not None:
            figures.update(_method_figures(config, wd, data, output_dir))
    by_layer = None
    if layers:
        max_dims = options.layer_dims or evaluation.DEFAULT_MAX_DIMS
        by_layer = _evaluate_layers(layers, max_dims, encoder, rows, data, ev, seed, options)
        top1 = {row: {layer: {k: v for k, v in values.items()
                              if k.endswith("top-1") and "majority" not in k}
                      for layer, values in by.items()} for row, by in by_layer["headline"].items()}
        figures["Frozen features by layer (top-1)"] = report.plot_layers(
            posixpath.join(output_dir, "layers.png"), top1, layers)
    history = wd.history_path if wd else None
    figures["Pretraining curves"] = report.plot_history(
        posixpath.join(output_dir, "pretraining_curves.png"), history) if history else None

    encoder_identity = _encoder_identity(options.encoder or wd.encoder_path, encoder, config)
    pretrained_on = d.source if config else None
    common = {"dataset": data.identity(), "encoder": encoder_identity,
              "pretrained_on": pretrained_on,
              # The run's eval_source is its labelled view of the data, not a transfer.
              "transfer": None if pretrained_on is None else source not in (d.source,
                                                                           d.eval_source)}
    protocols = [p for p in PROTOCOLS if any(p in r for r in results.values())]
    for protocol in protocols:
        _write_json(posixpath.join(output_dir, f"metrics_{protocol}.json"), {
            "protocol": protocol, **common,
            "results": {row: r[protocol] for row, r in results.items() if protocol in r}})
    headline = {_ROW_NAMES[row]: {k: v for p, r in rows_results.items()
                                  for k, v in _headline(p, r).items()}
                for row, rows_results in results.items()}
    report_path = report.write_report(
        posixpath.join(output_dir, "report.md"),
        f"Evaluation of {encoder_identity['path']}", table_rows(headline, by_layer),
        description=_description(common["dataset"], common),
        settings={p: _settings(r) for p, r in results["encoder"].items()}, figures=figures)

    metrics = _legacy_keys(results)
    metrics.update(common, protocols={p: {row: r[p] for row, r in results.items() if p in r}
                                      for p in protocols},
                   headline=headline, report=report_path, output_dir=output_dir)
    if by_layer:
        metrics["layers"] = by_layer
    _write_json(posixpath.join(output_dir, "metrics.json"), metrics)
    return metrics


def table_rows(headline, by_layer=None):
    """The results table's rows: each encoder's headline numbers, then one row per encoder and
    layer evaluated (`metrics["layers"]`); rows without numbers are left out."""
    rows = dict(headline)
    for row, by in (by_layer or {}).get("headline", {}).items():
        rows.update({f"{row}, {layer}": values for layer, values in by.items()})
    return {name: values for name, values in rows.items() if values}


def _layers(names, encoder):
    """The --layers names checked against the encoder's (all of them for 'all')."""
    available = evaluation.available_layers(encoder)
    if list(names) == ["all"]:
        return available
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UsageError(f"--layers names {unknown}, which the encoder has not; its layers are "
                         f"{','.join(available)} (or 'all').")
    return [n for n in available if n in names]  # shallow to deep


def _evaluate_layers(layers, max_dims, encoder, rows, data, ev, seed, options):
    """Every row's frozen-feature protocols on each layer's pooled, standardised features and
    its map protocols on each layer's feature maps: results, headline numbers and the best layer
    per protocol, for metrics.json's "layers"."""
    results = {}
    for row, (loader, protocols) in rows.items():
        frozen = encoder if row == "encoder" else loader()
        results[row] = {layer: {} for layer in layers}
        pooled_protocols = [p for p in protocols if p in _FEATURE_PROTOCOLS]
        if pooled_protocols:
            extractor = evaluation.LayerFeatures(frozen, layers, max_dims)
            train = data.train.features(extractor, ev.batch_size)
            test = data.test.features(extractor, ev.batch_size)
            for layer in layers:
                features = evaluation.standardize(train.pop(layer), test.pop(layer))
                for protocol in pooled_protocols:
                    logging.info("%s, layer %s: %s", row, layer, protocol)
                    results[row][layer][protocol] = {
                        **_RUNNERS[protocol](data=data, features=features, ev=ev, seed=seed,
                                             options=options),
                        "layer": layer, "feature_dim": int(features[0].shape[1])}
        map_protocols = [p for p in protocols if p in MAP_PROTOCOLS]
        map_layers = [n for n in layers if n != evaluation.POOLED]
        if map_protocols and map_layers:
            extractor = evaluation.LayerFeatures(frozen, map_layers, maps=True)
            train = data.train.features(extractor, ev.batch_size)
            test = data.test.features(extractor, ev.batch_size)
            for layer in map_layers:
                maps = train.pop(layer), test.pop(layer)
                for protocol in map_protocols:
                    logging.info("%s, layer %s: %s", row, layer, protocol)
                    results[row][layer][protocol] = {
                        **_map_classifier(protocol, *maps, data, seed, options), "layer": layer}
    headline = {_ROW_NAMES[row]: {layer: {k: v for p, r in by_protocol.items()
                                          for k, v in _headline(p, r).items()}
                                  for layer, by_protocol in by_layer.items() if by_protocol}
                for row, by_layer in results.items()}
    best = {}
    for protocol in {p for by_protocol in results["encoder"].values() for p in by_protocol}:
        scores = {layer: r[protocol]["top1"] for layer, r in results["encoder"].items()
                  if protocol in r and "top1" in r[protocol]}
        if scores:
            layer = max(scores, key=scores.get)
            best[protocol] = {"layer": layer, "top1": scores[layer], "random_init_top1": results.get(
                "random_init", {}).get(layer, {}).get(protocol, {}).get("top1")}
    return {"layers": layers, "max_dims": max_dims, "standardize": "train_mean_std",
            "results": results, "headline": headline, "best": best}


def _write_json(path, value):
    write_text(path, json.dumps(value, indent=2))


_ROW_NAMES = {"encoder": "trained encoder", "random_init": "random init (same architecture)"}


def _knn(data, features, ev, **_):
    train_f, test_f = features
    kwargs = dict(k=min(ev.knn_k, len(train_f)), temperature=ev.knn_temperature)
    return {
        "protocol": "knn",
        "top1": evaluation.knn_accuracy(train_f, data.train.labels, test_f, data.test.labels,
                                        data.num_classes, weighting="exp", **kwargs),
        "majority_top1": evaluation.knn_accuracy(train_f, data.train.labels, test_f, data.test.labels,
                                                 data.num_classes, weighting="uniform", **kwargs),
        **kwargs, "metric": "cosine", "weighting": "exp(sim / temperature)",
        "majority_weighting": "uniform", "memory": "train split features",
        "num_train": int(len(train_f)), "num_test": int(len(test_f)),
    }


def _linear(data, features, ev, seed, **_):
    return evaluation.linear_probe(features[0], data.train.labels, features[1], data.test.labels,
                                   data.num_classes, epochs=ev.linear_epochs, seed=seed,
                                   verbose=True)


def _mlp(data, features, ev, seed, **_):
    return evaluation.mlp_probe(features[0], data.train.labels, features[1], data.test.labels,
                                data.num_classes, epochs=ev.linear_epochs, seed=seed, verbose=True)


def _retrieval(data, features, **_):
    ks = [k for k in RETRIEVAL_KS if k <= len(features[0])]
    return evaluation.retrieval_metrics(features[0], data.train.labels, features[1], data.test.labels,
                                        ks=ks)


def _cluster(data, features, seed, **_):
    return evaluation.kmeans_clustering(features[0], features[1], data.test.labels, data.num_classes,
                                        seed=seed)


def _finetune(data, loader, seed, options, subset=None, epochs=None, protocol="finetune"):
    train_x, train_y, test_x = data.finetune_arrays(protocol, subset)
    return evaluation.finetune(
        loader(), train_x, train_y, test_x, data.test.labels, data.num_classes,
        epochs=epochs or options.finetune_epochs, batch_size=options.finetune_batch_size,
        learning_rate=options.finetune_learning_rate, seed=seed,
        num_train_split=len(data.train.labels), verbose=True)


def _semi(data, loader, seed, options, **_):
    try:
        if options.subset_file:
            subset = evaluation.read_subset_file(
                options.subset_file, len(data.train.labels),
                split_file_names(data.source, data.splits[0]))
            subsets = {posixpath.basename(options.subset_file): (
                subset, options.semi_epochs or 30, options.subset_file)}
        else:
            subsets = {f"{fraction:.0%}": (
                evaluation.balanced_subset(data.train.labels, fraction, seed),
                options.semi_epochs or (60 if fraction <= 0.01 else 30),
                f"class-balanced {fraction:g} of the train split, seed {seed}")
                for fraction in options.semi_fractions}
    except ValueError as err:  # A bad subset file or fraction.
        raise UsageError(str(err)) from err
    results = {}
    for name, (subset, epochs, origin) in subsets.items():
        logging.info("semi-supervised fine-tuning on %s: %d labelled train images", name,
                     len(subset))
        results[name] = {**_finetune(data, loader, seed, options, subset, epochs, "semi"),
                         "subset": origin, "subset_split": data.splits[0]}
    return {"protocol": "semi", "subsets": results}


_RUNNERS = {"knn": _knn, "linear": _linear, "mlp": _mlp, "retrieval": _retrieval,
            "cluster": _cluster, "semi": _semi,
            "finetune": lambda data, loader, seed, options, **_: _finetune(data, loader, seed,
                                                                           options)}


def _map_classifier(protocol, train_maps, test_maps, data, seed, options):
    classifier = {"nonlinear": evaluation.nonlinear_classifier,
                  "conv": evaluation.conv_classifier}[protocol]
    return classifier(train_maps, data.train.labels, test_maps, data.test.labels,
                      data.num_classes, epochs=options.map_epochs, seed=seed, verbose=True)


def _headline(protocol, result):
    """The numbers of a protocol that go in the results table."""
    if protocol in MAP_PROTOCOLS:
        return {f"{protocol} top-1": result["top1"]}
    if protocol == "knn":
        return {"kNN top-1": result["top1"], "kNN majority top-1": result["majority_top1"]}
    if protocol == "linear":
        return {"linear top-1": result["top1"], "linear top-5": result["top5"]}
    if protocol == "mlp":
        return {"MLP top-1": result["top1"]}
    if protocol == "finetune":
        return {"fine-tune top-1": result["top1"]}
    if protocol == "semi":
        return {f"semi {name} top-1": r["top1"] for name, r in result["subsets"].items()}
    if protocol == "retrieval":
        k = result["ks"][-1]
        return {"R@1": result["recall@1"], f"mAP@{k}": result[f"map@{k}"]}
    return {"k-means NMI": result["nmi"], "k-means ARI": result["ari"],
            "k-means acc": result["accuracy"]}


def _settings(result):
    """A protocol's settings for the report: everything but its scores."""
    if result["protocol"] == "semi":
        return {name: _settings(r) for name, r in result["subsets"].items()}
    scores = re.compile(r"^(top\d|train_top1|majority_top1|train_loss|nmi|ari|accuracy|"
                        r"(recall|precision|map)@\d+)$")
    return {k: v for k, v in result.items() if not scores.match(k) and k != "protocol"}


def _figures(output_dir, data, features):
    train_f, test_f = features
    train_y, test_y = data.train.labels, data.test.labels
    # The first test image of each class (up to 8) as queries.
    queries = [int((test_y == c).nonzero()[0][0]) for c in range(data.num_classes)
               if (test_y == c).any()][:8]
    _, neighbours = evaluation.nearest_neighbours(test_f[queries], train_f,
                                                  min(8, len(train_f)))
    shown = np.unique(neighbours)  # Only the train images shown are read.
    return {
        "Retrieval: test queries and their nearest train images": report.plot_retrieval_grid(
            posixpath.join(output_dir, "retrieval_grid.png"), data.test.images(queries),
            data.train.images(shown), np.searchsorted(shown, neighbours), test_y[queries],
            train_y[shown], data.class_names),
        "Test features (PCA), coloured by label": report.plot_embedding(
            posixpath.join(output_dir, "embedding_pca.png"), test_f, test_y, data.class_names),
    }


def _method_figures(config, wd, data, output_dir, num_images=8):
    """The method's own picture of test images (its registry `eval_figures`: colourised or
    inpainted images), drawn by the whole trained method restored from the last checkpoint."""
    from keras_ssl.callbacks import TrainingCheckpoint
    from keras_ssl.methods import registry
    spec = registry.get(config.method)
    if spec.eval_figures is None or tf.train.latest_checkpoint(wd.backup_dir) is None:
        return {}
    model = builders.build_method(config, builders.build_encoder(config), steps_per_epoch=1)
    model.compile(optimizer=builders.build_optimizer(config, 1))
    size = config.data.image_size
    model.build((None, size, size, 3))
    model.optimizer.build(model.trainable_variables)
    TrainingCheckpoint(wd.backup_dir, 1).restore(model)
    labels = data.test.labels  # the first test image of each class (up to num_images)
    rows = [int((labels == c).nonzero()[0][0]) for c in np.unique(labels)][:num_images]
    images = data.test.images(rows)
    images = tf.image.resize(images, (size, size)).numpy() / 255.0 if images.shape[1] != size \
        else images / 255.0
    columns = spec.eval_figures(model, config, images.astype("float32"))
    path = posixpath.join(output_dir, f"{config.method}_test_images.png")
    figure = Figure(figsize=(1.4 * len(columns), 1.4 * len(images)))
    axes = figure.subplots(len(images), len(columns), squeeze=False)
    for col, (title, column) in enumerate(columns):
        for r in range(len(images)):
            axes[r][col].imshow(np.clip(np.asarray(column[r]), 0.0, 1.0), interpolation="nearest")
            axes[r][col].set_xticks([])
            axes[r][col].set_yticks([])
            if r == 0:
                axes[r][col].set_title(title, fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_bytes(path, buffer.getvalue())
    return {f"{config.method}: what it makes of test images": path}


def _encoder_identity(path, encoder, config):
    path = str(path)
    identity = {"path": path if "://" in path else os.path.abspath(path)}
    if isinstance(encoder, evaluation.SavedModelEncoder):
        identity.update(format="saved_model", fingerprint=str(
            tf.saved_model.experimental.read_fingerprint(path).saved_model_checksum))
    else:
        with tf.io.gfile.GFile(path, "rb") as f:
            identity.update(format="keras", sha256=hashlib.sha256(f.read()).hexdigest())
    identity.update(image_size=list(evaluation.encoder_image_size(encoder) or ()),
                    output_dim=int(getattr(encoder, "output_dim", None)
                                   or encoder.output_shape[-1]))
    if config is not None:
        identity.update(config.encoder.to_dict())
    return identity


def _description(dataset, common):
    transfer = {None: "unknown", True: "yes", False: "no"}[common["transfer"]]
    return [
        f"- Data: `{dataset['source']}`, {dataset['num_train']} train / {dataset['num_test']} "
        f"test images ({dataset['train_split']} / {dataset['test_split']} splits), "
        f"{len(dataset['classes'])} classes, at {dataset['image_size'][0]}x"
        f"{dataset['image_size'][1]}.",
        f"- Pretrained on: `{common['pretrained_on']}` (transfer: {transfer}).",
        f"- Encoder: `{common['encoder']['path']}` ({common['encoder']['format']}, "
        f"{common['encoder']['output_dim']}-d features).",
        "- Every number is on the test split; labels of the test split are used only to score.",
    ]


def _legacy_keys(results):
    """The top-level keys of metrics.json that the README and earlier runs use."""
    encoder, random_init = results["encoder"], results.get("random_init", {})
    legacy = {}
    if "knn" in encoder:
        legacy["knn_top1"] = encoder["knn"]["top1"]
    if "linear" in encoder:
        legacy["linear_top1"] = encoder["linear"]["top1"]
        legacy["linear_top5"] = encoder["linear"]["top5"]
    if "knn" in random_init:
        legacy["random_init_knn_top1"] = random_init["knn"]["top1"]
    if "knn" in encoder:
        legacy["knn"] = encoder["knn"]
    if "linear" in encoder:
        legacy["linear_probe"] = encoder["linear"]
    return legacy
