"""SimSiam on ImageNet, the paper's recipe (Chen & He 2021, section 3 and appendix A; the authors'
`main_simsiam.py --fix-pred-lr`): ResNet-50, batch 512, SGD with learning rate 0.05 x batch / 256
(0.1), momentum 0.9, weight decay 1e-4, cosine decay without warm-up, 100 epochs; the predictor at
the fixed initial rate; projector 2048-2048-2048 with batch norm on its output, predictor
2048 -> 512 -> 2048; batch norm over the global batch (the code's SyncBatchNorm). Augmentation
(MoCo v2's): crop of 20-100% of the image, colour jitter (0.4, 0.4, 0.4, 0.1) with probability 0.8,
greyscale 0.2, Gaussian blur 0.5, flip.

    keras-ssl train --config=simsiam_imagenet --workdir=runs/simsiam_imagenet \
        --strategy=mirrored --config.data.tfds_data_dir=/path/to/tensorflow_datasets
"""

from keras_ssl.configs.common import imagenet_resnet50


def get_config():
    c = imagenet_resnet50("simsiam")
    c.model.projection_hidden_dims = (2048, 2048)
    c.model.projection_dim = 2048
    c.model.prediction_hidden_dim = 512
    c.model.fix_predictor_learning_rate = True
    c.augment.crop_scale = (0.2, 1.0)
    c.augment.color_jitter = (0.4, 0.4, 0.4, 0.1)
    c.augment.blur_probability = 0.5
    c.train.batch_size = 512
    c.train.epochs = 100
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.05
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.0
    c.train.momentum = 0.9
    c.train.weight_decay = 1e-4
    return c
