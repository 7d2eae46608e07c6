"""SimCLR on CIFAR-10 sized for a 2-core CPU: about 8 minutes of pretraining on all 50,000 images.

The paper's recipe (simclr_cifar10) needs days on a CPU. This keeps SimCLR's algorithm and
augmentations and shrinks the compute: a ResNet-18 at 1/4 width whose CIFAR stem has stride 2
(16x16 feature maps in the first stage: 1/4 of the cost), batch 256 and 8 epochs. With so few epochs,
a lower temperature (0.2) and a minimum crop of 20% of the image learn faster than the paper's 0.5
and 8%. SGD with momentum: LARS matters for the large batches of the paper, not at 256.
"""

from keras_ssl.configs.common import contrastive_quickstart


def get_config():  # the values: keras_ssl.configs.common.contrastive_quickstart
    return contrastive_quickstart("simclr")
