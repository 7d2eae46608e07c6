"""Turn a validated config into the library's objects: the one place that maps names to methods."""

import keras

from keras_ssl import augment, data, encoders, methods, optim

# For each method: its class, the config sections it reads, and how its views are made.
METHODS = {
    "simclr": methods.SimCLR,
    "rotnet": methods.RotNet,
    "mocov2": methods.MoCoV2,
    "byol": methods.BYOL,
}


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
    a = config.augment
    size = config.data.image_size
    if config.method in ("simclr", "mocov2"):
        view = augment.SimCLRTransform(
            size, crop_scale=tuple(a.crop_scale), crop_ratio=tuple(a.crop_ratio),
            flip_probability=a.flip_probability, color_strength=a.color_strength,
            color_jitter_probability=a.color_jitter_probability,
            grayscale_probability=a.grayscale_probability, blur_probability=a.blur_probability,
            solarize_probability=a.solarize_probability)
        return augment.MultiViewTransform([view, view])
    if config.method == "byol":
        # BYOL's asymmetric pair (Grill et al. 2020, appendix B, table 6).
        return augment.MultiViewTransform([
            augment.SimCLRTransform(
                size, crop_scale=tuple(a.crop_scale), crop_ratio=tuple(a.crop_ratio),
                flip_probability=a.flip_probability, color_jitter=tuple(a.color_jitter),
                color_jitter_probability=a.color_jitter_probability,
                grayscale_probability=a.grayscale_probability, blur_probability=blur,
                solarize_probability=solarize)
            for blur, solarize in zip(a.blur_probabilities, a.solarize_probabilities)])
    if config.method == "rotnet":
        return augment.RotationTransform(
            augment.PaddedCropFlipTransform(a.padding, a.flip_probability))
    raise ValueError(f"unknown method {config.method!r}")


def build_method(config, encoder, steps_per_epoch=None):
    """The config's method on `encoder`; BYOL's momentum schedule needs the run's steps per epoch."""
    kwargs = config.model.to_dict()
    for key, value in kwargs.items():
        if isinstance(value, list):
            kwargs[key] = tuple(value)
    if config.method == "byol":
        if steps_per_epoch is None:
            raise ValueError("byol's target momentum follows a cosine schedule over the whole run: "
                             "pass steps_per_epoch to build_method.")
        kwargs["total_steps"] = config.train.epochs * steps_per_epoch
    return METHODS[config.method](encoder, **kwargs)


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
