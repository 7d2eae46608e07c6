"""Turn a validated config into the library's objects; methods and encoders come from their
registries."""

import keras

from keras_ssl import data, encoders, optim
from keras_ssl.methods import registry


def load_split(config, split, max_examples=None):
    """(images uint8, labels, class names) of one split of the config's data source."""
    d = config.data
    return data.load_arrays(d.source, split, image_size=d.image_size, max_examples=max_examples,
                            data_dir=d.tfds_data_dir, download=d.tfds_download)


def train_stream(config):
    """The train split of a streamed source (lists its files; reads no image)."""
    d = config.data
    return data.encoded_source(d.source, d.train_split, d.tfds_data_dir, d.labeled, d.image_key,
                               d.label_key, d.tfds_download)


def choose_pipeline(config):
    """"memory" or "streaming" for the train split (`keras_ssl.data.choose_pipeline`)."""
    d = config.data
    return data.choose_pipeline(d.source, d.pipeline, stream=lambda: train_stream(config),
                                image_size=d.image_size, memory_limit_mb=d.memory_limit_mb,
                                service=d.service, training=True)


def streaming_dataset(config, transform, bad_images, **position):
    """The streaming pretraining dataset of the config's train split from `position` on
    (`epochs`, `initial_epoch`, `initial_step`, `input_context`)."""
    d = config.data
    return data.streaming_pretraining_dataset(
        d.source, config.train.batch_size, transform, split=d.train_split, seed=config.seed,
        image_size=d.image_size, data_dir=d.tfds_data_dir, on_bad_image=d.on_bad_image,
        max_bad_fraction=d.max_bad_fraction, bad_images=bad_images, labeled=d.labeled,
        image_key=d.image_key, label_key=d.label_key, service=d.service,
        augment_on=d.augment_on, **position)


def build_encoder(config):
    """The encoder of `config.encoder.kind` (`keras_ssl.encoders.registry`) at random init."""
    e, size = config.encoder, config.data.image_size
    return encoders.registry.get(e.kind).build(e, (size, size, 3), e.synchronized_bn,
                                               name="encoder")


def build_whole_image_encoder(config):
    """The config's encoder as its method embeds whole images (`model.encoder`), at random init:
    the architecture `keras-ssl eval` compares a trained encoder with."""
    return registry.get(config.method).whole_image_encoder(config, build_encoder(config))


def build_transform(config):
    """The augmentation that turns a uint8 batch into what the method's train step expects."""
    return registry.get(config.method).views(config)


def build_method(config, encoder, steps_per_epoch=None):
    """The config's method on `encoder`; some methods need the run's steps per epoch (BYOL)."""
    return registry.get(config.method).build(config, encoder, steps_per_epoch)


def set_device_augmentation(config, model, transform):
    """With `data.augment_on="device"`, `model`'s train step runs `transform`'s augmentation on
    each replica's batch (the pipelines then yield its inputs); else the pipeline does."""
    on_device = config.data.augment_on == "device"
    model.device_augmentation = data.DeviceAugmentation(transform) if on_device else None


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
