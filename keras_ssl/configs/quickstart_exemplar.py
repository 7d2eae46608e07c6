"""Exemplar-CNN on CIFAR-10 at the SimCLR quickstart's encoder size (1/4-width ResNet-18,
stride-2 CIFAR stem) for a 2-core CPU, about 10 minutes of pretraining.

N = 8,000 surrogate classes, as the paper's 8,000 seed patches of STL-10 (Dosovitskiy et al.,
TPAMI 2016, section 4.1): the seeds are a fixed random subset (seed 0) of the 50,000 training
images (`data.max_train_examples`); `keras-ssl eval` uses the whole train split. With all 50,000 as
classes each class is seen once an epoch: a 4-minute trial ended with the loss still at ln(50,000)
and kNN 0.09, below random init. With 8,000, 40 epochs give each seed 80 transformed views (the
paper: 100-300 per class). The full softmax over the 8,000 classes (the paper's; the sampled form,
`--config.model.sampled_classes=M`, is not used here).

    keras-ssl train --config=quickstart_exemplar --workdir=runs/exemplar
    keras-ssl eval --workdir=runs/exemplar
"""

from keras_ssl.configs.common import cifar10_quickstart


def get_config():
    c = cifar10_quickstart("exemplar")
    c.data.max_train_examples = 8000  # the seeds
    c.data.pipeline = "memory"  # Exemplar's labels are the in-memory rows
    # Two views of each of 128 seeds per step (256 images): 128 classifier rows updated a step.
    c.augment.num_views = 2
    c.train.batch_size = 128
    c.train.epochs = 40
    # AdamW: each classifier row is in one batch in 62, which a per-weight adaptive step serves
    # better than SGD's.
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 2e-3  # x 128 / 256 = 1e-3
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 1.0
    c.train.weight_decay = 1e-4
    c.train.max_minutes = 12.0
    return c
