"""Optimizers and learning-rate schedules for self-supervised pre-training."""

from keras_ssl.optim.variable_rates import hold_learning_rate, scale_learning_rate_of
from keras_ssl.optim.lars import LARS
from keras_ssl.optim.schedules import WarmupCosineDecay, scale_learning_rate

__all__ = ["LARS", "WarmupCosineDecay", "hold_learning_rate", "scale_learning_rate",
           "scale_learning_rate_of"]
