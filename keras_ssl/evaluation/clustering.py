"""Clustering of frozen features: k-means, scored against the labels.

K-means (scikit-learn) is fit on the train features, with as many clusters as
classes; the test features are assigned to the nearest centre and scored by
normalised mutual information (NMI), the adjusted Rand index (ARI, Hubert &
Arabie 1985) and the accuracy under the best one-to-one matching of clusters to
classes (the Hungarian algorithm, SciPy), as in the deep-clustering literature
(e.g. Ji et al. 2019, "Invariant Information Clustering"; Van Gansbeke et al.
2020, "SCAN").
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import cluster, metrics

from keras_ssl.evaluation import _validation, protocols


def clustering_accuracy(labels, assignments):
    """Fraction of examples whose cluster maps to their class, under the best one-to-one map.

    The map maximises the matched count over the contingency table (Hungarian
    algorithm); with more clusters than classes the unmatched clusters count as wrong.

    Example:

    >>> clustering_accuracy([0, 0, 1, 1, 2], [2, 2, 0, 0, 1])   # a relabelling
    1.0
    >>> clustering_accuracy([0, 0, 1, 1], [0, 0, 0, 0])
    0.5
    """
    labels = np.asarray(labels)
    assignments = np.asarray(assignments)
    if labels.shape != assignments.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"`labels` {labels.shape} and `assignments` {assignments.shape} must be "
                         "non-empty 1-D arrays of the same length.")
    table = metrics.cluster.contingency_matrix(labels, assignments)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(labels))


def clustering_scores(labels, assignments):
    """NMI, ARI and matched accuracy of cluster `assignments` against class `labels`.

    Example:

    >>> clustering_scores([0, 0, 1, 1], [1, 1, 0, 0])
    {'nmi': 1.0, 'ari': 1.0, 'accuracy': 1.0}
    """
    return {
        "nmi": float(metrics.normalized_mutual_info_score(labels, assignments)),
        "ari": float(metrics.adjusted_rand_score(labels, assignments)),
        "accuracy": clustering_accuracy(labels, assignments),
    }


def kmeans_clustering(train_features, test_features, test_labels, num_clusters, normalize=True,
                      n_init=10, seed=0):
    """Fits k-means on the train features and scores the test features' clusters.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> centres = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])
    >>> labels = rng.integers(0, 3, 300)
    >>> x = centres[labels] + rng.standard_normal((300, 2))
    >>> kmeans_clustering(x[:200], x[200:], labels[200:], 3, normalize=False)["accuracy"]
    1.0

    Args:
        train_features: float array [N, D]; k-means is fit on these (no labels used).
        test_features: float array [M, D], assigned to the nearest centre.
        test_labels: int array [M], only used to score.
        num_clusters: k (the number of classes).
        normalize: L2-normalise the features first, so distances follow the cosine
            similarity the other protocols use.
        n_init: k-means restarts (the best inertia is kept).
        seed: seed of the k-means initialisations.

    Returns:
        dict with ``nmi``, ``ari`` and ``accuracy`` on the test split and the settings.
    """
    num_clusters = _validation.check_positive_int("num_clusters", num_clusters)
    n_init = _validation.check_positive_int("n_init", n_init)
    train_features = _validation.check_features("train_features", train_features)
    test_features = _validation.check_features("test_features", test_features,
                                               dim=train_features.shape[1])
    test_labels = np.asarray(test_labels)
    if test_labels.shape != (len(test_features),):
        raise ValueError(f"`test_labels` has shape {test_labels.shape}; expected "
                         f"[{len(test_features)}], one label per test feature.")
    if num_clusters > len(train_features):
        raise ValueError(f"num_clusters={num_clusters} exceeds the {len(train_features)} train "
                         "features.")
    if normalize:
        train_features = train_features / np.maximum(
            np.linalg.norm(train_features, axis=1, keepdims=True), 1e-12)
        test_features = test_features / np.maximum(
            np.linalg.norm(test_features, axis=1, keepdims=True), 1e-12)
    kmeans = cluster.KMeans(num_clusters, n_init=n_init, random_state=seed)
    kmeans.fit(train_features)
    result = clustering_scores(test_labels, kmeans.predict(test_features))
    result.update(protocol="kmeans", num_clusters=num_clusters, normalize=bool(normalize),
                  n_init=n_init, seed=int(seed), fit_split="train", scored_split="test",
                  num_train=int(len(train_features)), num_test=int(len(test_features)))
    return result


def _run(data, features, seed, **_):
    return kmeans_clustering(features[0], features[1], data.test.labels, data.num_classes,
                             seed=seed)


protocols.register(
    "cluster", 70, _run,
    lambda r: {"k-means NMI": r["nmi"], "k-means ARI": r["ari"], "k-means acc": r["accuracy"]},
    scores=r"nmi|ari|accuracy")
