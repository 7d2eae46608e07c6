"""Turn a validated config into the library's objects; methods come from their registry."""

import keras

from keras_ssl import data, encoders, optim
from keras_ssl.methods import registry


def load_split(config, split, max_examples=None):
    """(images uint8, labels, class names) of one split of the config's data source."""
    d = config.data
    return data.load_arrays(d.source, split, image_size=d.image_size, max_examples=max_examples,
                            data_dir=d.tfds_data_dir, download=d.tfds_download)


def build_encoder(config):
    e = config.encoder
    size = config.data.image_size
    return encoders.ResNet(depth=e.depth, stem=e.stem, stem_stride=e.stem_stride,
                           width_multiplier=e.width_multiplier,
                           synchronized_bn=e.synchronized_bn, input_shape=(size, size, 3),
                           name="encoder")


def build_transform(config):
    """The augmentation that turns a uint8 batch into what the method's train step expects."""
    return registry.get(config.method).views(config)


def build_method(config, encoder, steps_per_epoch=None):
    """The config's method on `encoder`; some methods need the run's steps per epoch (BYOL)."""
    return registry.get(config.method).build(config, encoder, steps_per_epoch)


def build_optimizer(config, steps_per_epoch):
    t = config.train
    total_steps = max(1, t.epochs * steps_per_epoch)
    peak = optim.scale_learning_rate(t.base_learning_rate, t.batch_size, t.learning_rate_scaling)
    schedule = optim.WarmupCosineDecay(peak, total_steps, int(t.warmup_epochs * steps_per_epoch))
    if t.optimizer == "lars":
        return optim.LARS(schedule, momentum=t.momentum, weight_decay=t.weight_decay)
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=t.momentum, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=t.weight_decay)
    raise ValueError(f"unknown optimizer {t.optimizer!r}")
