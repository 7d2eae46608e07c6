"""Optimizers and learning-rate schedules for self-supervised pre-training."""

from keras_ssl.optim.lars import LARS
from keras_ssl.optim.schedules import WarmupCosineDecay, scale_learning_rate

__all__ = ["LARS", "WarmupCosineDecay", "scale_learning_rate"]
