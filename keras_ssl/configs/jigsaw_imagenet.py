"""Jigsaw on ImageNet, the paper's setting (Noroozi & Favaro 2016, sections 3.1-3.2 and 4).

Images resized to 256, a random 225x225 region split into a 3x3 grid of 75x75 cells, a 64x64 tile
at a random place in each cell (here: gap 11 and jitter +-5, so tiles are 0-22 pixels apart), each
tile's mean and standard deviation normalised, 30% of the images grey (against chromatic
aberration); the tiles shuffled by one of P permutations of maximal Hamming distance (Algorithm 1).
The paper's table 1 compares sets of 10 to 1000 permutations; its best transfer result is with
1000 of maximal distance (the package default is 100, set here to 1000). The paper's context-free
network is an AlexNet with fc6 of 512 per tile, fc7 4096 and fc8 P; here a ResNet-50 (the package's
encoder) with the same heads. Batch 256, SGD with learning rate 0.01 for 350k iterations (~70
epochs), as the paper trains (its step decay replaced by a cosine schedule).

    keras-ssl train --config=jigsaw_imagenet --workdir=runs/jigsaw_imagenet \
        --config.data.source=folder:/path/to/imagenet
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("jigsaw")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 256  # the grid's 225 pixels lie at a random place: the paper's 225 crop
    c.data.test_split = "validation"
    c.encoder.depth = 50
    c.encoder.stem = "imagenet"
    c.augment.tile_size = 64
    c.augment.gap = 11
    c.augment.jitter = 5
    c.augment.num_permutations = 1000
    c.augment.normalize = True
    c.augment.channel_jitter = 2  # section 3.2
    c.augment.color_mode = "grey"
    c.augment.grey_probability = 0.3
    c.model.tile_dim = 512
    c.model.head_hidden_dims = (4096,)
    c.train.batch_size = 256
    c.train.epochs = 70
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.01
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.0
    c.train.weight_decay = 5e-4
    return c
