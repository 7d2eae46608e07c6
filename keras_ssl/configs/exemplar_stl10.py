"""Exemplar-CNN on STL-10 (Dosovitskiy et al., TPAMI 2016, sections 3-4): N = 16,000 seed images
of the unlabelled split, each its own surrogate class (the paper: 16,000 classes; accuracy
saturates around 8,000-32,000), transformations of the paper's families and ranges (translation
0.2, scale 0.7-1.4, rotation 20 degrees, principal-component contrast 0.5-2, S/V power 0.25-4,
x 0.7-1.4, + -0.1..0.1, hue + -0.1..0.1), SGD with momentum 0.9, batch 128, learning rate 0.01
(we use the linear-scaling rule from 0.02 / 256), weight decay 5e-4 (the paper: dropout
instead). The paper's network is a 3-conv + fc net on 32 x 32 patches cut at high gradient
energy; the CLI builds its encoder at `data.image_size`, so here the whole 96 x 96 image is the
seed (`keras_ssl.augment.ExemplarTransform(patch_size=32)` cuts the paper's patches for an encoder
built at 32 x 32 in Python). The paper draws 100 transformations per seed once; here K = 4 fresh
ones per seed in each batch, 100 epochs = 400 views per seed. One softmax over all 16,000 classes,
as the paper (`model.sampled_classes` = 0; a positive M samples them, see
`keras_ssl.methods.Exemplar`).

    keras-ssl train --config=exemplar_stl10 --workdir=runs/exemplar_stl10 \
        --config.data.tfds_data_dir=/path/to/tensorflow_datasets
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("exemplar")
    c.data.source = "tfds:stl10"
    c.data.train_split = "unlabelled"
    c.data.eval_source = "tfds:stl10"
    c.data.image_size = 96
    c.data.pipeline = "memory"  # labels are rows of the in-memory arrays
    c.data.max_train_examples = 16000  # the N seeds: a fixed random subset
    c.data.memory_limit_mb = 4096.0
    c.encoder.depth = 18
    c.encoder.stem = "cifar"
    c.encoder.stem_stride = 2
    c.augment.num_views = 4
    c.train.batch_size = 128
    c.train.epochs = 100
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.02
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 1.0
    c.train.momentum = 0.9
    c.train.weight_decay = 5e-4
    return c
