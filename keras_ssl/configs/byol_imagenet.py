"""BYOL on ImageNet, the paper's recipe (Grill et al. 2020, section 3.3 and appendix B/C): ResNet-50,
batch 4096, LARS with learning rate 0.2 x batch / 256 (3.2), 10 warm-up epochs then cosine decay,
weight decay 1.5e-6, batch norm and biases excluded from weight decay and LARS adaptation, 1000
epochs; projector and predictor Linear(4096) - BN - ReLU - Linear(256); target decay tau from 0.996
to 1 on a cosine schedule; batch norm over the global batch (the paper's cross-replica BN).
Augmentation (table 6): crop of 8-100% of the image, flip, colour jitter (0.4, 0.4, 0.2, 0.1) with
probability 0.8, greyscale 0.2, Gaussian blur 1.0 / 0.1 and solarize 0.0 / 0.2 for the two views.

    keras-ssl train --config=byol_imagenet --workdir=runs/byol_imagenet \
        --strategy=tpu --tpu=NAME --config.data.tfds_data_dir=gs://bucket/tensorflow_datasets
"""

from keras_ssl.configs.common import imagenet_resnet50


def get_config():
    c = imagenet_resnet50("byol")
    c.model.projection_hidden_dims = (4096,)
    c.model.projection_dim = 256
    c.model.prediction_hidden_dims = (4096,)
    c.model.base_momentum = 0.996
    c.augment.crop_scale = (0.08, 1.0)
    c.augment.color_jitter = (0.4, 0.4, 0.2, 0.1)
    c.augment.blur_probabilities = (1.0, 0.1)
    c.augment.solarize_probabilities = (0.0, 0.2)
    c.train.batch_size = 4096
    c.train.epochs = 1000
    c.train.optimizer = "lars"
    c.train.base_learning_rate = 0.2
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 10.0
    c.train.momentum = 0.9
    c.train.weight_decay = 1.5e-6
    return c
