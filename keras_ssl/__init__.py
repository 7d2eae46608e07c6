"""keras-ssl: self-supervised visual representation learning for Keras 3 / TensorFlow.

`import keras_ssl` is light; each subpackage is imported on first use, so
`keras_ssl.methods.SimCLR(keras_ssl.encoders.ResNet18(stem="cifar"))` works after `import keras_ssl`
alone, and the CLI can set TensorFlow's logging before TensorFlow is imported.
"""

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = ("augment", "callbacks", "config_checks", "data", "distribute", "encoders",
                "evaluation", "export", "heads", "losses", "methods", "momentum", "optim", "queue")

__all__ = list(_SUBPACKAGES)


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"keras_ssl.{name}")
    raise AttributeError(f"module 'keras_ssl' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBPACKAGES))
