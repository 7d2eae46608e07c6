"""keras-ssl: self-supervised visual representation learning for Keras 3 / TensorFlow.

`import keras_ssl` imports every subpackage, so `keras_ssl.methods.SimCLR(...)` works after it alone
and `keras.models.load_model` finds keras_ssl's classes (they register themselves on import).
"""

from keras_ssl import (augment, callbacks, config_checks, data, distribute, encoders, evaluation,
                       export, files, heads, layers, losses, methods, optim)

__version__ = "0.1.0"

__all__ = ["augment", "callbacks", "config_checks", "data", "distribute", "encoders",
           "evaluation", "export", "files", "heads", "layers", "losses", "methods", "optim"]
