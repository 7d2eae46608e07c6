"""Blocks the recipes share, written once (as big_vision's configs/common.py): the CPU-sized
quickstarts' encoder and data, and the patch-grid quickstarts' base.

Not a recipe: `keras-ssl recipes` leaves it out.
"""

from keras_ssl.cli.config import base_config

#: CIFAR-10 unpacked as labelled folders by examples/quickstart.sh (tests/install_test_data.sh).
CIFAR10_FOLDER = "folder:.cache/data/cifar10"


def cpu_resnet(encoder):
    """The quickstarts' encoder: a ResNet-18 at 1/4 width whose CIFAR stem has stride 2 (16x16
    feature maps in the first stage at 32x32: 1/4 of the cost), sized for a 2-core CPU."""
    encoder.depth = 18
    encoder.stem = "cifar"
    encoder.stem_stride = 2
    encoder.width_multiplier = 0.25


def imagenet_resnet50(method):
    """`base_config(method)` on ImageNet (TFDS's imagenet2012, 224x224, evaluated on the validation
    split) with a ResNet-50 whose batch norm, and the heads', runs over the global batch (the
    papers' synchronized / cross-replica batch norm, the SyncBatchNorm of their code)."""
    c = base_config(method)
    c.data.source = "tfds:imagenet2012"
    c.data.image_size = 224
    c.data.test_split = "validation"
    c.encoder.depth = 50
    c.encoder.stem = "imagenet"
    c.encoder.synchronized_bn = True
    c.model.synchronized_bn = True
    return c


def cpu_training(c, optimizer, base_learning_rate, weight_decay):
    """The quickstarts' optimisation: batch 256, the rate scaled linearly by batch / 256 after a
    warm-up of 0.4 epochs, guarded at 12 minutes on slower machines."""
    c.train.batch_size = 256
    c.train.optimizer = optimizer
    c.train.base_learning_rate = base_learning_rate
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.4
    c.train.weight_decay = weight_decay
    c.train.max_minutes = 12.0


def cifar10_quickstart(method):
    """`base_config(method)` on the CIFAR-10 folder with the CPU-sized ResNet."""
    c = base_config(method)
    c.data.source = CIFAR10_FOLDER
    cpu_resnet(c.encoder)
    return c


def contrastive_quickstart(method):
    """The SimCLR quickstart's head, views and optimiser on `cifar10_quickstart(method)`, shared by
    the MoCo v2 quickstart (its step costs about a SimCLR step): a 128-d head at temperature 0.2,
    crops of 20-100%, colour strength 0.5 and no blur at 32x32 (SimCLR appendix B.9); SGD at
    0.6 x 256 / 256 for 8 epochs, guarded at 12 minutes on slower machines (the schedule is sized
    to end before)."""
    c = cifar10_quickstart(method)
    c.model.projection_hidden_dims = (128,)
    c.model.projection_dim = 128
    c.model.temperature = 0.2
    c.augment.crop_scale = (0.2, 1.0)
    c.augment.color_strength = 0.5
    c.augment.blur_probability = 0.0
    cpu_training(c, "sgd", base_learning_rate=0.6, weight_decay=5e-4)
    c.train.epochs = 8
    return c


def asymmetric_quickstart(method):
    """BYOL's quickstart base, shared by the methods trained on BYOL's asymmetric views (MoCo v3,
    NNCLR): `cifar10_quickstart(method)` with heads Linear(512) - BN - ReLU - Linear(128) for the
    128-d features of the 1/4-width encoder, no blur at 32x32 and crops of 20-100% (as the SimCLR
    quickstart), solarize 0.0 / 0.2; SGD with momentum at batch 256 (LARS matters for the papers'
    batch of 4096, not here), guarded at 12 minutes."""
    c = cifar10_quickstart(method)
    c.model.projection_hidden_dims = (512,)
    c.model.projection_dim = 128
    c.model.prediction_hidden_dims = (512,)
    c.augment.crop_scale = (0.2, 1.0)
    c.augment.blur_probabilities = (0.0, 0.0)
    c.augment.solarize_probabilities = (0.0, 0.2)
    cpu_training(c, "sgd", base_learning_rate=0.3, weight_decay=5e-4)
    return c


def patch_grid_quickstart(method):
    """The patch-grid quickstarts' base (Jigsaw, Counting, Context Prediction): CIFAR-10 upsampled
    to 64x64, held in memory.

    Resolution: at 32x32 a tile of a 3x3 grid would be ~9 pixels, which the stride-2 stem and three
    stride-2 stages reduce to a single position before the last stage. At 64 the tiles keep 9
    original pixels each, and `keras-ssl eval` embeds the whole image at the same 64x64 scale the
    tiles were cut from, so objects have the size the encoder learnt on. 96 would cost 2.25x the
    compute for the same budget.
    """
    c = cifar10_quickstart(method)
    c.data.image_size = 64
    c.data.pipeline = "memory"  # 50,000 x 64 x 64 x 3 = 586 MB, upsampled once on loading
    return c


def grid_tiles(c):
    """The 3x3 grid of the Jigsaw and Context Prediction quickstarts at 64x64: 18-pixel tiles in
    21-pixel cells (Jigsaw's 64 in 75, scaled by 64 / 225), jitter +-1, 128-d tile features.

    A random resized crop (50-100% of the area) before tiling: at fixed scale the 2x upsampling and
    the JPEG 8x8 blocks (16 pixels here) have a phase that tells each tile's absolute place (and
    the relative place of two patches whatever the grid's offset: with a fixed grid and no crop,
    Context Prediction's position accuracy jumped from 0.39 to 0.78 in one epoch, then 0.92).
    """
    c.augment.tile_size = 18
    c.augment.gap = 3
    c.augment.jitter = 1
    c.augment.crop_scale = (0.5, 1.0)
    c.model.tile_dim = 128


def projected_pair_quickstart(method):
    """The Barlow Twins and VICReg quickstarts' base on `cifar10_quickstart(method)`: a projector
    1024-1024-1024 (the papers' 8192-8192-8192 sized for the 128-d features of the 1/4-width
    encoder), BYOL's asymmetric pair without blur at 32x32 (solarize 0.0 / 0.2) and crops of
    20-100%, batch 256, 6 epochs, guarded at 12 minutes. LARS as both papers (biases and batch norm
    excluded) at 0.3 x batch / 256 with weight decay 1e-4: in 160-step probes on 10,000 images it
    learnt faster than SGD with momentum at 0.1 for Barlow Twins (kNN 0.34 against 0.28; its loss,
    a sum over d^2 terms, has large gradients that LARS normalises) and as fast for VICReg."""
    c = cifar10_quickstart(method)
    c.model.projection_hidden_dims = (1024, 1024)
    c.model.projection_dim = 1024
    c.augment.crop_scale = (0.2, 1.0)
    c.augment.blur_probabilities = (0.0, 0.0)
    cpu_training(c, "lars", base_learning_rate=0.3, weight_decay=1e-4)
    c.train.epochs = 6
    return c
