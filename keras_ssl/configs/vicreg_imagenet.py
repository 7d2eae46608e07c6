"""VICReg on ImageNet, the paper's recipe (Bardes, Ponce & LeCun 2022, section 4.1 and appendix
C.1; the authors' `main_vicreg.py`): ResNet-50, batch 2048, LARS with base learning rate 0.2 x
batch / 256, 10 warm-up epochs then cosine decay, weight decay 1e-6, biases and batch norm excluded,
1000 epochs; projector 8192-8192-8192; loss weights 25 / 25 / 1 (gamma 1, epsilon 1e-4); batch norm
over the global batch (the code's SyncBatchNorm). Augmentation (BYOL's pair, the code's
`augmentations.py`): crop of 8-100%, colour jitter (0.4, 0.4, 0.2, 0.1) with probability 0.8,
greyscale 0.2, blur 1.0 / 0.1, solarize 0.0 / 0.2. Not reproduced: the schedule's end at 1/1000 of
the peak (here 0).

    keras-ssl train --config=vicreg_imagenet --workdir=runs/vicreg_imagenet \
        --strategy=tpu --tpu=NAME --config.data.tfds_data_dir=gs://bucket/tensorflow_datasets
"""

from keras_ssl.configs.common import imagenet_resnet50


def get_config():
    c = imagenet_resnet50("vicreg")
    c.model.projection_hidden_dims = (8192, 8192)
    c.model.projection_dim = 8192
    c.model.invariance_weight = 25.0
    c.model.variance_weight = 25.0
    c.model.covariance_weight = 1.0
    c.train.batch_size = 2048
    c.train.epochs = 1000
    c.train.optimizer = "lars"
    c.train.base_learning_rate = 0.2
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 10.0
    c.train.momentum = 0.9
    c.train.weight_decay = 1e-6
    return c
