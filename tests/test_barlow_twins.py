"""Barlow Twins: its loss against the paper's eqs. 1-2 in NumPy float64, and its per-group
learning rate (biases and batch norm at 0.0048 / 0.2 of the weights')."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.encoders import ResNet18
from keras_ssl.losses import barlow_twins_loss
from keras_ssl.methods import BarlowTwins


def barlow_twins_reference(z1, z2, lambd, epsilon=1e-5):
    """Eqs. 1-2 entry by entry: C_ij = sum_b z1n[b, i] z2n[b, j] / N of each dimension standardised
    over the batch (biased variance, as the authors' batch norm)."""
    z1, z2 = np.asarray(z1, np.float64), np.asarray(z2, np.float64)
    n, d = z1.shape
    a = (z1 - z1.mean(0)) / np.sqrt(z1.var(0) + epsilon)
    b = (z2 - z2.mean(0)) / np.sqrt(z2.var(0) + epsilon)
    on, off = 0.0, 0.0
    for i in range(d):
        for j in range(d):
            c = sum(a[k, i] * b[k, j] for k in range(n)) / n
            if i == j:
                on += (1 - c) ** 2
            else:
                off += c ** 2
    return on + lambd * off, on, off


@pytest.mark.parametrize("n,d,lambd", [(8, 4, 5e-3), (16, 6, 0.5), (5, 3, 1.0)])
def test_barlow_twins_loss_matches_reference(n, d, lambd):
    rng = np.random.default_rng(n + d)
    z1 = rng.normal(size=(n, d)) * rng.uniform(0.5, 4, size=d) + rng.normal(size=d)
    z2 = 0.7 * z1 + rng.normal(size=(n, d))
    loss, on, off = barlow_twins_loss(tf.constant(z1, tf.float32), tf.constant(z2, tf.float32),
                                      lambd)
    ref_loss, ref_on, ref_off = barlow_twins_reference(z1, z2, lambd)
    np.testing.assert_allclose([float(loss), float(on), float(off)], [ref_loss, ref_on, ref_off],
                               rtol=1e-5)
    assert ref_off > 0.1  # the off-diagonal terms count


def test_barlow_twins_loss_is_zero_for_identical_decorrelated_views():
    # Orthonormal columns spanning centred data are centred and uncorrelated: C is the identity
    # (up to the epsilon of the standardisation).
    centred = np.random.default_rng(0).normal(size=(16, 4))
    z, _ = np.linalg.qr(centred - centred.mean(0))
    loss, on, off = barlow_twins_loss(tf.constant(z, tf.float32), tf.constant(z, tf.float32))
    ref = barlow_twins_reference(z, z, 5e-3)
    np.testing.assert_allclose([float(loss), float(on), float(off)], ref, atol=1e-5)
    assert ref[0] < 1e-6


def test_biases_and_batch_norm_learn_at_their_own_rate():
    """One SGD step from the same weights with and without the scale: 2-d kernels move alike, every
    1-d variable (biases, batch-norm gamma / beta) moves by the scale times as much."""
    def step(scale):
        keras.utils.set_random_seed(0)
        encoder = ResNet18(stem="cifar", width_multiplier=0.125, input_shape=(16, 16, 3))
        model = BarlowTwins(encoder, projection_hidden_dims=(16,), projection_dim=8,
                            bias_learning_rate_scale=scale)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        model.build((None, 16, 16, 3))
        views = tuple(tf.constant(np.random.default_rng(s).random((8, 16, 16, 3), np.float32))
                      for s in (1, 2))
        before = [v.numpy().copy() for v in model.trainable_variables]
        model.train_step(views)
        return [(v.path, len(v.shape), v.numpy() - b)
                for v, b in zip(model.trainable_variables, before)]
    scaled, plain = step(0.25), step(1.0)
    moved = 0
    for (path, rank, delta), (_, _, plain_delta) in zip(scaled, plain):
        want = plain_delta * (0.25 if rank == 1 else 1.0)
        np.testing.assert_allclose(delta, want, rtol=1e-4, atol=1e-7, err_msg=path)
        moved += rank == 1 and np.abs(plain_delta).max() > 1e-4
    assert moved > 5
