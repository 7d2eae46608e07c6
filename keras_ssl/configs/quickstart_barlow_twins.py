"""Barlow Twins on CIFAR-10 at the SimCLR quickstart's size and budget (same encoder, about 5
minutes of pretraining on a 2-core CPU).

Barlow Twins' algorithm (the cross-correlation of globally standardised embeddings pushed to the
identity) with the compute shrunk: see `keras_ssl.configs.common.projected_pair_quickstart`.
"""

from keras_ssl.configs.common import projected_pair_quickstart


def get_config():
    c = projected_pair_quickstart("barlow_twins")
    c.model.lambd = 5e-3
    return c
