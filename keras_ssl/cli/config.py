"""The config schema shared by all recipes in `configs/`, and its validation.

A recipe starts from `base_config(method)`, which holds every key the CLI reads, sets its values and
returns the locked ConfigDict, so that `--config.a.b=v` overrides of keys that do not exist are refused.
"""

import ml_collections

from keras_ssl.cli.builders import METHODS

_OPTIMIZERS = ("lars", "sgd", "adamw")
_LR_SCALINGS = ("linear", "sqrt")
_PRECISIONS = ("float32", "bfloat16", "float16")


def _maybe(value, field_type):
    return ml_collections.FieldReference(value, field_type=field_type)


def base_config(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}.")
    c = ml_collections.ConfigDict()
    c.method = method
    c.seed = 0
    # Compute dtype of the layers ("bfloat16": TPUs and recent CPUs/GPUs; "float16": GPUs, with loss
    # scaling). Variables, losses, softmax and batch norm stay float32.
    c.mixed_precision = "float32"
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
    elif method == "mocov2":
        # He et al. 2020 / Chen et al. 2020 ("Improved baselines") on ImageNet.
        c.model = ml_collections.ConfigDict(dict(
            projection_hidden_dims=(2048,), projection_dim=128, temperature=0.2, queue_size=65536,
            momentum=0.999, shuffle_bn=True, bn_splits=1))
        c.augment = ml_collections.ConfigDict(dict(
            crop_scale=(0.2, 1.0), crop_ratio=(3.0 / 4.0, 4.0 / 3.0), flip_probability=0.5,
            color_strength=0.5, color_jitter_probability=0.8, grayscale_probability=0.2,
            blur_probability=0.5, solarize_probability=0.0))
    elif method == "byol":
        # Grill et al. 2020, section 3.3 and appendix B; the two views' blur and solarize differ.
        # The target momentum's schedule runs over train.epochs (the CLI passes the total steps).
        c.model = ml_collections.ConfigDict(dict(
            projection_hidden_dims=(4096,), projection_dim=256, prediction_hidden_dims=(4096,),
            base_momentum=0.996, synchronized_bn=False))
        c.augment = ml_collections.ConfigDict(dict(
            crop_scale=(0.08, 1.0), crop_ratio=(3.0 / 4.0, 4.0 / 3.0), flip_probability=0.5,
            color_jitter=(0.4, 0.4, 0.2, 0.1), color_jitter_probability=0.8,
            grayscale_probability=0.2, blur_probabilities=(1.0, 0.1),
            solarize_probabilities=(0.0, 0.2)))
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
        checkpoint_every_steps=_maybe(500, int),  # and after every epoch; None: epoch ends only
        deterministic=False,  # tf.config.experimental.enable_op_determinism (slower)
    ))
    c.eval = ml_collections.ConfigDict(dict(
        batch_size=512, knn_k=200, knn_temperature=0.1, linear_epochs=50,
        # A stop-gradient linear head trained on labelled train batches during pretraining,
        # logged per epoch as online_probe_top1 (never sees the test split).
        online_probe=False))
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
    if t.checkpoint_every_steps is not None:
        _positive_int("train.checkpoint_every_steps", t.checkpoint_every_steps)
    _check(isinstance(t.deterministic, bool), "train.deterministic", t.deterministic,
           "True or False")
    _check(config.get("mixed_precision") in _PRECISIONS, "mixed_precision",
           config.get("mixed_precision"), f"one of {_PRECISIONS}")
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
        # Global BN is all or nothing: with it in the encoder only (or the head only), a
        # multi-replica run normalises part of the network per replica, which is rarely meant.
        _check(config.model.synchronized_bn == e.synchronized_bn, "model.synchronized_bn",
               config.model.synchronized_bn,
               f"the same as encoder.synchronized_bn ({e.synchronized_bn}): set both to True for "
               "global batch norm across replicas, or both to False")
    if config.method in ("mocov2", "byol"):
        _validate_momentum_method(config)
    return config


def _validate_momentum_method(config):
    m, a, t = config.model, config.augment, config.train
    _positive_int("model.projection_dim", m.projection_dim)
    lo, hi = a.crop_scale
    _check(0 < lo <= hi <= 1, "augment.crop_scale", (lo, hi), "0 < min <= max <= 1")
    if config.method == "mocov2":
        _positive("model.temperature", m.temperature)
        _check(0 <= m.momentum <= 1, "model.momentum", m.momentum, "a number in [0, 1]")
        _positive_int("model.queue_size", m.queue_size)
        _check(m.queue_size >= t.batch_size, "model.queue_size", m.queue_size,
               f"at least train.batch_size ({t.batch_size}): every step enqueues the keys of the "
               "whole global batch")
        _positive_int("model.bn_splits", m.bn_splits)
        _check(t.batch_size % m.bn_splits == 0, "model.bn_splits", m.bn_splits,
               f"a divisor of the per-replica batch (train.batch_size={t.batch_size})")
        _check(isinstance(m.shuffle_bn, bool), "model.shuffle_bn", m.shuffle_bn, "True or False")
        _check(not (m.shuffle_bn and config.encoder.synchronized_bn), "model.shuffle_bn",
               m.shuffle_bn, "False with encoder.synchronized_bn=True: shuffle BN and synchronized "
               "BN are alternatives (global statistics leave nothing to shuffle)")
        _check(a.color_strength >= 0, "augment.color_strength", a.color_strength, "a number >= 0")
    else:
        _check(0 <= m.base_momentum <= 1, "model.base_momentum", m.base_momentum,
               "a number in [0, 1]")
        _check(m.synchronized_bn == config.encoder.synchronized_bn, "model.synchronized_bn",
               m.synchronized_bn, f"the same as encoder.synchronized_bn "
               f"({config.encoder.synchronized_bn})")
        _check(len(a.color_jitter) == 4 and min(a.color_jitter) >= 0, "augment.color_jitter",
               a.color_jitter, "4 numbers >= 0: (brightness, contrast, saturation, hue)")
        for key in ("blur_probabilities", "solarize_probabilities"):
            values = a[key]
            _check(len(values) == 2 and all(isinstance(v, (int, float)) and 0 <= v <= 1
                                            for v in values),
                   f"augment.{key}", values, "two numbers in [0, 1], one per view")
