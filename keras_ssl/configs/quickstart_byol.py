"""BYOL on CIFAR-10 at the SimCLR quickstart's size and budget (same encoder, about 8 minutes of
pretraining on a 2-core CPU; a BYOL step costs about 1.2 SimCLR steps, so 7 epochs instead of 8).

BYOL's algorithm and asymmetric augmentation (colour jitter (0.4, 0.4, 0.2, 0.1), solarize 0.0 / 0.2)
with the compute shrunk: heads Linear(512) - BN - ReLU - Linear(128) for the 128-d features of the
1/4-width encoder, tau from 0.99 (not 0.996: over ~1,400 steps the target must move) to 1, no blur at
32x32 and a minimum crop of 20% as in the SimCLR quickstart, SGD with momentum (LARS matters for the
paper's batch of 4096, not at 256).
"""

from keras_ssl.configs.common import asymmetric_quickstart


def get_config():
    c = asymmetric_quickstart("byol")
    c.model.base_momentum = 0.99
    c.train.epochs = 7
    return c
