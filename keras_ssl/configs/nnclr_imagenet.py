"""NNCLR with a ResNet-50 on ImageNet, the paper's recipe (Dwibedi et al. 2021, section 4.1):
support set of 98,304 embeddings, temperature 0.1, embeddings of 256, projector 2048 - 2048 - 256
and predictor 4096 - 256 with batch norm, batch 4096, LARS with 10 warm-up epochs then cosine decay
over 1000 epochs, BYOL's augmentation. The learning rate (0.3 x batch / 256) and weight decay (1e-6)
are SimCLR's ImageNet values, which NNCLR builds on; batch norm over the global batch.

    keras-ssl train --config=nnclr_imagenet --workdir=runs/nnclr_imagenet \
        --strategy=tpu --tpu=NAME --config.data.tfds_data_dir=gs://bucket/tensorflow_datasets
"""

from keras_ssl.configs.common import imagenet_resnet50


def get_config():
    # The model and augment sections are the registered defaults (keras_ssl/methods/nnclr.py).
    c = imagenet_resnet50("nnclr")
    c.train.batch_size = 4096
    c.train.epochs = 1000
    c.train.optimizer = "lars"
    c.train.base_learning_rate = 0.3
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 10.0
    c.train.momentum = 0.9
    c.train.weight_decay = 1e-6
    return c
