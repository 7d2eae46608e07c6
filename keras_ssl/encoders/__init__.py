"""Encoders: image -> pooled representation."""

from keras_ssl.encoders.resnet import ResNet, ResNet18, ResNet34, ResNet50

__all__ = ["ResNet", "ResNet18", "ResNet34", "ResNet50"]
