"""AMDIM on STL-10 (Bachman et al. 2019, arXiv 1906.00910: ndf=192, n_rkhs=1536, n_depth=8; 94.2%
linear / 94.5% MLP). 64x64 inputs (the code's encoder_size for STL-10, datasets.py
get_encoder_size) and its TransformsSTL10 views: one flip shared by both views, then per view a
random resized crop to 64 with scale (0.3, 1), ratio (0.7, 1.4), colour jitter (p 0.8), grey
(p 0.25). lambda = 5e-2 (the code's costs.py; the paper says 4e-2). Optimiser as the
code for STL-10: Adam lr 2e-4, beta_1 0.8, weight decay 1e-5, batch 200, 300 epochs (steps at 250 and
280); here AdamW with 500 warm-up steps and cosine decay (see amdim_cifar10).

    keras-ssl train --config=amdim_stl10 --workdir=runs/amdim_stl10 \
        --config.data.source=tfds:stl10 --config.data.train_split=unlabelled
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("amdim", encoder="amdim")
    c.data.source = "tfds:stl10"
    c.data.image_size = 64
    c.augment.crop = "resized_crop"  # TransformsSTL10
    c.encoder.ndf = 192
    c.encoder.n_rkhs = 1536
    c.encoder.n_depth = 8
    c.train.batch_size = 200
    c.train.epochs = 300
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 2e-4 * 256 / 200
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 1.0  # ~500 steps of 100,000 / 200 per epoch
    c.train.weight_decay = 1e-5
    return c
