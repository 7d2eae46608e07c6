"""Jigsaw on CIFAR-10, sized for a 2-core CPU (pretraining stops at 8 minutes).

Resolution: CIFAR images are upsampled to 64x64 (data.image_size) so that a 3x3 grid holds tiles of
18 pixels with a gap: at 32x32 a tile would be ~9 pixels, which the stride-2 stem and three stride-2
stages reduce to a single position before the last stage. At 64 the tiles keep 9 original pixels
each, and `keras-ssl eval` embeds the whole image at the same 64x64 scale the tiles were cut from, so
objects have the size the encoder learnt on. 96 would cost 2.25x the compute for the same budget.

    keras-ssl train --config=configs/quickstart_jigsaw.py --workdir=runs/jigsaw
    keras-ssl eval --workdir=runs/jigsaw
"""

from keras_ssl.cli.config import base_config


def get_config():
    c = base_config("jigsaw")
    c.data.source = "folder:.cache/data/cifar10"
    c.data.image_size = 64
    c.data.pipeline = "memory"  # 50,000 x 64 x 64 x 3 = 586 MB, upsampled once on loading
    c.encoder.depth = 18
    c.encoder.stem = "cifar"
    c.encoder.stem_stride = 2
    c.encoder.width_multiplier = 0.25
    # 18-pixel tiles in 21-pixel cells (the paper's 64 in 75, scaled by 64 / 225), jitter +-1.
    c.augment.tile_size = 18
    c.augment.gap = 3
    c.augment.jitter = 1
    c.augment.num_permutations = 100
    # A random resized crop (50-100% of the area) before tiling: at fixed scale the 2x upsampling
    # and the JPEG 8x8 blocks (16 pixels here) have a phase that tells each tile's absolute place.
    c.augment.crop_scale = (0.5, 1.0)
    c.model.tile_dim = 128
    c.model.head_hidden_dims = (512,)
    c.train.batch_size = 128
    c.train.epochs = 2
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.2
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.2
    c.train.weight_decay = 5e-4
    c.train.max_minutes = 8.0
    return c
