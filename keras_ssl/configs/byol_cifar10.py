"""BYOL on CIFAR-10 with the paper's method and optimisation (Grill et al. 2020, section 3.3): LARS
with learning rate 0.2 x batch / 256, 10 warm-up epochs then cosine decay, weight decay 1.5e-6
(batch norm and biases excluded), tau from 0.996 to 1 on a cosine schedule, projector and predictor
Linear(4096) - BN - ReLU - Linear(256), 1000 epochs; on CIFAR-10 sizes: ResNet-18 with the CIFAR stem,
batch 512. The paper pretrains on ImageNet only. Augmentation: BYOL's asymmetric pair (colour jitter
(0.4, 0.4, 0.2, 0.1), solarize 0.0 / 0.2) without the blur, which SimCLR (appendix B.9) leaves out at
32x32. Written as the paper's recipe (byol_imagenet) with these CIFAR-10 sizes over it.

    keras-ssl train --config=byol_cifar10 --workdir=runs/byol \
        --config.data.source=folder:/path/to/cifar10
"""

from keras_ssl.configs import byol_imagenet


def get_config():
    c = byol_imagenet.get_config()
    c.data.source = "tfds:cifar10"
    c.data.image_size = 32
    c.data.test_split = "test"
    c.encoder.depth = 18
    c.encoder.stem = "cifar"
    c.encoder.synchronized_bn = False
    c.model.synchronized_bn = False
    c.augment.blur_probabilities = (0.0, 0.0)
    c.train.batch_size = 512
    return c
