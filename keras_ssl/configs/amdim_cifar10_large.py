"""AMDIM on CIFAR-10, the large model (Bachman et al. 2019, arXiv 1906.00910, table 1: ndf=320,
n_rkhs=2048, n_depth=10); same optimiser and schedule as amdim_cifar10 (the authors' code:
Adam lr 2e-4, beta_1 0.8, weight decay 1e-5, batch 200, 300 epochs).
"""

from keras_ssl.configs import amdim_cifar10


def get_config():
    c = amdim_cifar10.get_config()
    c.encoder.ndf = 320
    c.encoder.n_rkhs = 2048
    c.encoder.n_depth = 10
    return c
