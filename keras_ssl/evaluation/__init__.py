"""Evaluation protocols for self-supervised encoders, in process or from an exported SavedModel.

One module per protocol, each registering it in :mod:`~keras_ssl.evaluation.protocols` (its
name, run function, headline numbers and score keys, which `keras-ssl eval` reads):

- :mod:`~keras_ssl.evaluation.features`: ``extract_features`` (arrays) and
  ``extract_dataset_features`` (streamed batches), ``split_features`` (a
  `keras_ssl.data.LabelledSplit`, either way) run an encoder in
  inference mode over uint8 images; ``SavedModelEncoder`` wraps a
  ``keras-ssl export`` SavedModel so every protocol takes it like a Keras encoder.
- :mod:`~keras_ssl.evaluation.layer_features`: ``LayerFeatures``, the features of any named
  layer (a ResNet stage, AMDIM's f7 / f5 / f1), average-pooled to ~9k dimensions (Goyal et
  al. 2019) and standardised, for every frozen-feature protocol layer by layer.
- :mod:`~keras_ssl.evaluation.knn`: weighted kNN of Wu et al. 2018,
  "Unsupervised Feature Learning via Non-Parametric Instance Discrimination",
  and plain majority kNN.
- :mod:`~keras_ssl.evaluation.linear_probe`: linear classifier on frozen
  features (Zhang et al. 2016; Chen et al. 2020, SimCLR).
- :mod:`~keras_ssl.evaluation.mlp_probe`: AMDIM's one-hidden-layer probe.
- :mod:`~keras_ssl.evaluation.block_classifiers`: RotNet's non-linear and
  convolutional classifiers on a block's frozen feature maps (Gidaris et al. 2018).
- :mod:`~keras_ssl.evaluation.finetune`: SimCLR's fine-tuning, on all labels or
  on a subset from :mod:`~keras_ssl.evaluation.subsets` (semi-supervised 1% / 10%).
- :mod:`~keras_ssl.evaluation.retrieval`: cosine nearest neighbours, Recall@k, mAP@k.
- :mod:`~keras_ssl.evaluation.clustering`: k-means, NMI, ARI, matched accuracy.
- :mod:`~keras_ssl.evaluation.online_probe`: a linear probe trained during pretraining.
- :mod:`~keras_ssl.evaluation.report`: report.md and its figures.

Example:

>>> features = extract_features(encoder, train_images)          # doctest: +SKIP
>>> knn_accuracy(features, train_labels, test_features, test_labels,
...              num_classes=10, k=200, temperature=0.1)        # doctest: +SKIP
"""

from keras_ssl.evaluation.block_classifiers import conv_classifier, nonlinear_classifier
from keras_ssl.evaluation.clustering import (clustering_accuracy, clustering_scores,
                                             kmeans_clustering)
from keras_ssl.evaluation.features import (SavedModelEncoder, encoder_image_size,
                                           extract_dataset_features, extract_features,
                                           split_features)
from keras_ssl.evaluation.finetune import finetune, finetune_split
from keras_ssl.evaluation.knn import knn_accuracy, knn_predict, knn_scores
from keras_ssl.evaluation.layer_features import (DEFAULT_MAX_DIMS, POOLED, LayerFeatures,
                                                 adaptive_average_pool, available_layers,
                                                 pooling_grid, standardize)
from keras_ssl.evaluation.linear_probe import linear_probe
from keras_ssl.evaluation.mlp_probe import mlp_probe
from keras_ssl.evaluation.online_probe import OnlineLinearProbe
from keras_ssl.evaluation.protocols import ProtocolError
from keras_ssl.evaluation.retrieval import nearest_neighbours, ranking_metrics, retrieval_metrics
from keras_ssl.evaluation.subsets import balanced_subset, read_subset_file

__all__ = [
    "DEFAULT_MAX_DIMS", "POOLED", "LayerFeatures", "OnlineLinearProbe", "ProtocolError",
    "SavedModelEncoder",
    "adaptive_average_pool", "available_layers", "balanced_subset", "clustering_accuracy",
    "clustering_scores", "conv_classifier", "encoder_image_size", "extract_dataset_features",
    "extract_features", "finetune", "finetune_split", "kmeans_clustering", "knn_accuracy",
    "knn_predict", "knn_scores", "linear_probe", "mlp_probe", "nearest_neighbours",
    "nonlinear_classifier",
    "pooling_grid", "protocols", "ranking_metrics", "read_subset_file", "retrieval_metrics",
    "split_features", "standardize",
]
