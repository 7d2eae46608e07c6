"""The config schema shared by all recipes in `configs/`, and its validation.

A recipe starts from `base_config(method)`, which holds every key the CLI reads, sets its values and
returns the locked ConfigDict, so that `--config.a.b=v` overrides of keys that do not exist are refused.
"""

import ml_collections

from keras_ssl.cli.builders import METHODS

_OPTIMIZERS = ("lars", "sgd", "adamw")
_LR_SCALINGS = ("linear", "sqrt")


def _maybe(value, field_type):
    return ml_collections.FieldReference(value, field_type=field_type)


def base_config(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}.")
    c = ml_collections.ConfigDict()
    c.method = method
    c.seed = 0
    c.data = ml_collections.ConfigDict(dict(
        # tfds:NAME, folder:/path (train/<class>/*, test/<class>/*).
        source="tfds:cifar10",
        image_size=32,
        train_split="train",
        test_split="test",
        max_train_examples=_maybe(None, int),
        tfds_data_dir=_maybe(None, str),
        tfds_download=False,  # let TFDS download a dataset that is not prepared
    ))
    c.encoder = ml_collections.ConfigDict(dict(
        depth=18, stem="cifar", stem_stride=_maybe(None, int), width_multiplier=1.0,
        synchronized_bn=False))
    if method == "simclr":
        c.model = ml_collections.ConfigDict(dict(
            projection_hidden_dims=(512,), projection_dim=128, temperature=0.5,
            synchronized_bn=False))
        c.augment = ml_collections.ConfigDict(dict(
            crop_scale=(0.08, 1.0), crop_ratio=(3.0 / 4.0, 4.0 / 3.0), flip_probability=0.5,
            color_strength=1.0, color_jitter_probability=0.8, grayscale_probability=0.2,
            blur_probability=0.5, solarize_probability=0.0))
    elif method == "rotnet":
        c.model = ml_collections.ConfigDict(dict(head_hidden_dims=()))
        c.augment = ml_collections.ConfigDict(dict(padding=4, flip_probability=0.5))
    c.train = ml_collections.ConfigDict(dict(
        batch_size=256,  # global batch
        epochs=100,
        optimizer="lars",
        base_learning_rate=0.3,
        learning_rate_scaling="linear",  # peak lr = base * batch / 256 ("sqrt": base * sqrt(batch))
        warmup_epochs=10.0,
        momentum=0.9,
        weight_decay=1e-6,
        max_minutes=_maybe(None, float),  # stop early (after a batch) once this much time has passed
    ))
    c.eval = ml_collections.ConfigDict(dict(
        batch_size=512, knn_k=200, knn_temperature=0.1, linear_epochs=50))
    return c


def _check(condition, key, value, expected):
    if not condition:
        raise ValueError(f"config key {key}={value!r} is invalid: expected {expected}.")


def _positive_int(key, value):
    _check(isinstance(value, int) and not isinstance(value, bool) and value > 0, key, value,
           "a positive integer")


def _positive(key, value):
    _check(isinstance(value, (int, float)) and value > 0, key, value, "a positive number")


def _probability(key, value):
    _check(isinstance(value, (int, float)) and 0 <= value <= 1, key, value, "a number in [0, 1]")


def validate_config(config):
    """Refuse missing sections and bad values with a message that names the key."""
    _check(config.get("method") in METHODS, "method", config.get("method"),
           f"one of {sorted(METHODS)}")
    missing = [k for k in ("data", "encoder", "model", "augment", "train", "eval") if k not in config]
    if missing:
        raise ValueError(f"config lacks sections {missing}: start recipes from "
                         "keras_ssl.cli.config.base_config(method).")
    d, e, t, ev = config.data, config.encoder, config.train, config.eval
    _check(isinstance(d.source, str) and d.source, "data.source", d.source,
           "'tfds:NAME' or 'folder:/path'")
    _positive_int("data.image_size", d.image_size)
    if d.max_train_examples is not None:
        _positive_int("data.max_train_examples", d.max_train_examples)
    _check(e.depth in (18, 34, 50), "encoder.depth", e.depth, "18, 34 or 50")
    _check(e.stem in ("cifar", "imagenet"), "encoder.stem", e.stem, "'cifar' or 'imagenet'")
    _check(e.stem_stride in (None, 1, 2), "encoder.stem_stride", e.stem_stride,
           "1, 2 or None (the stem's default)")
    _positive("encoder.width_multiplier", e.width_multiplier)
    _positive_int("train.batch_size", t.batch_size)
    _positive_int("train.epochs", t.epochs)
    _check(t.optimizer in _OPTIMIZERS, "train.optimizer", t.optimizer, f"one of {_OPTIMIZERS}")
    _check(t.learning_rate_scaling in _LR_SCALINGS, "train.learning_rate_scaling",
           t.learning_rate_scaling, f"one of {_LR_SCALINGS}")
    _positive("train.base_learning_rate", t.base_learning_rate)
    _check(0 <= t.warmup_epochs < t.epochs, "train.warmup_epochs", t.warmup_epochs,
           f"0 <= warmup_epochs < train.epochs ({t.epochs})")
    _check(0 <= t.momentum < 1, "train.momentum", t.momentum, "a number in [0, 1)")
    _check(t.weight_decay >= 0, "train.weight_decay", t.weight_decay, "a number >= 0")
    if t.max_minutes is not None:
        _positive("train.max_minutes", t.max_minutes)
    _positive_int("eval.batch_size", ev.batch_size)
    _positive_int("eval.knn_k", ev.knn_k)
    _positive("eval.knn_temperature", ev.knn_temperature)
    _positive_int("eval.linear_epochs", ev.linear_epochs)
    for key, value in config.augment.items():
        if key.endswith("probability"):
            _probability(f"augment.{key}", value)
    if config.method == "simclr":
        _positive("model.temperature", config.model.temperature)
        _positive_int("model.projection_dim", config.model.projection_dim)
        _check(config.augment.color_strength >= 0, "augment.color_strength",
               config.augment.color_strength, "a number >= 0")
        lo, hi = config.augment.crop_scale
        _check(0 < lo <= hi <= 1, "augment.crop_scale", (lo, hi), "0 < min <= max <= 1")
    return config
