"""Context Prediction on ImageNet, the paper's setting (Doersch, Gupta & Efros 2015, section 3 and
3.1): 96x96 patches, a gap of 48 pixels (about half a patch) between a patch and its neighbours,
each patch's position jittered by up to 7 pixels, each patch's mean subtracted, and the
"projection" of the green-magenta colour axis against chromatic aberration, a third of the patches
downsampled to as few as 100 pixels and upsampled again (section 3.1; the probability and the
uniform area are the authors' train.py, prep_image). The pair is sampled as train.py's imgloader
does: a grid of 144-pixel cells at a random offset over the whole image, any patch of it and any of
its 8 neighbours on the grid (keras_ssl.augment.context). The paper resizes images to between 150K
and 450K pixels; here to 448x448 (~200K): 2 or 3 cells a side. Late fusion as the paper's
AlexNet-style pair network (figure 3, train.py's gen_net): fc6 per patch (4096), concatenation,
fc7 4096, fc8 4096, an 8-way fc9; here on a ResNet-50.

Differences: the released train.py drops colours per patch (color_mode="drop" here) where this
recipe keeps the paper's projection; its images vary in size, here fixed; it trained in Caffe with
batch norm added for stability. The optimiser values below (SGD, momentum 0.9, batch 128, learning
rate 0.01, weight decay 5e-4) are this recipe's: train.py's solver is plain SGD at a fixed 1e-5 on
the loss summed over the ~2,000 pairs of a 512-patch batch (about 0.02 on the mean), no momentum,
no weight decay.

    keras-ssl train --config=context_prediction_imagenet \
        --workdir=runs/context_prediction_imagenet --config.data.source=folder:/path/to/imagenet
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("context_prediction")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 448
    c.data.test_split = "validation"
    c.encoder.depth = 50
    c.encoder.stem = "imagenet"
    c.augment.tile_size = 96
    c.augment.gap = 48
    c.augment.jitter = 7
    c.augment.normalize = True
    c.augment.pixelation_probability = 1.0 / 3.0  # section 3.1, the authors' code
    c.augment.min_pixels = 100
    c.augment.color_mode = "project"
    c.model.tile_dim = 4096
    c.model.head_hidden_dims = (4096, 4096)  # fc7, fc8
    c.train.batch_size = 128
    c.train.epochs = 100
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.02  # x 128 / 256 = 0.01
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 1.0
    c.train.weight_decay = 5e-4
    return c
