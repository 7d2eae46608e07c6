"""Image retrieval with frozen features: nearest neighbours by cosine similarity.

Queries (the test split) are ranked against a gallery (the train split) by the
cosine similarity of their features. With labels, a gallery image is relevant to
a query when it has the query's class, and the ranking is scored by Recall@k
(Song et al. 2016, "Deep Metric Learning via Lifted Structured Feature
Embedding": a query counts as found when one of its k nearest neighbours is
relevant), precision@k and mAP@k (mean over queries of the average precision of
the top k, as in the hashing literature, e.g. Cao et al. 2017, "HashNet").
"""

import numpy as np
import tensorflow as tf

from keras_ssl.evaluation import _validation, protocols

# The cut-offs `keras-ssl eval` reports (those up to the gallery size).
RETRIEVAL_KS = (1, 5, 10, 100)


@tf.function(reduce_retracing=True)
def _chunk_top_k(queries, gallery, k):
    sims = tf.matmul(tf.math.l2_normalize(queries, axis=1), gallery, transpose_b=True)
    return tf.math.top_k(sims, k=k)


def nearest_neighbours(query_features, gallery_features, k, batch_size=1024):
    """The ``k`` gallery rows most cosine-similar to each query, most similar first.

    Queries are processed ``batch_size`` at a time; the similarity chunk takes
    ``4 * batch_size * N`` bytes (200 MB for 1024 x 50k). Ties go to the lower
    gallery index.

    Example:

    >>> import numpy as np
    >>> gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    >>> sims, idx = nearest_neighbours(np.array([[2.0, 0.1]]), gallery, k=2)
    >>> idx
    array([[0, 2]], dtype=int32)

    Args:
        query_features: float array [M, D].
        gallery_features: float array [N, D].
        k: neighbours per query; must be <= N.
        batch_size: queries per chunk.

    Returns:
        ``(similarities float32 [M, k], indices int32 [M, k])``.

    Raises:
        ValueError: on malformed features or ``k`` > N.
    """
    k = _validation.check_positive_int("k", k)
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    gallery_features = _validation.check_features("gallery_features", gallery_features)
    num_gallery, dim = gallery_features.shape
    query_features = _validation.check_features("query_features", query_features, dim=dim)
    if k > num_gallery:
        raise ValueError(
            f"k={k} is larger than the number of gallery (train) features N={num_gallery}; "
            f"pass k <= {num_gallery}."
        )
    gallery = tf.math.l2_normalize(tf.constant(gallery_features), axis=1)
    sims, indices = [], []
    for start in range(0, len(query_features), batch_size):
        chunk = _chunk_top_k(tf.constant(query_features[start : start + batch_size]), gallery,
                             tf.constant(k))
        sims.append(chunk.values.numpy())
        indices.append(chunk.indices.numpy())
    return np.concatenate(sims), np.concatenate(indices).astype(np.int32)


def ranking_metrics(relevant, ks):
    """Recall@k, precision@k and mAP@k of rankings given as a boolean relevance matrix.

    ``relevant[m, i]`` says whether the i-th ranked item of query m is relevant.
    AP@k of a query is the mean of precision@i over the ranks i <= k that hold a
    relevant item (0 if none does).

    Example:

    >>> metrics = ranking_metrics(np.array([[False, True, True]]), ks=(1, 3))
    >>> metrics["recall@1"], metrics["recall@3"], round(metrics["map@3"], 4)  # (1/2 + 2/3) / 2
    (0.0, 1.0, 0.5833)
    """
    relevant = np.asarray(relevant, bool)
    metrics = {}
    for k in ks:
        k = _validation.check_positive_int("ks", k)
        if k > relevant.shape[1]:
            raise ValueError(f"ks holds k={k} but only {relevant.shape[1]} neighbours were ranked.")
        hits = relevant[:, :k]
        precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
        num_hits = hits.sum(axis=1)
        average_precision = np.where(
            num_hits > 0, (precision_at_i * hits).sum(axis=1) / np.maximum(num_hits, 1), 0.0)
        metrics[f"recall@{k}"] = float(np.mean(num_hits > 0))
        metrics[f"precision@{k}"] = float(np.mean(hits.mean(axis=1)))
        metrics[f"map@{k}"] = float(np.mean(average_precision))
    return metrics


def retrieval_metrics(gallery_features, gallery_labels, query_features, query_labels,
                      ks=(1, 5, 10, 100), batch_size=1024):
    """Ranks the gallery for every query by cosine similarity and scores it by the labels.

    Example:

    >>> gallery = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> retrieval_metrics(gallery, np.array([0, 0, 1]), np.array([[0.1, 1.0]]),
    ...                   np.array([1]), ks=(1, 2))["precision@2"]
    0.5

    Args:
        gallery_features: float array [N, D] (the train split).
        gallery_labels: int array [N].
        query_features: float array [M, D] (the test split).
        query_labels: int array [M].
        ks: cut-offs k, each <= N.
        batch_size: queries per similarity chunk.

    Returns:
        dict with ``recall@k``, ``precision@k`` and ``map@k`` for each k, plus the
        settings (``protocol``, ``metric``, ``ks``, ``num_gallery``, ``num_queries``).
    """
    ks = tuple(_validation.check_positive_int("ks", k) for k in ks)
    if not ks:
        raise ValueError("`ks` is empty; pass at least one cut-off, e.g. ks=(1, 5, 10).")
    gallery_labels = np.asarray(gallery_labels)
    query_labels = np.asarray(query_labels)
    num_classes = int(max(gallery_labels.max(initial=0), query_labels.max(initial=0))) + 1
    gallery_labels = _validation.check_labels("gallery_labels", gallery_labels,
                                              len(gallery_features), num_classes)
    query_labels = _validation.check_labels("query_labels", query_labels, len(query_features),
                                            num_classes)
    _, indices = nearest_neighbours(query_features, gallery_features, max(ks), batch_size)
    metrics = ranking_metrics(gallery_labels[indices] == query_labels[:, None], ks)
    metrics.update(protocol="retrieval", metric="cosine", ks=list(ks),
                   num_gallery=int(len(gallery_features)), num_queries=int(len(query_features)))
    return metrics


def _run(data, features, **_):
    ks = [k for k in RETRIEVAL_KS if k <= len(features[0])]
    return retrieval_metrics(features[0], data.train.labels, features[1], data.test.labels, ks=ks)


def _headline(result):
    k = result["ks"][-1]
    return {"R@1": result["recall@1"], f"mAP@{k}": result[f"map@{k}"]}


protocols.register("retrieval", 60, _run, _headline, scores=r"(recall|precision|map)@\d+")
