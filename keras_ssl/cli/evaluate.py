"""`keras-ssl eval`: an encoder under the papers' protocols -> metrics JSON, report.md and figures.

The encoder is a run's `encoder.keras` (`--workdir`) or an exported SavedModel (`--encoder`); the
data is the run's source or another one (`--data`, transfer). Every protocol can also be run on the
same architecture at random initialisation (`--random_init`), the baseline a representation has to
beat.
"""

import dataclasses
import functools
import hashlib
import json
import os
import re

import keras
import tensorflow as tf
from absl import logging

from keras_ssl import evaluation
from keras_ssl.cli import builders
from keras_ssl.cli.config import eval_config
from keras_ssl.cli.workdir import Workdir
from keras_ssl.data import load_arrays
from keras_ssl.data.sources import split_file_names
from keras_ssl.evaluation import report

PROTOCOLS = ("knn", "linear", "mlp", "finetune", "semi", "retrieval", "cluster")
DEFAULT_PROTOCOLS = ("knn", "linear")
# Protocols that read frozen features (extracted once per encoder and shared).
_FEATURE_PROTOCOLS = ("knn", "linear", "mlp", "retrieval", "cluster")
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


def parse_protocols(text, what="--protocol"):
    """'knn,linear' -> ('knn', 'linear'); 'all' -> every protocol; 'none' or '' -> ()."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if names == ["all"]:
        return PROTOCOLS
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown:
        raise ValueError(f"{what}={text!r} names unknown protocols {unknown}; choose from "
                         f"{', '.join(PROTOCOLS)}, or 'all'.")
    return tuple(dict.fromkeys(names))


class _Data:
    """The train / test arrays every protocol of one evaluation reads."""

    def __init__(self, source, splits, image_size, options, config):
        tfds = dict(data_dir=config.data.tfds_data_dir, download=config.data.tfds_download) \
            if config is not None else {}
        self.source, self.splits = source, splits
        self.train_x, self.train_y, self.class_names = load_arrays(
            source, splits[0], image_size, options.max_train_examples, **tfds)
        self.test_x, self.test_y, _ = load_arrays(source, splits[1], image_size,
                                                  options.max_test_examples, **tfds)
        self.num_classes = len(self.class_names)
        self.identity = {
            "source": source if isinstance(source, str) else "arrays",
            "train_split": splits[0], "test_split": splits[1],
            "num_train": int(len(self.train_x)), "num_test": int(len(self.test_x)),
            "max_train_examples": options.max_train_examples,
            "max_test_examples": options.max_test_examples,
            "image_size": list(image_size), "classes": list(self.class_names),
        }


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
        raise ValueError("keras-ssl eval needs --workdir (a training run) or --encoder (a "
                         "SavedModel directory from `keras-ssl export`).")
    wd = Workdir(workdir) if workdir else None
    config = wd.load_config() if wd else None
    ev = config.eval if config else eval_config()
    seed = config.seed if config else 0
    # A fresh copy for each fine-tuning run, which changes the weights it is given.
    if options.encoder:
        load_encoder = functools.partial(evaluation.SavedModelEncoder, options.encoder)
    else:
        load_encoder = functools.partial(keras.models.load_model, wd.require_encoder())
    encoder = load_encoder()
    image_size = evaluation.encoder_image_size(encoder)
    if image_size is None:
        image_size = (config.data.image_size,) * 2

    if options.data is None and config is None:
        raise ValueError("--encoder without --workdir needs --data, the data source to evaluate "
                         "on (e.g. --data=folder:/data/cifar10 or --data=fashion_mnist:).")
    source = options.data or config.data.source
    splits = ("train", "test") if options.data else (config.data.train_split,
                                                     config.data.test_split)
    output_dir = options.output_dir
    if output_dir is None:
        if wd is None:
            raise ValueError("--encoder without --workdir needs --output_dir for the metrics.")
        output_dir = (wd.path if options.data is None else
                      os.path.join(wd.path, "eval_" + re.sub(r"[^A-Za-z0-9_.-]+", "_",
                                                             options.data).strip("_")))
    os.makedirs(output_dir, exist_ok=True)

    random_init = options.random_init
    if random_init is None:
        random_init = ("knn",) if config is not None and "knn" in options.protocols else ()
    if random_init and config is None:
        raise ValueError("--random_init needs --workdir: the architecture to initialise at random "
                         "comes from the run's config.")
    if "semi" in options.protocols and options.subset_file and options.max_train_examples:
        raise ValueError("--subset_file indexes the whole train split; drop --max_train_examples.")

    data = _Data(source, splits, image_size, options, config)
    logging.info("evaluating on %s (%d train / %d test images, %d classes)", source,
                 len(data.train_x), len(data.test_x), data.num_classes)

    def random_encoder():
        keras.utils.set_random_seed(seed)
        return builders.build_encoder(config)

    rows = {"encoder": (load_encoder, options.protocols)}
    if random_init:
        rows["random_init"] = (random_encoder, [p for p in PROTOCOLS if p in random_init])
    results, figures = {}, {}
    for row, (loader, protocols) in rows.items():
        results[row] = {}
        features = None
        if any(p in _FEATURE_PROTOCOLS for p in protocols):
            frozen = encoder if row == "encoder" else loader()
            features = (evaluation.extract_features(frozen, data.train_x, ev.batch_size, True),
                        evaluation.extract_features(frozen, data.test_x, ev.batch_size, True))
        for protocol in protocols:
            logging.info("%s: %s", row, protocol)
            results[row][protocol] = _RUNNERS[protocol](
                data=data, features=features, loader=loader, ev=ev, seed=seed, options=options)
            logging.info("%s %s: %s", row, protocol, _headline(protocol, results[row][protocol]))
        if row == "encoder" and features is not None:
            figures = _figures(output_dir, data, features)
    history = wd.history_path if wd else None
    figures["Pretraining curves"] = report.plot_history(
        os.path.join(output_dir, "pretraining_curves.png"), history) if history else None

    encoder_identity = _encoder_identity(options.encoder or wd.encoder_path, encoder, config)
    pretrained_on = config.data.source if config else None
    common = {"dataset": data.identity, "encoder": encoder_identity,
              "pretrained_on": pretrained_on,
              "transfer": None if pretrained_on is None else source != pretrained_on}
    protocols = [p for p in PROTOCOLS if any(p in r for r in results.values())]
    for protocol in protocols:
        with open(os.path.join(output_dir, f"metrics_{protocol}.json"), "w") as f:
            json.dump({"protocol": protocol, **common,
                       "results": {row: r[protocol] for row, r in results.items()
                                   if protocol in r}}, f, indent=2)
    headline = {_ROW_NAMES[row]: {k: v for p, r in rows_results.items()
                                  for k, v in _headline(p, r).items()}
                for row, rows_results in results.items()}
    report_path = report.write_report(
        os.path.join(output_dir, "report.md"),
        f"Evaluation of {encoder_identity['path']}", headline,
        description=_description(data.identity, common),
        settings={p: _settings(r) for p, r in results["encoder"].items()}, figures=figures)

    metrics = _legacy_keys(results)
    metrics.update(common, protocols={p: {row: r[p] for row, r in results.items() if p in r}
                                      for p in protocols},
                   headline=headline, report=report_path, output_dir=output_dir)
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    return metrics


_ROW_NAMES = {"encoder": "trained encoder", "random_init": "random init (same architecture)"}


def _knn(data, features, ev, **_):
    train_f, test_f = features
    kwargs = dict(k=min(ev.knn_k, len(train_f)), temperature=ev.knn_temperature)
    return {
        "protocol": "knn",
        "top1": evaluation.knn_accuracy(train_f, data.train_y, test_f, data.test_y,
                                        data.num_classes, weighting="exp", **kwargs),
        "majority_top1": evaluation.knn_accuracy(train_f, data.train_y, test_f, data.test_y,
                                                 data.num_classes, weighting="uniform", **kwargs),
        **kwargs, "metric": "cosine", "weighting": "exp(sim / temperature)",
        "majority_weighting": "uniform", "memory": "train split features",
        "num_train": int(len(train_f)), "num_test": int(len(test_f)),
    }


def _linear(data, features, ev, seed, **_):
    return evaluation.linear_probe(features[0], data.train_y, features[1], data.test_y,
                                   data.num_classes, epochs=ev.linear_epochs, seed=seed,
                                   verbose=True)


def _mlp(data, features, ev, seed, **_):
    return evaluation.mlp_probe(features[0], data.train_y, features[1], data.test_y,
                                data.num_classes, epochs=ev.linear_epochs, seed=seed, verbose=True)


def _retrieval(data, features, **_):
    ks = [k for k in RETRIEVAL_KS if k <= len(features[0])]
    return evaluation.retrieval_metrics(features[0], data.train_y, features[1], data.test_y,
                                        ks=ks)


def _cluster(data, features, seed, **_):
    return evaluation.kmeans_clustering(features[0], features[1], data.test_y, data.num_classes,
                                        seed=seed)


def _finetune(data, loader, seed, options, subset=None, epochs=None):
    return evaluation.finetune(
        loader(), data.train_x, data.train_y, data.test_x, data.test_y, data.num_classes,
        subset=subset, epochs=epochs or options.finetune_epochs,
        batch_size=options.finetune_batch_size, learning_rate=options.finetune_learning_rate,
        seed=seed, verbose=True)


def _semi(data, loader, seed, options, **_):
    if options.subset_file:
        subset = evaluation.read_subset_file(options.subset_file, len(data.train_x),
                                             split_file_names(data.source, data.splits[0]))
        subsets = {os.path.basename(options.subset_file): (subset, options.semi_epochs or 30,
                                                           options.subset_file)}
    else:
        subsets = {f"{fraction:.0%}": (evaluation.balanced_subset(data.train_y, fraction, seed),
                                       options.semi_epochs or (60 if fraction <= 0.01 else 30),
                                       f"class-balanced {fraction:g} of the train split, seed "
                                       f"{seed}") for fraction in options.semi_fractions}
    results = {}
    for name, (subset, epochs, origin) in subsets.items():
        logging.info("semi-supervised fine-tuning on %s: %d labelled train images", name,
                     len(subset))
        results[name] = {**_finetune(data, loader, seed, options, subset, epochs),
                         "subset": origin, "subset_split": data.splits[0]}
    return {"protocol": "semi", "subsets": results}


_RUNNERS = {"knn": _knn, "linear": _linear, "mlp": _mlp, "retrieval": _retrieval,
            "cluster": _cluster, "semi": _semi,
            "finetune": lambda data, loader, seed, options, **_: _finetune(data, loader, seed,
                                                                           options)}


def _headline(protocol, result):
    """The numbers of a protocol that go in the results table."""
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
    # The first test image of each class (up to 8) as queries.
    queries = [int((data.test_y == c).nonzero()[0][0]) for c in range(data.num_classes)
               if (data.test_y == c).any()][:8]
    _, neighbours = evaluation.nearest_neighbours(test_f[queries], train_f,
                                                  min(8, len(train_f)))
    return {
        "Retrieval: test queries and their nearest train images": report.plot_retrieval_grid(
            os.path.join(output_dir, "retrieval_grid.png"), data.test_x[queries], data.train_x,
            neighbours, data.test_y[queries], data.train_y, data.class_names),
        "Test features (PCA), coloured by label": report.plot_embedding(
            os.path.join(output_dir, "embedding_pca.png"), test_f, data.test_y,
            data.class_names),
    }


def _encoder_identity(path, encoder, config):
    identity = {"path": os.path.abspath(path)}
    if isinstance(encoder, evaluation.SavedModelEncoder):
        identity.update(format="saved_model", fingerprint=str(
            tf.saved_model.experimental.read_fingerprint(path).saved_model_checksum))
    else:
        with open(path, "rb") as f:
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
