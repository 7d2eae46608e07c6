"""SimSiam: the negative cosine with its stop-gradient against NumPy float64, and the predictor's
fixed learning rate in a real step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import optim
from keras_ssl.encoders import ResNet18
from keras_ssl.losses import negative_cosine
from keras_ssl.methods import SimSiam


def test_negative_cosine_matches_reference_and_stops_the_gradient():
    rng = np.random.default_rng(0)
    p, z = rng.normal(size=(2, 6, 5)) * rng.uniform(0.1, 10, size=(2, 6, 1))
    want = -np.mean([p[i] @ z[i] / np.linalg.norm(p[i]) / np.linalg.norm(z[i])
                     for i in range(6)])
    pt, zt = tf.Variable(p, dtype=tf.float32), tf.Variable(z, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = negative_cosine(pt, zt)
    grad_p, grad_z = tape.gradient(loss, [pt, zt])
    np.testing.assert_allclose(float(loss), want, rtol=1e-6)
    assert grad_z is None and np.abs(grad_p.numpy()).max() > 1e-3
    assert float(negative_cosine(tf.constant(z), tf.constant(3 * z))) == pytest.approx(-1.0)


def _model(fix):
    keras.utils.set_random_seed(0)
    encoder = ResNet18(stem="cifar", width_multiplier=0.125, input_shape=(16, 16, 3))
    model = SimSiam(encoder, projection_hidden_dims=(32,), projection_dim=32,
                    prediction_hidden_dim=8, fix_predictor_learning_rate=fix)
    # The warm-up's first step has rate 0 (then 0.05, 0.1, ...): only a held rate moves anything.
    schedule = optim.WarmupCosineDecay(0.1, total_steps=10, warmup_steps=2)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=1e-3))
    model.build((None, 16, 16, 3))
    return model


@pytest.mark.parametrize("fix", [True, False])
def test_the_predictor_learns_at_the_peak_rate_from_the_first_step(fix):
    model = _model(fix)
    rng = np.random.default_rng(1)
    views = tuple(tf.constant(rng.random((8, 16, 16, 3), np.float32)) for _ in range(2))
    predictor = {id(v) for v in model.predictor.trainable_variables}
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = model.train_step(views)
    assert set(logs) == {"loss", "embedding_std"}
    for v, b in zip(model.trainable_variables, before):
        moved = np.abs(v.numpy() - b).max()
        if fix and id(v) in predictor:
            assert moved > 1e-4, v.path  # at 0.1
        else:
            assert moved == 0, v.path  # at the schedule's 0
