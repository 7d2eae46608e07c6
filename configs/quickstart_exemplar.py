"""Exemplar-CNN on CIFAR-10 at the SimCLR quickstart's encoder size (1/4-width ResNet-18,
stride-2 CIFAR stem) for a 2-core CPU: every one of the 50,000 training images is a surrogate
class (N = 50,000), two fresh transformations of each per batch (Dosovitskiy et al.)."""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("exemplar")
    c.data.source = "folder:.cache/data/cifar10"
    c.encoder.depth = 18
    c.encoder.stem = "cifar"
    c.encoder.stem_stride = 2
    c.encoder.width_multiplier = 0.25
    c.augment.num_views = 2
    c.train.batch_size = 128
    c.train.epochs = 6
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.2
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.2
    c.train.weight_decay = 5e-4
    c.train.max_minutes = 12.0
    return c
