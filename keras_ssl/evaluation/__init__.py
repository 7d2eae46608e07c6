"""Evaluation protocols for frozen self-supervised encoders.

One module per protocol:

- :mod:`~keras_ssl.evaluation.features`: ``extract_features`` runs an encoder in
  inference mode over uint8 images.
- :mod:`~keras_ssl.evaluation.knn`: weighted kNN of Wu et al. 2018,
  "Unsupervised Feature Learning via Non-Parametric Instance Discrimination".
- :mod:`~keras_ssl.evaluation.linear_probe`: linear classifier on frozen
  features (Zhang et al. 2016; Chen et al. 2020, SimCLR).

Example:

>>> features = extract_features(encoder, train_images)          # doctest: +SKIP
>>> knn_accuracy(features, train_labels, test_features, test_labels,
...              num_classes=10, k=200, temperature=0.1)        # doctest: +SKIP
"""

from keras_ssl.evaluation.features import extract_features
from keras_ssl.evaluation.knn import knn_accuracy, knn_predict, knn_scores
from keras_ssl.evaluation.linear_probe import linear_probe

__all__ = ["extract_features", "knn_accuracy", "knn_predict", "knn_scores", "linear_probe"]
