"""Counting on ImageNet, the paper's setting (Noroozi, Pirsiavash & Favaro 2017, sections 3 and 4):
a 228x228 image split into a 2x2 grid of 114x114 tiles T_j, the whole image downsampled D to
114x114 with a filter drawn at random (bicubic, bilinear, Lanczos, area), k = 1000 ReLU counts,
margin M = 10 for the contrastive term with another image of the batch. The paper's phi is an
AlexNet with its fully connected layers (fc6, fc7 4096) and a 1000-way ReLU output; here a
ResNet-50 with a 4096-4096 MLP before the counts.

The optimiser (Adam, learning rate 1e-4, batch 256) is this recipe's reading of the paper, not
verified here; k, M and the sizes are the paper's.

    keras-ssl train --config=counting_imagenet --workdir=runs/counting_imagenet \
        --config.data.source=folder:/path/to/imagenet
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("counting")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 228
    c.data.test_split = "validation"
    c.encoder.depth = 50
    c.encoder.stem = "imagenet"
    c.model.num_counts = 1000
    c.model.margin = 10.0
    c.model.head_hidden_dims = (4096, 4096)
    c.augment.random_filter = True
    c.train.batch_size = 256
    c.train.epochs = 100
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 1e-4
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 1.0
    c.train.weight_decay = 0.0
    return c
