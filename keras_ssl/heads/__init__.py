"""Heads placed on top of an encoder."""

from keras_ssl.heads.amdim import MixtureHeads, ResidualEmbedding
from keras_ssl.heads.channelwise import ChannelwiseFullyConnected
from keras_ssl.heads.decoder import DecoderHead
from keras_ssl.heads.discriminator import PatchDiscriminator
from keras_ssl.heads.mlp import MLPHead
from keras_ssl.heads.sequential import SequentialHead
from keras_ssl.heads.tile_classifier import TileClassifier
from keras_ssl.heads.tile_encoder import TileEncoder, accept_any_image_size

__all__ = ["ChannelwiseFullyConnected", "DecoderHead", "MLPHead", "MixtureHeads",
           "PatchDiscriminator", "ResidualEmbedding", "SequentialHead",
           "TileClassifier"]
