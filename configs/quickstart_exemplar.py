"""Exemplar-CNN on CIFAR-10 at the SimCLR quickstart's encoder size (1/4-width ResNet-18,
stride-2 CIFAR stem) for a 2-core CPU: every one of the 50,000 training images is a surrogate
class (N = 50,000), four fresh transformations of each per batch (Dosovitskiy et al.).

NOT YET SIZED TO CLEAR THE QUICKSTART BAR: a 4-minute trial (1 epoch, 781 steps) ended with the
loss at ln(50,000) = 10.8 and kNN 0.09 (random init 0.23): with each of 50,000 classes seen in one
batch per epoch the classifier learns nothing and the features degenerate. Fewer seeds
(data.max_train_examples, as the paper's 8,000-16,000) or more epochs are the next things to try."""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("exemplar")
    c.data.source = "folder:.cache/data/cifar10"
    c.encoder.depth = 18
    c.encoder.stem = "cifar"
    c.encoder.stem_stride = 2
    c.encoder.width_multiplier = 0.25
    # Four views of each of 64 seeds per step (256 images): the views of a class meet in a batch.
    c.augment.num_views = 4
    c.train.batch_size = 64
    c.train.epochs = 2
    # AdamW: each of the 50,000 classifier rows is in only two batches of the run, which a
    # per-weight adaptive step serves better than SGD's.
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 4e-3  # x 64 / 256 = 1e-3
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.1
    c.train.weight_decay = 1e-4
    c.train.max_minutes = 9.0
    return c
