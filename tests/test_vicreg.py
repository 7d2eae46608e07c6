"""VICReg's loss against the paper's eqs. 1-6 (with the authors' halved variance) in NumPy
float64."""

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.losses import vicreg_loss


def vicreg_reference(z1, z2, lam=25.0, mu=25.0, nu=1.0, gamma=1.0, epsilon=1e-4):
    z1, z2 = np.asarray(z1, np.float64), np.asarray(z2, np.float64)
    d = z1.shape[1]
    invariance = np.mean((z1 - z2) ** 2)

    def variance(z):
        return np.mean(np.maximum(0.0, gamma - np.sqrt(np.var(z, axis=0, ddof=1) + epsilon)))

    def covariance(z):
        c = np.cov(z, rowvar=False)  # centred, divided by N - 1
        return sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j) / d

    v = 0.5 * (variance(z1) + variance(z2))
    c = covariance(z1) + covariance(z2)
    return lam * invariance + mu * v + nu * c, invariance, v, c


@pytest.mark.parametrize("n,d,scale", [(8, 4, 0.3), (16, 6, 2.0), (32, 5, 0.9)])
def test_vicreg_loss_matches_reference(n, d, scale):
    # Scales below and above gamma = 1: the hinge of the variance term on and off.
    rng = np.random.default_rng(n * d)
    mixing = rng.normal(size=(d, d))  # correlated dimensions: covariance terms count
    z1 = scale * rng.normal(size=(n, d)) @ mixing + rng.normal(size=d)
    z2 = z1 + 0.5 * rng.normal(size=(n, d))
    got = vicreg_loss(tf.constant(z1, tf.float32), tf.constant(z2, tf.float32))
    ref = vicreg_reference(z1, z2)
    np.testing.assert_allclose([float(t) for t in got], ref, rtol=1e-5, atol=1e-6)
    assert ref[3] > 0.01


def test_vicreg_weights_and_gamma_reach_the_terms():
    rng = np.random.default_rng(3)
    z1, z2 = rng.normal(size=(2, 12, 5)) * 0.4
    got = vicreg_loss(tf.constant(z1, tf.float32), tf.constant(z2, tf.float32), 1.0, 2.0, 3.0,
                      gamma=0.5, epsilon=1e-3)
    ref = vicreg_reference(z1, z2, 1.0, 2.0, 3.0, gamma=0.5, epsilon=1e-3)
    np.testing.assert_allclose([float(t) for t in got], ref, rtol=1e-5, atol=1e-6)
    assert ref[2] > 0  # some std below gamma = 0.5
