"""BYOL on CIFAR-10 with the paper's method and optimisation (Grill et al. 2020, section 3.3): LARS
with learning rate 0.2 x batch / 256, 10 warm-up epochs then cosine decay, weight decay 1.5e-6
(batch norm and biases excluded), tau from 0.996 to 1 on a cosine schedule, projector and predictor
Linear(4096) - BN - ReLU - Linear(256), 1000 epochs; on CIFAR-10 sizes: ResNet-18 with the CIFAR stem,
batch 512. The paper pretrains on ImageNet only. Augmentation: BYOL's asymmetric pair (colour jitter
(0.4, 0.4, 0.2, 0.1), solarize 0.0 / 0.2) without the blur, which SimCLR (appendix B.9) leaves out at
32x32.

    keras-ssl train --config=configs/byol_cifar10.py --workdir=runs/byol \
        --config.data.source=folder:/path/to/cifar10
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("byol")
    c.encoder.depth = 18
    c.encoder.stem = "cifar"
    c.model.projection_hidden_dims = (4096,)
    c.model.projection_dim = 256
    c.model.prediction_hidden_dims = (4096,)
    c.model.base_momentum = 0.996
    c.augment.crop_scale = (0.08, 1.0)
    c.augment.color_jitter = (0.4, 0.4, 0.2, 0.1)
    c.augment.blur_probabilities = (0.0, 0.0)
    c.augment.solarize_probabilities = (0.0, 0.2)
    c.train.batch_size = 512
    c.train.epochs = 1000
    c.train.optimizer = "lars"
    c.train.base_learning_rate = 0.2
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 10.0
    c.train.momentum = 0.9
    c.train.weight_decay = 1.5e-6
    return c
