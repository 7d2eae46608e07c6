"""SimCLR on CIFAR-10, the paper's recipe (Chen et al. 2020, appendix B.9, and the CIFAR-10 command of
the official code's README): ResNet-18 with the CIFAR stem, batch 512, 1000 epochs, LARS with learning
rate 1.0 x batch / 256 and 10 warm-up epochs, weight decay 1e-6, temperature 0.5, colour strength 0.5,
no blur.

    keras-ssl train --config=simclr_cifar10 --workdir=runs/simclr \
        --config.data.source=folder:/path/to/cifar10
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("simclr")
    c.encoder.depth = 18
    c.encoder.stem = "cifar"
    c.model.projection_hidden_dims = (512,)
    c.model.projection_dim = 128
    c.model.temperature = 0.5
    c.augment.color_strength = 0.5
    c.augment.blur_probability = 0.0
    c.train.batch_size = 512
    c.train.epochs = 1000
    c.train.optimizer = "lars"
    c.train.base_learning_rate = 1.0
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 10.0
    c.train.weight_decay = 1e-6
    return c
