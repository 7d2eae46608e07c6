"""MoCo v3 on CIFAR-10 sized for a 2-core CPU: about 5 minutes of pretraining on all 50,000 images.

MoCo v3's algorithm (symmetric InfoNCE against the momentum keys of the same batch, predictor,
momentum from 0.99 to 1 on a cosine) on BYOL's quickstart base (`asymmetric_quickstart`: the
1/4-width ResNet-18, 512-128 heads, batch 256, SGD). Temperature 0.2, not the ResNet-50 recipe's
1.0: over ~1,000 steps the sharper softmax learns faster (solo-learn's CIFAR recipe uses 0.2 too).
"""

from keras_ssl.configs.common import asymmetric_quickstart


def get_config():
    c = asymmetric_quickstart("mocov3")
    c.model.temperature = 0.2
    c.model.base_momentum = 0.99
    c.train.base_learning_rate = 0.5
    c.train.epochs = 6
    return c
