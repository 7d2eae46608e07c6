"""MoCo v2 on CIFAR-10 at the SimCLR quickstart's size and budget (same encoder and optimiser, 8 epochs,
about 8 minutes of pretraining on a 2-core CPU: a MoCo step, one view forward and backward and one
through the key encoder, costs about what a SimCLR step does).

MoCo v2's algorithm and augmentation, scaled as the official MoCo CIFAR-10 demo scales it: a queue of
4,096 keys and key momentum 0.99 (with few steps, 0.999 would leave the key encoder near its
initialisation), batch norm over sub-batches of 32 with the keys shuffled across them (the one-device
form of shuffle BN), no blur at 32x32 (SimCLR appendix B.9).
"""

from keras_ssl.configs.common import cifar10_quickstart


def get_config():
    c = cifar10_quickstart("mocov2")
    c.model.projection_hidden_dims = (128,)
    c.model.projection_dim = 128
    c.model.temperature = 0.2
    c.model.queue_size = 4096
    c.model.momentum = 0.99
    c.model.shuffle_bn = True
    c.model.bn_splits = 8
    c.augment.crop_scale = (0.2, 1.0)
    c.augment.color_strength = 0.5
    c.augment.blur_probability = 0.0
    c.train.batch_size = 256
    c.train.epochs = 8
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.6
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.4
    c.train.weight_decay = 5e-4
    c.train.max_minutes = 12.0
    return c
