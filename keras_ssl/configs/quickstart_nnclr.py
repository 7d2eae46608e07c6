"""NNCLR on CIFAR-10 sized for a 2-core CPU: about 5 minutes of pretraining on all 50,000 images.

NNCLR's algorithm (the nearest neighbour in a support set as the positive, predictor, symmetrised
loss) on BYOL's quickstart base (`asymmetric_quickstart`: the 1/4-width ResNet-18, 512-128 heads,
batch 256, SGD). A support set of 8,192 embeddings (32 batches, 16% of CIFAR-10; the paper's 98,304
is 8% of ImageNet), temperature 0.2 as solo-learn's CIFAR recipe (the paper's 0.1 is for batch
4096 on ImageNet), and SimCLR's quickstart learning rate.
"""

from keras_ssl.configs.common import asymmetric_quickstart


def get_config():
    c = asymmetric_quickstart("nnclr")
    c.model.support_size = 8192
    c.model.temperature = 0.2
    c.train.base_learning_rate = 0.6
    c.train.epochs = 8
    return c
