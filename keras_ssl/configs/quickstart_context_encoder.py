"""Context Encoder on CIFAR-10 at the SimCLR quickstart's encoder size (1/4-width ResNet-18,
stride-2 CIFAR stem) for a 2-core CPU: central 16 x 16 hole and its 1-pixel ring predicted,
channel-wise FC, up-convolutions to the image, 0.999 L2 + 0.001 adversarial at the scale of Pathak
et al.'s `train.lua`, the discriminator on the predicted region only (their conditionAdv = 0).
Measured: see README's quickstart table."""

from keras_ssl.configs.common import cifar10_quickstart


def get_config():
    c = cifar10_quickstart("context_encoder")
    c.train.batch_size = 128
    c.train.epochs = 5  # ~100 s per epoch here; a 4-minute trial reached +0.08
    # train.lua: Adam 2e-4 (beta_1 0.5) for the discriminator (the model's default), 10x that for
    # the generator. Here the generator's is AdamW (beta_1 0.9, the CLI's), peak 1e-3 with warm-up
    # and cosine decay, 5x the discriminator's: the rate this quickstart was tuned at.
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 2e-3
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.2
    c.train.weight_decay = 1e-4
    c.train.max_minutes = 12.0
    return c
