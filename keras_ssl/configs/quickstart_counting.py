"""Counting on CIFAR-10, sized for a 2-core CPU (pretraining stops at 10 minutes).

Resolution: CIFAR images are upsampled to 64x64 (data.image_size) as for the other patch-grid
tasks: the 2x2 grid's tiles and the downsampled image D(x) are then 32x32 (the paper: 114x114 from
a 228 crop), and `keras-ssl eval` embeds whole 64x64 images, the scale the tiles were cut from.

    keras-ssl train --config=quickstart_counting --workdir=runs/counting
    keras-ssl eval --workdir=runs/counting
"""

from keras_ssl.configs.common import patch_grid_quickstart


def get_config():
    c = patch_grid_quickstart("counting")
    c.model.num_counts = 1000
    c.model.margin = 10.0
    c.model.head_hidden_dims = (512,)
    c.train.batch_size = 128
    c.train.epochs = 3
    # Adam without weight decay, as the paper's recipe (counting_imagenet), at a rate for
    # a short run: SGD 0.1 with weight decay 5e-4 collapsed phi to a constant in epoch 2 (count loss
    # 0, margin term = M, kNN below random init).
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 1e-3
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.2
    c.train.weight_decay = 0.0
    c.train.max_minutes = 10.0
    return c
