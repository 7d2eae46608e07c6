"""Encoders: image -> pooled representation, with named feature layers (`feature_layers`); the
`registry` names them for configs (`encoder.kind`)."""

from keras_ssl.encoders import registry
from keras_ssl.encoders.amdim import AMDIMEncoder
from keras_ssl.encoders.feature_layers import POOLED, feature_layers, feature_maps_model
from keras_ssl.encoders.resnet import ResNet, ResNet18, ResNet34, ResNet50

__all__ = ["AMDIMEncoder", "POOLED", "ResNet", "ResNet18", "ResNet34", "ResNet50",
           "feature_layers", "feature_maps_model", "registry"]
