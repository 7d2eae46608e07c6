"""Context Encoder on ImageNet (Pathak et al. 2016, sections 3-5, and their `train.lua` with the
README's center-inpainting command: overlapPred=4 wtl2=0.999 fineSize=128): 128 x 128 images, a
central 64 x 64 patch predicted, of which the inner 56 x 56 is removed (filled with the mean colour)
and the 4-pixel ring is context the decoder also predicts at 10x the L2 weight (overlapL2Weight);
encoder -> channel-wise fully-connected layer -> up-convolutions; joint loss 0.999 x L2 + 0.001 x
adversarial at the code's scale ([-1, 1] pixels, mean over the patch); a DCGAN-style discriminator
on the predicted patch only (conditionAdv = 0), batch 64.

Optimisers (`train.lua`): the discriminator Adam 2e-4, beta_1 0.5 (the model's own); the generator
10x that, 2e-3, because 0 < wtl2 < 1. Here the generator's is the CLI's AdamW without weight decay
(= Adam) at peak 2e-3, but with beta_1 0.9 (the CLI's optimizer keys have no beta_1; the code's is
0.5) and a cosine decay (the code's rate is constant). The paper's encoder is AlexNet; here a
ResNet-18 (ImageNet stem, a 4 x 4 map at 128 x 128). The README's 500 epochs (niter) are on Paris
StreetView / ImageNet; 100 here. Random blocks / regions: `--config.augment.kind=blocks|regions`.

    keras-ssl train --config=context_encoder_imagenet --workdir=runs/ce_imagenet \
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
    c.model.discriminator_filters = (64, 128, 256, 512)  # train.lua's ndf = 64, doubling
    c.model.reconstruction_weight = 0.999  # wtl2
    c.model.adversarial_weight = 0.001  # 1 - wtl2
    c.model.discriminator_learning_rate = 2e-4  # train.lua's lr
    c.model.discriminator_input = "region"  # conditionAdv = 0
    c.augment.kind = "central"
    c.augment.hole_size = 56  # fineSize / 2 - 2 x overlapPred: the patch is 64 x 64 with the ring
    c.augment.overlap = 4  # overlapPred
    c.train.batch_size = 64
    c.train.epochs = 100
    c.train.optimizer = "adamw"
    c.train.base_learning_rate = 8e-3  # x 64 / 256 = train.lua's generator rate, 10 x 2e-4
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.0
    c.train.weight_decay = 0.0
    return c
