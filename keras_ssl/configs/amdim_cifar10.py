"""AMDIM on CIFAR-10, the small model (Bachman, Hjelm & Buchwalter 2019, arXiv 1906.00910, table 1:
ndf=128, n_rkhs=1024, n_depth=10; 91.2% linear / 93.1% MLP on CIFAR-10).

Optimiser and schedule from the authors' code (Philip-Bachman/amdim-public, task_self_supervised.py and
train.py): Adam, lr 2e-4, beta_1 0.8, weight decay 1e-5, batch 200, 300 epochs (the code drops the rate
x0.2 at epochs 250 and 280 after a 500-step linear warm-up). Here: AdamW (decoupled decay; keras-ssl's
optimizer keys have no beta_1, so 0.9) with warm-up 2 epochs (500 steps at 250 steps/epoch) and a
cosine decay in place of the two steps. Soft clip c = 20, lambda = 5e-2 (the code's costs.py; the
paper's text says 4e-2). r1 = f1 (the code's NopNet). Views: the code's TransformsC10 (datasets.py):
one flip shared by both views, then per view a reflect-padded translation of up to 4 pixels with
p 0.8 (no resized crop), ColorJitter(0.4, 0.4, 0.4, 0.2) with p 0.8, RandomGrayscale(0.25).

    keras-ssl train --config=amdim_cifar10 --workdir=runs/amdim_cifar10 \
        --config.data.source=folder:/path/to/cifar10
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("amdim", encoder="amdim")
    c.encoder.ndf = 128
    c.encoder.n_rkhs = 1024
    c.encoder.n_depth = 10
    c.data.image_size = 32
    c.augment.crop = "translate"  # TransformsC10
    c.train.batch_size = 200
    c.train.epochs = 300
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 2e-4 * 256 / 200  # x batch / 256 = 2e-4, the code's rate
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 2.0
    c.train.weight_decay = 1e-5
    return c
