"""Jigsaw on CIFAR-10, sized for a 2-core CPU (pretraining stops at 8 minutes).

Resolution: CIFAR images are upsampled to 64x64 so that a 3x3 grid holds tiles of 18 pixels with a
gap (`keras_ssl.configs.common.patch_grid_quickstart` says why 64).

    keras-ssl train --config=quickstart_jigsaw --workdir=runs/jigsaw
    keras-ssl eval --workdir=runs/jigsaw
"""

from keras_ssl.configs.common import grid_tiles, patch_grid_quickstart


def get_config():
    c = patch_grid_quickstart("jigsaw")
    grid_tiles(c)
    c.augment.num_permutations = 100
    c.model.head_hidden_dims = (512,)
    c.train.batch_size = 128
    c.train.epochs = 2
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.2
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.2
    c.train.weight_decay = 5e-4
    c.train.max_minutes = 8.0
    return c
