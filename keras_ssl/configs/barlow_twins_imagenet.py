"""Barlow Twins on ImageNet, the paper's recipe (Zbontar et al. 2021, section 4 "Implementation
details"; the authors' `main.py`): ResNet-50, batch 2048, LARS with learning rate 0.2 x batch / 256
(1.6) for the weights, 10 warm-up epochs then cosine decay, weight decay 1.5e-6, biases and batch
norm excluded from decay and adaptation, 1000 epochs; projector 8192-8192-8192, lambda 5e-3; batch
norm over the global batch (the code's SyncBatchNorm). Augmentation (BYOL's pair): crop of 8-100%,
colour jitter (0.4, 0.4, 0.2, 0.1) with probability 0.8, greyscale 0.2, blur 1.0 / 0.1, solarize
0.0 / 0.2; biases and batch norm at 0.0048 / 0.2 of the weights' rate (the model's
`bias_learning_rate_scale`). Not reproduced: the schedule's end at 1/1000 of the peak (here 0).

    keras-ssl train --config=barlow_twins_imagenet --workdir=runs/barlow_twins_imagenet \
        --strategy=tpu --tpu=NAME --config.data.tfds_data_dir=gs://bucket/tensorflow_datasets
"""

from keras_ssl.configs.common import imagenet_resnet50


def get_config():
    c = imagenet_resnet50("barlow_twins")
    c.model.projection_hidden_dims = (8192, 8192)
    c.model.projection_dim = 8192
    c.model.lambd = 5e-3
    c.train.batch_size = 2048
    c.train.epochs = 1000
    c.train.optimizer = "lars"
    c.train.base_learning_rate = 0.2
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 10.0
    c.train.momentum = 0.9
    c.train.weight_decay = 1.5e-6
    return c
