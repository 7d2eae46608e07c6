"""Heads placed on top of an encoder."""

from keras_ssl.heads.mlp import MLPHead
from keras_ssl.heads.tile_encoder import TileEncoder, accept_any_image_size

__all__ = ["MLPHead"]
