"""Colorization on CIFAR-10 at the SimCLR quickstart's encoder size (1/4-width ResNet-18,
stride-2 CIFAR stem) for a 2-core CPU: L in, a distribution over the ab bins that the training
images reach (grid 10) at 8 x 8 out against the ab of every 4th pixel, rebalanced soft
cross-entropy with the grey images of CIFAR-10 masked out (Zhang et al. 2016 and their code; see
`keras_ssl.methods.Colorization`)."""

from keras_ssl.configs.common import cifar10_quickstart


def get_config():
    c = cifar10_quickstart("colorization")
    c.train.batch_size = 128
    c.train.epochs = 3  # 35 s an epoch on 2026-12-02's machine (2 min on a slower, shared one)
    # Zhang et al. train with Adam; AdamW here (peak 1e-3 after linear scaling).
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 2e-3
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.2
    c.train.weight_decay = 1e-4
    c.train.max_minutes = 12.0
    return c
