"""AMDIM on ImageNet, 128x128 inputs (Bachman et al. 2019, arXiv 1906.00910: ndf=320, n_rkhs=2560,
n_depth=10, the authors' AMDIM-Large checkpoint; 68.1% linear). Encoder for 128x128 as the code
(model.py: a 5x5 stride-2 reflection-padded first convolution). Optimiser as the code for ImageNet
(task_self_supervised.py): Adam lr 2e-4, beta_1 0.8, weight decay 1e-5, 50 epochs with steps at 30 and
45 (the code notes its best ImageNet results used longer schedules, e.g. 100 epochs); batch 480 as the
README's 4-GPU command. Views as the code's TransformsImageNet128 (datasets.py): one shared flip, a
random resized crop (scale (0.3, 1), ratio (0.7, 1.4)) per view, ColorJitter hue 0.1 for ImageNet.
lambda = 5e-2 (the code's costs.py; the paper says 4e-2). Here AdamW, 500 warm-up steps, cosine
decay.

    keras-ssl train --config=amdim_imagenet --workdir=runs/amdim_imagenet \
        --config.data.source=folder:/path/to/imagenet
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("amdim", encoder="amdim")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 128
    c.augment.crop = "resized_crop"  # TransformsImageNet128
    c.encoder.ndf = 320
    c.encoder.n_rkhs = 2560
    c.encoder.n_depth = 10
    c.augment.color_jitter = (0.4, 0.4, 0.4, 0.1)
    c.train.batch_size = 480
    c.train.epochs = 50
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 2e-4 * 256 / 480
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.2  # ~500 steps of 2,669 per epoch
    c.train.weight_decay = 1e-5
    return c
