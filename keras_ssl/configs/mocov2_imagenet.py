"""MoCo v2 on ImageNet, the paper's recipe (Chen et al. 2020, "Improved Baselines with Momentum
Contrastive Learning", table 1 and the official code's `main_moco.py --mlp --moco-t 0.2 --aug-plus
--cos`): ResNet-50, batch 256, SGD with learning rate 0.03, momentum 0.9, weight decay 1e-4, cosine
schedule, 200 epochs (800 for the best numbers), a 2048-wide MLP head to 128-d keys, a queue of
65,536 keys, key momentum 0.999, temperature 0.2, shuffle BN. The paper trains on 8 GPUs, so batch
norm sees 32 images per device: run with a strategy of 8 replicas, or set model.bn_splits = 8 /
replicas. Augmentation: crop of 20-100% of the image, colour jitter (0.4, 0.4, 0.4, 0.1) with
probability 0.8, greyscale 0.2, Gaussian blur (sigma 0.1-2.0) 0.5, flip.

    keras-ssl train --config=mocov2_imagenet --workdir=runs/mocov2_imagenet \
        --strategy=mirrored --config.data.tfds_data_dir=/path/to/tensorflow_datasets
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("mocov2")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.data.test_split = "validation"
    c.encoder.depth = 50
    c.encoder.stem = "imagenet"
    c.model.projection_hidden_dims = (2048,)
    c.model.projection_dim = 128
    c.model.temperature = 0.2
    c.model.queue_size = 65536
    c.model.momentum = 0.999
    c.model.shuffle_bn = True
    c.model.bn_splits = 8  # one device: 8 groups of 32; with 8 replicas, 1
    c.augment.crop_scale = (0.2, 1.0)
    c.augment.color_strength = 0.5
    c.augment.blur_probability = 0.5
    c.train.batch_size = 256
    c.train.epochs = 200
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.03
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.0
    c.train.momentum = 0.9
    c.train.weight_decay = 1e-4
    return c
