"""Context Encoder on ImageNet (Pathak et al. 2016, sections 3-5): 128 x 128 images, the central
64 x 64 square removed (filled with the mean colour), encoder -> channel-wise fully-connected
layer -> up-convolutions, joint loss 0.999 x masked L2 (overlap band of 4 pixels weighted 10x, as
their code) + 0.001 x adversarial loss with a DCGAN-style discriminator; Adam 2e-4 (beta_1 0.5)
for the discriminator, batch 64. The paper's encoder is AlexNet; here a ResNet-18 (ImageNet stem,
a 4 x 4 map at 128 x 128), and AdamW at 2e-4 for the generator (the CLI's optimizers have the
default beta_1 0.9). Random blocks / regions: `--config.augment.kind=blocks|regions`.

    keras-ssl train --config=configs/context_encoder_imagenet.py --workdir=runs/ce_imagenet \
        --config.data.tfds_data_dir=gs://bucket/tensorflow_datasets
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("context_encoder")
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 128
    c.data.test_split = "validation"
    c.encoder.depth = 18
    c.encoder.stem = "imagenet"
    c.model.decoder_filters = (256, 128, 64, 32, 16)
    c.model.discriminator_filters = (64, 128, 256, 512)
    c.model.reconstruction_weight = 0.999
    c.model.adversarial_weight = 0.001
    c.model.discriminator_learning_rate = 2e-4
    c.augment.kind = "central"
    c.augment.hole_size = 64
    c.augment.overlap = 4
    c.train.batch_size = 64
    c.train.epochs = 100
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 8e-4  # x 64 / 256 = the paper's 2e-4
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.0
    c.train.weight_decay = 0.0
    return c
