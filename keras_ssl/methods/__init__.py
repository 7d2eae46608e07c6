"""Self-supervised methods: `keras.Model` subclasses trained by `model.fit`."""

from keras_ssl.methods.base import PretrainingMethod
from keras_ssl.methods.rotnet import RotNet
from keras_ssl.methods.simclr import SimCLR

__all__ = ["PretrainingMethod", "RotNet", "SimCLR"]
