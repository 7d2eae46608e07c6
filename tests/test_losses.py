"""Tests for keras_ssl.losses.nt_xent against SimCLR's eq. 1 written out in NumPy float64."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import losses
from keras_ssl.losses import nt_xent


def nt_xent_reference(z1, z2, temperature):
    """SimCLR (Chen et al. 2020) eq. 1, one row at a time, in float64.

    Embeddings 0..N-1 are the first views and N..2N-1 the second; the positive of k is k + N mod 2N.
    l(i, j) = -log(exp(s_ij / t) / sum_{k != i} exp(s_ik / t)); the loss averages the 2N rows.
    Returns (loss, fraction of rows whose positive has the largest similarity among k != i).
    """
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    two_n = len(z)
    losses, hits = [], []
    for i in range(two_n):
        j = (i + two_n // 2) % two_n
        others = [k for k in range(two_n) if k != i]
        logits = np.array([z[i] @ z[k] / temperature for k in others])
        top = logits.max()
        log_denominator = top + math.log(np.exp(logits - top).sum())
        losses.append(log_denominator - z[i] @ z[j] / temperature)
        hits.append(others[int(np.argmax(logits))] == j)
    return float(np.mean(losses)), float(np.mean(hits))


def _embeddings(n, d, seed, scale=1.0, positive_noise=None):
    """Random pairs; with `positive_noise`, z2 is z1 plus noise so some positives win."""
    rng = np.random.default_rng(seed)
    z1 = rng.normal(size=(n, d))
    z2 = rng.normal(size=(n, d)) if positive_noise is None else (
        z1 + positive_noise * rng.normal(size=(n, d)))
    return (scale * z1).astype(np.float32), (scale * z2).astype(np.float32)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("n,d", [(1, 4), (2, 3), (7, 16), (32, 8)])
def test_nt_xent_matches_reference(temperature, n, d):
    z1, z2 = _embeddings(n, d, seed=n * 100 + d, positive_noise=1.0)
    loss, accuracy = nt_xent(z1, z2, temperature)
    ref_loss, ref_accuracy = nt_xent_reference(z1, z2, temperature)
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-5, atol=1e-6)
    assert accuracy.numpy() == pytest.approx(ref_accuracy, abs=1e-7)
    if n > 1:
        assert ref_loss > 0


@pytest.mark.parametrize("temperature", [0.05, 0.01])
@pytest.mark.parametrize("noise", [None, 2.0])
def test_nt_xent_matches_reference_with_large_logits(noise, temperature):
    # Embeddings of norm ~1e3 (only their direction may count) and logits up to 1 / t = 100, where
    # exp overflows float32: the loss must normalise and use a stable log-sum-exp.
    z1, z2 = _embeddings(64, 32, seed=5, scale=1e3, positive_noise=noise)
    loss, accuracy = nt_xent(z1, z2, temperature)
    ref_loss, ref_accuracy = nt_xent_reference(z1, z2, temperature)
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-5)
    assert accuracy.numpy() == pytest.approx(ref_accuracy, abs=1e-7)
    assert 0.0 < ref_accuracy < 1.0 if noise else ref_accuracy < 0.2


def test_nt_xent_hand_computed_pairs():
    # a1 = e1, a2 = e2, b1 = e1, b2 = -e2 (scaled: only directions count), t = 1.
    # a1, b1: positive similarity 1, the two others 0 -> l = -log(e / (e + 2)) = log(e + 2) - 1.
    # a2, b2: positive similarity -1, the two others 0 -> l = -log(e^-1 / (e^-1 + 2)) = log(e^-1 + 2) + 1.
    # Loss = mean of the four = (log(e + 2) + log(2 + 1/e)) / 2; rows a1, b1 are right, a2, b2 wrong.
    z1 = np.array([[3.0, 0.0], [0.0, 0.5]], np.float32)
    z2 = np.array([[2.0, 0.0], [0.0, -4.0]], np.float32)
    loss, accuracy = nt_xent(z1, z2, temperature=1.0)
    expected = (math.log(math.e + 2) + math.log(2 + 1 / math.e)) / 2  # 1.2067...
    assert loss.numpy() == pytest.approx(expected, rel=1e-6)
    assert accuracy.numpy() == 0.5


def test_nt_xent_gradient_is_finite_and_matches_finite_differences():
    z1, z2 = _embeddings(4, 6, seed=9, scale=1e3, positive_noise=0.5)
    temperature = 0.05
    v1, v2 = tf.Variable(z1), tf.Variable(z2)
    with tf.GradientTape() as tape:
        loss, _ = nt_xent(v1, v2, temperature)
    g1, g2 = (g.numpy() for g in tape.gradient(loss, [v1, v2]))
    assert np.all(np.isfinite(g1)) and np.all(np.isfinite(g2))
    assert np.abs(g1).max() > 0 and np.abs(g2).max() > 0

    # Central differences of the float64 reference, step relative to the embedding scale.
    z1, z2 = z1.astype(np.float64), z2.astype(np.float64)
    step = 1e-3
    for grad, which in ((g1, 0), (g2, 1)):
        numeric = np.zeros_like(grad, dtype=np.float64)
        for idx in np.ndindex(*grad.shape):
            plus, minus = [z1.copy(), z2.copy()], [z1.copy(), z2.copy()]
            plus[which][idx] += step
            minus[which][idx] -= step
            numeric[idx] = (nt_xent_reference(*plus, temperature)[0]
                            - nt_xent_reference(*minus, temperature)[0]) / (2 * step)
        np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-7 + 1e-3 * np.abs(numeric).max())


def test_nt_xent_accepts_low_precision_inputs():
    z1, z2 = _embeddings(8, 8, seed=11, positive_noise=1.0)
    loss, accuracy = nt_xent(tf.constant(z1, tf.bfloat16), tf.constant(z2, tf.bfloat16), 0.5)
    assert loss.dtype == tf.float32 and accuracy.dtype == tf.float32
    ref_loss, _ = nt_xent_reference(tf.cast(tf.constant(z1, tf.bfloat16), tf.float32).numpy(),
                                    tf.cast(tf.constant(z2, tf.bfloat16), tf.float32).numpy(), 0.5)
    np.testing.assert_allclose(loss.numpy(), ref_loss, rtol=1e-5)


def test_embedding_std_matches_numpy_and_reads_collapse():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(512, 64)) * rng.uniform(0.5, 3.0, size=(512, 1))
    normed = z / np.linalg.norm(z, axis=1, keepdims=True)
    expected = normed.std(axis=0).mean()  # population std, as tf.math.reduce_std
    np.testing.assert_allclose(losses.embedding_std(tf.constant(z, tf.float32)), expected, rtol=1e-5)
    # Healthy isotropic embeddings: ~1/sqrt(d); one vector for all images: 0.
    assert abs(expected - 1 / np.sqrt(64)) < 0.01
    collapsed = np.tile(z[:1], (512, 1)) + 1e-6 * rng.normal(size=(512, 64))
    assert float(losses.embedding_std(tf.constant(collapsed, tf.float32))) < 1e-4
