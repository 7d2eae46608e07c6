"""The Keras layers and encoders the library registers for `.keras` files, through one round
trip (`helpers.run_serialization_test`): its config reproduces it, and a saved model reloads it
with the same outputs. Not here: FeatureQueue and MomentumNetwork (their calls update state),
the methods and the transforms, which have round trips of their own (test_momentum_methods.py,
test_augment.py, test_registry.py)."""

import keras
import numpy as np
import pytest

from helpers import run_serialization_test
from keras_ssl import layers
from keras_ssl.augment.lab import LightnessInput
from keras_ssl.augment.tiles import StandardizedInput
from keras_ssl.encoders import AMDIMEncoder, ResNet
from keras_ssl.encoders.amdim import ChannelPad, ReflectPad2D
from keras_ssl.heads.amdim import MixtureHeads, ResidualEmbedding
from keras_ssl.heads.channelwise import ChannelwiseFullyConnected
from keras_ssl.heads.decoder import DecoderHead
from keras_ssl.heads.discriminator import PatchDiscriminator
from keras_ssl.heads.mlp import MLPHead

IMAGES = (2, 32, 32, 3)
MAPS = (2, 4, 4, 8)
CASES = {
    "LightnessInput": (lambda: LightnessInput(), IMAGES),
    "StandardizedInput": (lambda: StandardizedInput(), IMAGES),
    "ChannelwiseFullyConnected": (lambda: ChannelwiseFullyConnected(dropout=0.1), MAPS),
    "DecoderHead": (lambda: DecoderHead(filters=(8, 4), output_channels=3), MAPS),
    "MLPHead": (lambda: MLPHead(hidden_dims=(16,), output_dim=8), (2, 12)),
    "PatchDiscriminator": (lambda: PatchDiscriminator(filters=(4, 8)), (2, 16, 16, 3)),
    "ResidualEmbedding": (lambda: ResidualEmbedding(8), MAPS),
    "MixtureHeads": (lambda: MixtureHeads(3, hidden_dim=8), (2, 12)),
    "BatchNormalization": (lambda: layers.BatchNormalization(momentum=0.9, epsilon=1e-5), MAPS),
    "ChannelPad": (lambda: ChannelPad(12), MAPS),
    "ReflectPad2D": (lambda: ReflectPad2D(2), MAPS),
    "ResNet": (lambda: ResNet(depth=18, width_multiplier=0.125, input_shape=(32, 32, 3)), IMAGES),
    "AMDIMEncoder": (lambda: AMDIMEncoder(ndf=8, n_rkhs=32, n_depth=1), IMAGES),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_and_keras_file_round_trip(name, tmp_path):
    make, shape = CASES[name]
    keras.utils.set_random_seed(0)
    inputs = np.random.default_rng(0).uniform(0, 1, shape).astype("float32")
    run_serialization_test(make(), inputs, tmp_path)
