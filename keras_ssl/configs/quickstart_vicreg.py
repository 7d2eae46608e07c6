"""VICReg on CIFAR-10 at the SimCLR quickstart's size and budget (same encoder, about 5 minutes of
pretraining on a 2-core CPU).

VICReg's algorithm and loss weights (25 / 25 / 1) with the compute shrunk: see
`keras_ssl.configs.common.projected_pair_quickstart`.
"""

from keras_ssl.configs.common import projected_pair_quickstart


def get_config():
    return projected_pair_quickstart("vicreg")
