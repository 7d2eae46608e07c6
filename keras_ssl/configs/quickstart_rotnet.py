"""RotNet on CIFAR-10 at the SimCLR quickstart's size and budget (same encoder, about 7 minutes on a
2-core CPU): each step sees 128 images in all four rotations."""

from keras_ssl.configs.common import cifar10_quickstart


def get_config():
    c = cifar10_quickstart("rotnet")
    c.train.batch_size = 128
    c.train.epochs = 4
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.2  # x 128 / 256 = 0.1, the paper's rate
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.2
    c.train.weight_decay = 5e-4
    c.train.max_minutes = 12.0
    return c
