"""BYOL on CIFAR-10 at the SimCLR quickstart's size and budget (same encoder, about 8 minutes of
pretraining on a 2-core CPU; a BYOL step costs about 1.2 SimCLR steps, so 7 epochs instead of 8).

BYOL's algorithm and asymmetric augmentation (colour jitter (0.4, 0.4, 0.2, 0.1), solarize 0.0 / 0.2)
with the compute shrunk: heads Linear(512) - BN - ReLU - Linear(128) for the 128-d features of the
1/4-width encoder, tau from 0.99 (not 0.996: over ~1,400 steps the target must move) to 1, no blur at
32x32 and a minimum crop of 20% as in the SimCLR quickstart, SGD with momentum (LARS matters for the
paper's batch of 4096, not at 256).
"""

from keras_ssl.configs.common import cifar10_quickstart


def get_config():
    c = cifar10_quickstart("byol")
    c.model.projection_hidden_dims = (512,)
    c.model.projection_dim = 128
    c.model.prediction_hidden_dims = (512,)
    c.model.base_momentum = 0.99
    c.augment.crop_scale = (0.2, 1.0)
    c.augment.blur_probabilities = (0.0, 0.0)
    c.augment.solarize_probabilities = (0.0, 0.2)
    c.train.batch_size = 256
    c.train.epochs = 7
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.3
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.4
    c.train.weight_decay = 5e-4
    c.train.max_minutes = 12.0
    return c
