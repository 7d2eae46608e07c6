"""Encoders: image -> pooled representation."""

from keras_ssl.encoders.amdim import AMDIMEncoder
from keras_ssl.encoders.resnet import ResNet, ResNet18, ResNet34, ResNet50

__all__ = ["AMDIMEncoder", "ResNet", "ResNet18", "ResNet34", "ResNet50"]
