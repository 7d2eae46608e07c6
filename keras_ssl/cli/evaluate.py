"""`keras-ssl eval`: kNN and linear probe of a trained encoder, beside the same architecture at random init."""

import json

import keras
from absl import logging

from keras_ssl import evaluation
from keras_ssl.cli import builders
from keras_ssl.cli.workdir import Workdir


def evaluate(workdir):
    wd = Workdir(workdir)
    config = wd.load_config()
    encoder = keras.models.load_model(wd.require_encoder())
    train_x, train_y, class_names = builders.load_split(config, config.data.train_split)
    test_x, test_y, _ = builders.load_split(config, config.data.test_split)
    num_classes = len(class_names)
    e = config.eval

    def knn(train_f, test_f):
        return evaluation.knn_accuracy(train_f, train_y, test_f, test_y, num_classes,
                                       k=e.knn_k, temperature=e.knn_temperature)

    train_f = evaluation.extract_features(encoder, train_x, e.batch_size)
    test_f = evaluation.extract_features(encoder, test_x, e.batch_size)
    knn_top1 = knn(train_f, test_f)
    logging.info("kNN top-1 %.4f", knn_top1)
    probe = evaluation.linear_probe(train_f, train_y, test_f, test_y, num_classes,
                                    epochs=e.linear_epochs, seed=config.seed)
    logging.info("linear probe top-1 %.4f", probe["top1"])

    # The same architecture with fresh weights: what training added over a random projection.
    keras.utils.set_random_seed(config.seed)
    random_encoder = builders.build_encoder(config)
    random_knn = knn(evaluation.extract_features(random_encoder, train_x, e.batch_size),
                     evaluation.extract_features(random_encoder, test_x, e.batch_size))
    logging.info("random-init kNN top-1 %.4f", random_knn)

    metrics = {
        "knn_top1": knn_top1,
        "linear_top1": probe["top1"],
        "linear_top5": probe["top5"],
        "random_init_knn_top1": random_knn,
        "knn": {"k": e.knn_k, "temperature": e.knn_temperature, "metric": "cosine",
                "weighting": "exp(sim / temperature)"},
        "linear_probe": probe,
        "dataset": {"source": config.data.source, "train_split": config.data.train_split,
                    "test_split": config.data.test_split, "num_train": int(len(train_x)),
                    "num_test": int(len(test_x)), "classes": list(class_names)},
        "encoder": {"path": wd.encoder_path, **config.encoder.to_dict()},
    }
    with open(wd.metrics_path, "w") as f:
        json.dump(metrics, f, indent=2)
    return metrics
