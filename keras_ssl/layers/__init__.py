"""Layers shared by encoders and heads."""

from keras_ssl.layers.batch_norm import BatchNormalization

__all__ = ["BatchNormalization"]
