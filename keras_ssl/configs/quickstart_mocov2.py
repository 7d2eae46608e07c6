"""MoCo v2 on CIFAR-10 at the SimCLR quickstart's size and budget (same encoder and optimiser, 8 epochs,
about 8 minutes of pretraining on a 2-core CPU: a MoCo step, one view forward and backward and one
through the key encoder, costs about what a SimCLR step does).

MoCo v2's algorithm and augmentation, scaled as the official MoCo CIFAR-10 demo scales it: a queue of
4,096 keys and key momentum 0.99 (with few steps, 0.999 would leave the key encoder near its
initialisation), batch norm over sub-batches of 32 with the keys shuffled across them (the one-device
form of shuffle BN), no blur at 32x32 (SimCLR appendix B.9).
"""

from keras_ssl.configs.common import contrastive_quickstart


def get_config():
    c = contrastive_quickstart("mocov2")
    c.model.queue_size = 4096
    c.model.momentum = 0.99
    c.model.shuffle_bn = True
    c.model.bn_splits = 8
    return c
