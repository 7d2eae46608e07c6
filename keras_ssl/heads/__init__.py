"""Heads placed on top of an encoder."""

from keras_ssl.heads.mlp import MLPHead

__all__ = ["MLPHead"]
