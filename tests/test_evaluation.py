"""Tests for keras_ssl.evaluation: feature extraction, weighted kNN, linear probe."""

import json

import keras
import numpy as np
import pytest

from keras_ssl.evaluation import (
    extract_features,
    knn_accuracy,
    knn_predict,
    knn_scores,
    linear_probe,
)


def reference_knn_scores(train_features, train_labels, test_features, num_classes, k, temperature, weighting):
    """Float64 loop version of Wu et al. 2018's weighted kNN (raw exp weights, no shift)."""
    train = np.asarray(train_features, np.float64)
    test = np.asarray(test_features, np.float64)
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    test /= np.linalg.norm(test, axis=1, keepdims=True)
    scores = np.zeros((len(test), num_classes))
    for row, query in enumerate(test):
        sims = train @ query
        neighbours = np.argsort(-sims, kind="stable")[:k]
        if weighting == "exp":
            weights = np.exp(sims[neighbours] / temperature)
        else:
            weights = np.ones(k)
        votes = np.bincount(train_labels[neighbours], weights=weights, minlength=num_classes)
        scores[row] = votes / votes.sum()
    return scores


@pytest.mark.parametrize(
    "k, temperature, weighting",
    [(1, 0.1, "exp"), (7, 0.1, "exp"), (50, 0.5, "exp"), (7, 0.1, "uniform"), (50, 0.1, "uniform")],
)
def test_knn_matches_numpy_reference(k, temperature, weighting):
    rng = np.random.default_rng(0)
    num_classes = 5
    train = rng.standard_normal((300, 16)).astype(np.float32)
    labels = rng.integers(0, num_classes, 300)
    test = rng.standard_normal((101, 16)).astype(np.float32)

    expected = reference_knn_scores(train, labels, test, num_classes, k, temperature, weighting)
    # batch_size=32 does not divide 101: exercises the ragged last chunk.
    kwargs = dict(k=k, temperature=temperature, weighting=weighting, batch_size=32)
    scores = knn_scores(train, labels, test, num_classes, **kwargs)
    predictions = knn_predict(train, labels, test, num_classes, **kwargs)

    assert scores.shape == (101, num_classes)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(predictions, np.argmax(expected, axis=1))


def test_knn_hand_computed_case():
    # Query [1, 0]: one class-1 neighbour at cosine 1, two class-0 neighbours at 0.6.
    train = np.array([[1.0, 0.0], [0.6, 0.8], [0.6, -0.8], [-1.0, 0.0]], np.float32)
    labels = np.array([1, 0, 0, 0])
    query = np.array([[3.0, 0.0]], np.float32)  # length must not matter (cosine)

    # Majority vote: 2 vs 1 for class 0.
    assert knn_predict(train, labels, query, 2, k=3, weighting="uniform")[0] == 0
    np.testing.assert_allclose(knn_scores(train, labels, query, 2, k=3, weighting="uniform"), [[2 / 3, 1 / 3]])
    # exp(1/0.1) outweighs 2 * exp(0.6/0.1): class 1.
    share_1 = np.exp(10.0) / (np.exp(10.0) + 2 * np.exp(6.0))
    np.testing.assert_allclose(
        knn_scores(train, labels, query, 2, k=3, temperature=0.1), [[1 - share_1, share_1]], rtol=1e-6
    )
    assert knn_predict(train, labels, query, 2, k=3, temperature=0.1)[0] == 1
    assert knn_accuracy(train, labels, query, np.array([1]), 2, k=3, temperature=0.1) == 1.0
    assert knn_accuracy(train, labels, query, np.array([1]), 2, k=3, weighting="uniform") == 0.0


def test_knn_small_temperature_does_not_overflow():
    # exp(1 / 0.005) overflows float32 (not float64): the vote shares must still be the reference's.
    train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], np.float32)
    labels, query = np.array([0, 1, 1]), np.array([[1.0, 0.02]], np.float32)
    scores = knn_scores(train, labels, query, 2, k=3, temperature=0.005)
    expected = reference_knn_scores(train, labels, query, 2, 3, 0.005, "exp")
    assert 0.5 < expected[0, 0] < 0.99  # both classes hold a share: the test is not of an argmax
    np.testing.assert_allclose(scores, expected, rtol=1e-4)


def test_knn_k_larger_than_train_set_raises():
    rng = np.random.default_rng(0)
    train = rng.standard_normal((10, 4))
    with pytest.raises(ValueError, match=r"k=11.*N=10"):
        knn_predict(train, np.zeros(10, int), train, num_classes=2, k=11)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(train_labels=np.zeros(9, int)), "train_labels"),
        (dict(train_labels=np.full(10, 3)), r"num_classes=2"),
        (dict(test_features=np.zeros((5, 3))), "feature dimension 3"),
        (dict(test_features=np.full((5, 4), np.nan)), "NaN"),
        (dict(train_features=np.zeros(10)), r"\[N, D\]"),
        (dict(weighting="cosine"), "weighting"),
        (dict(temperature=0.0), "temperature"),
    ],
)
def test_knn_rejects_bad_input(change, message):
    rng = np.random.default_rng(0)
    kwargs = dict(
        train_features=rng.standard_normal((10, 4)),
        train_labels=np.zeros(10, int),
        test_features=rng.standard_normal((5, 4)),
        num_classes=2,
        k=3,
    )
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        knn_predict(**kwargs)


def make_blobs(num_per_class, num_classes, dim, separation, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_classes, dim)) * separation
    labels = np.repeat(np.arange(num_classes), num_per_class)
    features = centres[labels] + rng.standard_normal((len(labels), dim))
    order = rng.permutation(len(labels))
    return features[order].astype(np.float32), labels[order]


def test_linear_probe_separates_blobs():
    train, train_labels = make_blobs(500, 4, 16, separation=5.0, seed=0)
    test, test_labels = make_blobs(100, 4, 16, separation=5.0, seed=0)
    result = linear_probe(train, train_labels, test, test_labels, num_classes=4, epochs=10, batch_size=256)
    assert result["top1"] >= 0.99
    assert result["top5"] == 1.0 and result["top5_k"] == 4
    assert result["num_train"] == 2000 and result["feature_dim"] == 16
    json.dumps(result)  # settings must be storable in metrics.json


def test_linear_probe_random_labels_is_chance():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((6000, 32)).astype(np.float32)
    labels = rng.integers(0, 10, 6000)
    result = linear_probe(features[:4000], labels[:4000], features[4000:], labels[4000:], num_classes=10, epochs=5)
    # Chance is 0.1 (top-5: 0.5); the std of a 2000-sample accuracy is ~0.007.
    assert 0.06 <= result["top1"] <= 0.14
    assert 0.44 <= result["top5"] <= 0.56


def test_linear_probe_standardises_with_train_statistics():
    # Classes at -5 / +5 on one axis; the test set holds class 1 only. Statistics
    # taken from the test set would centre it on the decision boundary.
    rng = np.random.default_rng(0)
    train_labels = rng.integers(0, 2, 1000)
    train = np.stack([10.0 * train_labels - 5.0, np.zeros(1000)], axis=1) + rng.standard_normal((1000, 2))
    test = np.stack([np.full(200, 5.0), np.zeros(200)], axis=1) + rng.standard_normal((200, 2))
    result = linear_probe(train, train_labels, test, np.ones(200, int), num_classes=2, epochs=5, batch_size=128)
    assert result["top1"] >= 0.99


def test_linear_probe_is_deterministic_given_seed():
    train, train_labels = make_blobs(200, 3, 8, separation=0.7, seed=1)
    test, test_labels = make_blobs(100, 3, 8, separation=0.7, seed=2)
    args = (train, train_labels, test, test_labels, 3)
    first = linear_probe(*args, epochs=3, batch_size=64, seed=5)
    second = linear_probe(*args, epochs=3, batch_size=64, seed=5)
    assert first == second


def test_linear_probe_rejects_mismatched_labels():
    train, train_labels = make_blobs(10, 2, 4, separation=1.0, seed=0)
    with pytest.raises(ValueError, match="test_labels"):
        linear_probe(train, train_labels, train, train_labels[:-1], num_classes=2)


def small_encoder(pooled=True):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same")(inputs)
    bn = keras.layers.BatchNormalization()
    x = keras.layers.ReLU()(bn(x))
    if pooled:
        x = keras.layers.GlobalAveragePooling2D()(x)
    encoder = keras.Model(inputs, x)
    # Non-default moving statistics, so inference and training mode differ.
    bn.moving_mean.assign(np.full(6, 0.3, np.float32))
    bn.moving_variance.assign(np.full(6, 2.0, np.float32))
    return encoder


def test_extract_features_matches_direct_inference_call():
    encoder = small_encoder()
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    features = extract_features(encoder, images, batch_size=4)  # 4 does not divide 10

    scaled = images.astype(np.float32) / 255.0
    expected = keras.ops.convert_to_numpy(encoder(scaled, training=False))
    assert features.dtype == np.float32 and features.shape == (10, 6)
    np.testing.assert_allclose(features, expected, atol=1e-5)
    training_mode = keras.ops.convert_to_numpy(encoder(scaled, training=True))
    assert np.abs(features - training_mode).max() > 1e-3


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((4, 8, 8), np.uint8), r"\[N, H, W, 3\]"),
        (np.zeros((4, 8, 8, 1), np.uint8), r"\[N, H, W, 3\]"),
        (np.zeros((4, 8, 8, 3), np.float32), "uint8"),
        (np.zeros((0, 8, 8, 3), np.uint8), "empty"),
    ],
)
def test_extract_features_rejects_bad_images(images, message):
    with pytest.raises(ValueError, match=message):
        extract_features(small_encoder(), images)


def test_extract_features_rejects_unpooled_encoder():
    images = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        extract_features(small_encoder(pooled=False), images)
