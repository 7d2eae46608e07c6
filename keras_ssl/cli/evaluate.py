"""`keras-ssl eval`: an encoder under the papers' protocols -> metrics JSON, report.md and figures.

The encoder is a run's `encoder.keras` (`--workdir`) or an exported SavedModel (`--encoder`); the
data is `--data` (transfer), else the run's `data.eval_source`, else its `data.source`. Every
protocol can also be run on the same architecture at random initialisation (`--random_init`), the
baseline a representation has to beat.

The protocols are those of `keras_ssl.evaluation.protocols`, each defined in its own module.

Memory: a split whose decoded images fit in `data.memory_limit_mb` is decoded into memory; a
larger `folder:` / `tfds:` split, and every `tfrecord:` one, is streamed batch by batch and only
its features and labels are kept (`keras_ssl.data.LabelledData`). Figures read only the images
they show. Fine-tuning (`finetune`, `semi`) reads a streamed train split batch by batch and
scores a streamed test split from its features. Every file is read and written through
`tf.io.gfile`.
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
from keras_ssl.cli import UsageError, bad_image_errors, builders, data_errors
from keras_ssl.cli.config import data_config, eval_config
from keras_ssl.cli.workdir import Workdir
from keras_ssl.data import LabelledData
from keras_ssl.evaluation import protocols as protocol_registry
from keras_ssl.evaluation import report
from keras_ssl.files import write_bytes, write_text


@dataclasses.dataclass
class EvalOptions:
    """What `keras-ssl eval` runs; the flags of the same names fill it.

    protocols: names from `keras_ssl.evaluation.protocols` (`parse` reads a comma list).
    random_init: protocols also run on the architecture at random init; None: those of
        `protocols` registered with `random_init` (kNN) when the architecture is known (a run's
        workdir).
    encoder: a SavedModel directory to evaluate instead of the workdir's encoder.keras.
    data: a data source (`keras_ssl.data.parse_source`) instead of the run's, for transfer.
    output_dir: where metrics, report and figures go; default the workdir (for --data:
        <workdir>/eval_<data>).
    max_train_examples / max_test_examples: evaluate on a fixed random subset (CPU budgets).
    finetune_epochs: epochs of `finetune` (all labels).
    semi_epochs: epochs of `semi`; None: SimCLR's 60 for a subset of <= 1% of the labels, else 30.
    semi_fractions: label fractions of the class-balanced subsets for `semi`.
    subset_file: a file of train indices or file names to use for `semi` instead.
    memory_limit_mb: decoded size above which a split is streamed; None: the run's
        `data.memory_limit_mb`.
    layers: also run the frozen-feature protocols (and those on feature maps) on each of these
        layers (`keras_ssl.evaluation.LayerFeatures`; ("all",): every layer of the encoder).
    layer_dims: the size each layer's map is average-pooled within; None: Goyal et al.'s 9216.
    map_epochs: epochs of the protocols on feature maps; None: the authors' (RotNet's code).
    """

    protocols: tuple = protocol_registry.defaults()
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
        random_init = tuple(p for p in options.protocols if config is not None
                            and protocol_registry.get(p).random_init)
    if random_init and config is None:
        raise UsageError("--random_init needs --workdir: the architecture to initialise at random "
                         "comes from the run's config.")
    on_maps = protocol_registry.names(feature_maps=True)
    if set(options.protocols) & set(on_maps) and not options.layers:
        raise UsageError(f"{'/'.join(on_maps)} classify a layer's feature maps: name the "
                         "layers with --layers (e.g. --layers=stage1,stage2,stage3,stage4).")
    if "semi" in options.protocols and options.subset_file and options.max_train_examples:
        raise UsageError("--subset_file indexes the whole train split; drop --max_train_examples.")
    # A fresh copy for each fine-tuning run, which changes the weights it is given.
    if options.encoder:
        load_encoder = functools.partial(evaluation.SavedModelEncoder, options.encoder)
    else:
        load_encoder = wd.load_encoder
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
    memory_limit_mb = (options.memory_limit_mb if options.memory_limit_mb is not None
                       else d.memory_limit_mb)
    with data_errors():  # A missing folder, a wrong layout, no labels, TFDS not prepared...
        data = LabelledData(source, splits, image_size, d, memory_limit_mb,
                            (options.max_train_examples, options.max_test_examples),
                            own=source == d.source)
    tf.io.gfile.makedirs(output_dir)
    logging.info("evaluating on %s (train %s, test %s)", source, data.train.pipeline,
                 data.test.pipeline)

    def random_encoder():
        keras.utils.set_random_seed(seed)
        return builders.build_whole_image_encoder(config)

    rows = {"encoder": (load_encoder, options.protocols)}
    if random_init:
        rows["random_init"] = (random_encoder,
                               [p for p in protocol_registry.names() if p in random_init])
    # A streamed split that stops on its bad images (data.on_bad_image) is a user error.
    with bad_image_errors(data.train.bad, data.test.bad):
        results, figures = {}, {}
        for row, (loader, protocols) in rows.items():
            protocols = [p for p in protocols if not protocol_registry.get(p).feature_maps]
            results[row] = {}
            features = None
            if any(protocol_registry.get(p).frozen_features for p in protocols):
                frozen = encoder if row == "encoder" else loader()
                features = (evaluation.split_features(frozen, data.train, ev.batch_size),
                            evaluation.split_features(frozen, data.test, ev.batch_size))
            for protocol in protocols:
                logging.info("%s: %s", row, protocol)
                results[row][protocol] = _run(protocol, data=data, features=features,
                                              loader=loader, ev=ev, seed=seed, options=options)
                logging.info("%s %s: %s", row, protocol,
                             protocol_registry.get(protocol).headline(results[row][protocol]))
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
                          for layer, values in by.items()}
                    for row, by in by_layer["headline"].items()}
            figures["Frozen features by layer (top-1)"] = report.plot_layers(
                posixpath.join(output_dir, "layers.png"), top1, layers)
        dataset = data.identity()
    history = wd.history_path if wd else None
    figures["Pretraining curves"] = report.plot_history(
        posixpath.join(output_dir, "pretraining_curves.png"), history) if history else None

    encoder_identity = _encoder_identity(options.encoder or wd.encoder_path, encoder, config)
    pretrained_on = d.source if config else None
    common = {"dataset": dataset, "encoder": encoder_identity,
              "pretrained_on": pretrained_on,
              # The run's eval_source is its labelled view of the data, not a transfer.
              "transfer": None if pretrained_on is None else source not in (d.source,
                                                                           d.eval_source)}
    protocols = [p for p in protocol_registry.names() if any(p in r for r in results.values())]
    for protocol in protocols:
        _write_json(posixpath.join(output_dir, f"metrics_{protocol}.json"), {
            "protocol": protocol, **common,
            "results": {row: r[protocol] for row, r in results.items() if protocol in r}})
    headline = {_ROW_NAMES[row]: protocol_registry.headline(rows_results)
                for row, rows_results in results.items()}
    report_path = report.write_report(
        posixpath.join(output_dir, "report.md"),
        f"Evaluation of {encoder_identity['path']}", table_rows(headline, by_layer),
        description=_description(common["dataset"], common),
        settings={p: protocol_registry.get(p).report_settings(r)
                  for p, r in results["encoder"].items()},
        figures=figures)

    metrics = protocol_registry.legacy_metrics(results)
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
        specs = [protocol_registry.get(p) for p in protocols]
        pooled_protocols = [s.name for s in specs if s.frozen_features and not s.feature_maps]
        if pooled_protocols:
            extractor = evaluation.LayerFeatures(frozen, layers, max_dims)
            train = evaluation.split_features(extractor, data.train, ev.batch_size)
            test = evaluation.split_features(extractor, data.test, ev.batch_size)
            for layer in layers:
                features = evaluation.standardize(train.pop(layer), test.pop(layer))
                for protocol in pooled_protocols:
                    logging.info("%s, layer %s: %s", row, layer, protocol)
                    results[row][layer][protocol] = {
                        **_run(protocol, data=data, features=features, loader=None, ev=ev,
                               seed=seed, options=options),
                        "layer": layer, "feature_dim": int(features[0].shape[1])}
        map_protocols = [s.name for s in specs if s.feature_maps]
        map_layers = [n for n in layers if n != evaluation.POOLED]
        if map_protocols and map_layers:
            extractor = evaluation.LayerFeatures(frozen, map_layers, maps=True)
            train = evaluation.split_features(extractor, data.train, ev.batch_size)
            test = evaluation.split_features(extractor, data.test, ev.batch_size)
            for layer in map_layers:
                maps = train.pop(layer), test.pop(layer)
                for protocol in map_protocols:
                    logging.info("%s, layer %s: %s", row, layer, protocol)
                    results[row][layer][protocol] = {
                        **_run(protocol, data=data, features=maps, loader=None, ev=ev,
                               seed=seed, options=options),
                        "layer": layer}
    headline = {_ROW_NAMES[row]: {layer: protocol_registry.headline(by_protocol)
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


def _run(protocol, **inputs):
    """The protocol's result; its refusals (`evaluation.ProtocolError`) are the user's errors."""
    try:
        return protocol_registry.get(protocol).run(**inputs)
    except evaluation.ProtocolError as err:
        raise UsageError(str(err)) from err


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
