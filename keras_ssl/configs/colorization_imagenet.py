"""Colorization on ImageNet (Zhang, Isola & Efros 2016, section 2 and 3): L in, a distribution
over the quantised ab gamut out (grid 10; the paper's 313 in-gamut bins, here the sRGB-gamut bins
of `keras_ssl.augment.in_gamut_ab_bins`), soft-encoded targets (5 nearest bins, sigma 5: the
paper's; the authors' `NNEncLayer` uses 10), class rebalancing with lambda 0.5 over the prior of
the training images (smoothed with sigma 5), predictions at 1/4 resolution (56 x 56 of 224) against
the ab of every 4th pixel (strided, as the authors' `colorization_train_val_v2.prototxt`), zero
loss weight for greyscale images (the code's `NonGrayMaskLayer`, threshold 5), annealed-mean
decoding at T = 0.38. Training:
Adam (beta 0.9, 0.99), learning rate 3e-5, weight decay 1e-3, batch 40, about 450k iterations
(~14 epochs); here AdamW with those rate and decay, and a ResNet-50 instead of their VGG-style
net (the decoder up-samples its 7 x 7 map to 56 x 56).

    keras-ssl train --config=colorization_imagenet --workdir=runs/colorization_in \
        --config.data.tfds_data_dir=gs://bucket/tensorflow_datasets
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("colorization")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.data.test_split = "validation"
    c.encoder.depth = 50
    c.encoder.stem = "imagenet"
    c.model.ab_bins = "gamut"
    c.model.prior_examples = 5000
    c.model.output_stride = 4
    c.model.decoder_filters = (256, 128, 128)
    c.model.rebalance_lambda = 0.5
    c.model.temperature = 0.38
    c.model.grey_threshold = 5.0
    c.train.batch_size = 40
    c.train.epochs = 14
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 1.92e-4  # x 40 / 256 = the paper's 3e-5
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.0
    c.train.weight_decay = 1e-3
    return c
