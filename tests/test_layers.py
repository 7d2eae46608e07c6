"""keras_ssl.layers.BatchNormalization (TensorFlow's fused kernel) against a NumPy float64 reference
of batch norm's forward pass, backward pass and moving statistics, and against Keras' own layer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import BatchNormalization

EPS, MOMENTUM = 1e-5, 0.9


def reference(x, gamma, beta, dy):
    """Training-mode batch norm over all axes but the last, and its gradients, in float64."""
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axes), x.var(axes)  # biased, as the paper's normalisation
    x_hat = (x - mean) / np.sqrt(var + EPS)
    y = gamma * x_hat + beta
    dx = gamma / np.sqrt(var + EPS) * (dy - dy.mean(axes) - x_hat * (dy * x_hat).mean(axes))
    return y, dx, (dy * x_hat).sum(axes), dy.sum(axes), mean, var


@pytest.mark.parametrize("shape", [(6, 5, 4, 3), (12, 7)])
def test_training_step_equals_the_float64_reference(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, shape)
    dy = rng.normal(size=shape)
    gamma, beta = rng.uniform(0.5, 2.0, shape[-1]), rng.normal(size=shape[-1])
    layer = BatchNormalization(momentum=MOMENTUM, epsilon=EPS)
    layer.build(shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    xt = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=True)
        loss = tf.reduce_sum(y * tf.constant(dy, tf.float32))
    dx, dgamma, dbeta = tape.gradient(loss, [xt, layer.gamma, layer.beta])
    want_y, want_dx, want_dgamma, want_dbeta, mean, var = reference(x, gamma, beta, dy)
    np.testing.assert_allclose(y, want_y, atol=2e-5)
    np.testing.assert_allclose(dx, want_dx, atol=2e-5)
    np.testing.assert_allclose(dgamma, want_dgamma, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dbeta, want_dbeta, rtol=1e-5, atol=1e-5)
    # Keras' rule with the biased batch variance: moving = momentum * moving + (1 - momentum) * batch.
    np.testing.assert_allclose(layer.moving_mean, (1 - MOMENTUM) * mean, atol=1e-5)
    np.testing.assert_allclose(layer.moving_variance, MOMENTUM + (1 - MOMENTUM) * var, rtol=1e-5)
    # Inference normalises with the moving statistics.
    moving_mean, moving_var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    np.testing.assert_allclose(
        layer(xt, training=False),
        gamma * (x - moving_mean) / np.sqrt(moving_var + EPS) + beta, atol=2e-5)


def test_same_results_as_keras_layer_in_a_model_and_round_trip(tmp_path):
    """A small conv net trained 3 steps with each layer from the same weights stays equal."""
    def net(bn):
        return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), bn(),
                                 keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(5), bn()])
    keras.utils.set_random_seed(0)
    ours, theirs = net(BatchNormalization), net(keras.layers.BatchNormalization)
    theirs.set_weights(ours.get_weights())
    x = np.random.default_rng(1).normal(size=(16, 8, 8, 3)).astype("float32")
    t = np.random.default_rng(2).normal(size=(16, 5)).astype("float32")
    for model in (ours, theirs):
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
        model.fit(x, t, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4)
    path = str(tmp_path / "net.keras")
    ours.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[1], BatchNormalization)
    np.testing.assert_allclose(loaded(x), ours(x), atol=1e-6)


def test_bfloat16_inputs_keep_float32_statistics():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = BatchNormalization(momentum=MOMENTUM)
        y = layer(tf.random.normal([4, 3, 3, 2], 5.0), training=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert y.dtype == tf.bfloat16 and layer.moving_mean.dtype == tf.float32
    assert 0.4 < float(tf.reduce_mean(layer.moving_mean)) < 0.6  # 0.1 x the batch mean of ~5
