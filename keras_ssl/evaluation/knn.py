"""Weighted k-nearest-neighbour classification of frozen features.

The protocol of Wu et al. 2018, "Unsupervised Feature Learning via
Non-Parametric Instance Discrimination" (Sec. 3.4), later used to monitor
SimCLR / MoCo training: features are L2-normalised, each test query takes its
``k`` most cosine-similar train features (the "memory bank"), neighbour ``i``
votes for its class with weight ``exp(s_i / temperature)``, and the class with
the largest summed weight is predicted.
"""

import numpy as np

from keras_ssl.evaluation import _validation, protocols
from keras_ssl.evaluation.retrieval import nearest_neighbours

WEIGHTINGS = ("exp", "uniform")


def knn_scores(
    train_features,
    train_labels,
    test_features,
    num_classes,
    k=200,
    temperature=0.1,
    weighting="exp",
    batch_size=1024,
):
    """Per-class kNN vote shares for each test feature.

    Implements the weighted kNN of Wu et al. 2018, "Unsupervised Feature
    Learning via Non-Parametric Instance Discrimination": cosine similarity to
    the train features, top-``k`` neighbours, each weighted by
    ``exp(sim / temperature)`` (``weighting="exp"``) or by 1 (``"uniform"``,
    plain majority vote). The summed class weights are divided by their total,
    so each row is a distribution over classes; this leaves the argmax (the
    paper's prediction) unchanged.

    Test queries are processed ``batch_size`` at a time; the similarity chunk
    takes ``4 * batch_size * N`` bytes (200 MB for 1024 x 50k).

    Example:

    >>> import numpy as np
    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> knn_scores(train, np.array([0, 0, 1]), np.array([[1.0, 0.05]]),
    ...            num_classes=2, k=2).round(3)
    array([[1., 0.]], dtype=float32)

    Args:
        train_features: float array [N, D], the memory bank.
        train_labels: int array [N], class ids in [0, num_classes).
        test_features: float array [M, D], the queries.
        num_classes: number of classes C.
        k: neighbours per query; must be <= N.
        temperature: the tau of exp(sim / tau); only used for ``"exp"``.
        weighting: ``"exp"`` (Wu et al. 2018) or ``"uniform"`` (majority vote).
        batch_size: test queries per chunk.

    Returns:
        float32 array [M, C]; row m sums to 1.

    Raises:
        ValueError: on malformed shapes / labels, ``k`` > N, or bad settings.
    """
    num_classes = _validation.check_positive_int("num_classes", num_classes)
    k = _validation.check_positive_int("k", k)
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"`weighting` must be one of {WEIGHTINGS}, got {weighting!r}.")
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
    train_features = _validation.check_features("train_features", train_features)
    num_train, dim = train_features.shape
    train_labels = _validation.check_labels("train_labels", train_labels, num_train, num_classes)
    test_features = _validation.check_features("test_features", test_features, dim=dim)
    if k > num_train:
        raise ValueError(
            f"k={k} is larger than the number of train features N={num_train}; "
            f"pass k <= {num_train}."
        )

    sims, neighbours = nearest_neighbours(test_features, train_features, k, batch_size)
    if weighting == "uniform":
        weights = np.ones_like(sims, np.float64)
    else:
        # Shifting by the best similarity cancels in the normalised shares and
        # keeps exp() finite for small temperatures (exp(1/0.001) overflows float64).
        weights = np.exp((sims - sims[:, :1]).astype(np.float64) / temperature)
    # Per-row class sums via one flat bincount: memory O(M*k), not O(M*k*C).
    segments = np.arange(len(sims))[:, None] * num_classes + train_labels[neighbours]
    votes = np.bincount(segments.ravel(), weights.ravel(), minlength=len(sims) * num_classes)
    votes = votes.reshape(len(sims), num_classes)
    return (votes / votes.sum(axis=1, keepdims=True)).astype(np.float32)


def knn_predict(
    train_features,
    train_labels,
    test_features,
    num_classes,
    k=200,
    temperature=0.1,
    weighting="exp",
    batch_size=1024,
):
    """Weighted kNN class predictions (Wu et al. 2018, Sec. 3.4).

    The argmax of :func:`knn_scores`; ties go to the lowest class id. See
    :func:`knn_scores` for the arguments.

    Example:

    >>> import numpy as np
    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> knn_predict(train, np.array([0, 0, 1]), np.array([[0.1, 1.0]]),
    ...             num_classes=2, k=1)
    array([1], dtype=int32)

    Returns:
        int array [M] of predicted class ids.
    """
    scores = knn_scores(
        train_features,
        train_labels,
        test_features,
        num_classes,
        k=k,
        temperature=temperature,
        weighting=weighting,
        batch_size=batch_size,
    )
    return np.argmax(scores, axis=1).astype(np.int32)


def knn_accuracy(
    train_features,
    train_labels,
    test_features,
    test_labels,
    num_classes,
    k=200,
    temperature=0.1,
    weighting="exp",
    batch_size=1024,
):
    """Top-1 accuracy of the weighted kNN classifier (Wu et al. 2018).

    Example:

    >>> import numpy as np
    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> knn_accuracy(train, np.array([0, 0, 1]), np.array([[1.0, 0.2], [0.2, 1.0]]),
    ...              np.array([0, 1]), num_classes=2, k=1)
    1.0

    Returns:
        python float in [0, 1]: fraction of test features whose prediction
        equals ``test_labels``.
    """
    num_classes = _validation.check_positive_int("num_classes", num_classes)
    test_labels = _validation.check_labels("test_labels", test_labels, len(test_features), num_classes)
    predictions = knn_predict(
        train_features,
        train_labels,
        test_features,
        num_classes,
        k=k,
        temperature=temperature,
        weighting=weighting,
        batch_size=batch_size,
    )
    return float(np.mean(predictions == test_labels))


def _run(data, features, ev, **_):
    """Wu et al.'s weighted kNN and plain majority kNN, with the run's k and temperature."""
    train_f, test_f = features
    kwargs = dict(k=min(ev.knn_k, len(train_f)), temperature=ev.knn_temperature)
    return {
        "protocol": "knn",
        "top1": knn_accuracy(train_f, data.train.labels, test_f, data.test.labels,
                             data.num_classes, weighting="exp", **kwargs),
        "majority_top1": knn_accuracy(train_f, data.train.labels, test_f, data.test.labels,
                                      data.num_classes, weighting="uniform", **kwargs),
        **kwargs, "metric": "cosine", "weighting": "exp(sim / temperature)",
        "majority_weighting": "uniform", "memory": "train split features",
        "num_train": int(len(train_f)), "num_test": int(len(test_f)),
    }


protocols.register(
    "knn", 10, _run, lambda r: {"kNN top-1": r["top1"], "kNN majority top-1": r["majority_top1"]},
    scores=r"top1|majority_top1", default=True, random_init=True,
    legacy=protocols.LegacyKeys({"knn_top1": "top1"}, {"random_init_knn_top1": "top1"}, "knn"))
