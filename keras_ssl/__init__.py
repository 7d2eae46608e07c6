"""keras-ssl: self-supervised visual representation learning for Keras 3 / TensorFlow."""

__version__ = "0.1.0"
