"""MoCo v2 on CIFAR-10: MoCo v2's method (Chen et al. 2020, "Improved Baselines with Momentum
Contrastive Learning": MLP head, temperature 0.2, cosine learning rate) at the scale of the official
MoCo CIFAR-10 demo (facebookresearch/moco, colab/moco_cifar10_demo.ipynb): ResNet-18 with the CIFAR
stem, batch 512, SGD with learning rate 0.06 (0.03 x 512 / 256), momentum 0.9, weight decay 5e-4,
200 epochs, a queue of 4,096 keys, key momentum 0.99, batch norm over 8 sub-batches with the keys
shuffled across them (the demo's SplitBatchNorm; under a multi-replica strategy, set bn_splits to
8 / replicas). Augmentation: MoCo v2's without the blur, which SimCLR (appendix B.9) and the demo leave
out at 32x32. Written as the paper's recipe (mocov2_imagenet) with the demo's values over it.

    keras-ssl train --config=mocov2_cifar10 --workdir=runs/mocov2 \
        --config.data.source=folder:/path/to/cifar10
"""

from keras_ssl.configs import mocov2_imagenet


def get_config():
    c = mocov2_imagenet.get_config()
    c.data.source = "tfds:cifar10"
    c.data.image_size = 32
    c.data.test_split = "test"
    c.encoder.depth = 18
    c.encoder.stem = "cifar"
    c.model.projection_hidden_dims = (512,)
    c.model.queue_size = 4096
    c.model.momentum = 0.99
    c.augment.blur_probability = 0.0
    c.train.batch_size = 512
    c.train.weight_decay = 5e-4
    return c
