"""RotNet on CIFAR-10 (Gidaris et al. 2018, section 3.1 CIFAR experiments): all four rotations of every
image in each batch, standard CIFAR augmentation (4-pixel padded crop, flip), SGD with Nesterov-free
momentum 0.9, weight decay 5e-4, batch 128, learning rate 0.1. The paper's encoder is a NIN; here the
package's ResNet-18 (CIFAR stem), and a cosine schedule instead of step decay.

    keras-ssl train --config=rotnet_cifar10 --workdir=runs/rotnet \
        --config.data.source=folder:/path/to/cifar10
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("rotnet")
    c.encoder.depth = 18
    c.encoder.stem = "cifar"
    c.train.batch_size = 128
    c.train.epochs = 100
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.2  # x 128 / 256 = the paper's 0.1
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 1.0
    c.train.weight_decay = 5e-4
    return c
