"""Keras layers shared by encoders, heads and methods: batch norm on the fused kernel, input layers
in front of an encoder, the momentum copy of networks (MoCo, BYOL) and MoCo's queue of keys."""

from keras_ssl.layers.batch_norm import BatchNormalization
from keras_ssl.layers.inputs import LightnessInput, StandardizedInput
from keras_ssl.layers.momentum import MomentumNetwork, cosine_momentum
from keras_ssl.layers.queue import FeatureQueue

__all__ = ["BatchNormalization", "FeatureQueue", "LightnessInput", "MomentumNetwork",
           "StandardizedInput", "cosine_momentum"]
