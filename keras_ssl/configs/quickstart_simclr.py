"""SimCLR on CIFAR-10 sized for a 2-core CPU: about 8 minutes of pretraining on all 50,000 images.

The paper's recipe (simclr_cifar10) needs days on a CPU. This keeps SimCLR's algorithm and
augmentations and shrinks the compute: a ResNet-18 at 1/4 width whose CIFAR stem has stride 2
(16x16 feature maps in the first stage: 1/4 of the cost), batch 256 and 8 epochs. With so few epochs,
a lower temperature (0.2) and a minimum crop of 20% of the image learn faster than the paper's 0.5
and 8%. SGD with momentum: LARS matters for the large batches of the paper, not at 256.
"""

from keras_ssl.configs.common import cifar10_quickstart


def get_config():
    c = cifar10_quickstart("simclr")
    c.model.projection_hidden_dims = (128,)
    c.model.projection_dim = 128
    c.model.temperature = 0.2
    c.augment.crop_scale = (0.2, 1.0)
    c.augment.color_strength = 0.5
    c.augment.blur_probability = 0.0
    c.train.batch_size = 256
    c.train.epochs = 8
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.6
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.4
    c.train.weight_decay = 5e-4
    c.train.max_minutes = 12.0  # a guard for slower machines; the schedule is sized to end before
    return c
