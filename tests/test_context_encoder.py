"""Context Encoder (Pathak et al. 2016): masks, the masked L2, the two-optimizer step (each net
learns from its own loss only) and checkpoints holding both optimizers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import augment, encoders
from keras_ssl.augment import masks
from keras_ssl.callbacks import TrainingCheckpoint
from keras_ssl.losses import masked_l2
from keras_ssl.methods import ContextEncoder

SEED = tf.constant([3, 4], tf.int64)


def test_central_square_covers_exactly_the_centre():
    hole = masks.central_square_mask(2, 32).numpy()
    assert hole.sum() == 2 * 16 * 16
    np.testing.assert_array_equal(hole[:, 8:24, 8:24], 1.0)
    assert masks.central_square_mask(1, 32, hole_size=10).numpy().sum() == 100


def test_random_blocks_are_the_union_of_the_drawn_blocks_and_differ():
    corners = masks.random_block_corners(6, 32, SEED, 3, 8).numpy()
    hole = masks.blocks_to_mask(tf.constant(corners), 32, 8).numpy()[..., 0]
    for i in range(6):
        expected = np.zeros((32, 32))
        for r, c in corners[i]:
            expected[r:r + 8, c:c + 8] = 1
        np.testing.assert_array_equal(hole[i], expected)
    one = masks.random_block_mask(6, 32, SEED, num_blocks=1, block_size=8).numpy()
    assert np.all(one.sum(axis=(1, 2, 3)) == 64)
    many = masks.random_block_mask(6, 32, SEED).numpy()
    assert not np.array_equal(many[0], many[1])  # per image
    other = masks.random_block_mask(6, 32, tf.constant([3, 5], tf.int64)).numpy()
    assert not np.array_equal(many, other)  # per batch (seed)


def test_random_regions_cover_the_declared_area_and_differ():
    hole = masks.random_region_mask(5, 32, SEED, coverage=0.25).numpy()
    np.testing.assert_array_equal(hole.sum(axis=(1, 2, 3)), 256)
    assert set(np.unique(hole)) == {0.0, 1.0}
    assert not np.array_equal(hole[0], hole[1])
    other = masks.random_region_mask(5, 32, tf.constant([9, 9], tf.int64)).numpy()
    assert not np.array_equal(hole, other)


def test_overlap_band_and_transform_weights():
    hole = masks.central_square_mask(1, 32)
    band = masks.overlap_band(hole, 1).numpy()
    assert band.sum() == 18 * 18 - 16 * 16 and np.all(band * hole.numpy() == 0)
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    masked, x, hole, weights = augment.InpaintingTransform("central", flip_probability=0.0)(
        images, SEED)
    np.testing.assert_allclose(masked.numpy()[:, 16, 16], np.tile(
        np.array(augment.dense_targets.IMAGENET_MEAN, np.float32), (4, 1)), atol=1e-6)
    np.testing.assert_allclose(masked.numpy()[:, 0, 0], x.numpy()[:, 0, 0])
    assert sorted(np.unique(weights.numpy())) == [0.0, 1.0, 10.0]


def test_reconstruction_loss_ignores_unmasked_pixels():
    rng = np.random.default_rng(1)
    target = rng.uniform(size=(2, 32, 32, 3)).astype(np.float32)
    prediction = rng.uniform(size=(2, 32, 32, 3)).astype(np.float32)
    hole = masks.central_square_mask(2, 32)
    weights = hole + 10.0 * masks.overlap_band(hole, 1)
    loss = float(masked_l2(prediction, target, weights))
    changed = prediction.copy()
    changed[weights.numpy()[..., 0] == 0] = 123.0  # anything outside hole and band
    assert float(masked_l2(changed, target, weights)) == pytest.approx(loss, rel=1e-6)
    w = weights.numpy().astype(np.float64)
    expected = (w * (prediction - target) ** 2).sum() / (w.sum() * 3)
    assert loss == pytest.approx(expected, rel=1e-5)


def _model(adversarial_weight=0.001):
    encoder = encoders.ResNet(18, stem="cifar", stem_stride=2, width_multiplier=0.125,
                              input_shape=(32, 32, 3))
    model = ContextEncoder(encoder, decoder_filters=(16, 8), discriminator_filters=(8, 16),
                           adversarial_weight=adversarial_weight)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.build((None, 32, 32, 3))
    model.optimizer.build(model.trainable_variables)
    return model


def _batch(seed=0):
    images = np.random.default_rng(seed).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    return augment.InpaintingTransform("central")(images, SEED)


def _values(variables):
    return [v.numpy().copy() for v in variables]


def test_each_network_learns_from_its_own_loss_only():
    model = _model()
    data = _batch()
    # Gradients: the discriminator's loss reaches no generator weight (composites are detached);
    # the generator's loss (which runs the discriminator) is applied to generator weights only.
    with tf.GradientTape() as tape:
        _, _, composite = model.generator_objective(data, training=True)
        d_loss = model.critic_objective(data[1], composite, training=True)
    grads = tape.gradient(d_loss, model.generator_variables())
    assert all(g is None for g in grads)
    # One train_step: with the generator optimizer's rate 0, the encoder must not move at all
    # although the discriminator does (a leak of its update into the encoder would move it).
    model.optimizer.learning_rate.assign(0.0)
    encoder_before = _values(model.encoder.trainable_variables)
    critic_before = _values(model.discriminator.trainable_variables)
    model.train_step(data)
    for a, b in zip(encoder_before, _values(model.encoder.trainable_variables)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in
               zip(critic_before, _values(model.discriminator.trainable_variables)))
    # And the other way: with the discriminator's rate 0 it stays, the encoder moves.
    model.optimizer.learning_rate.assign(0.05)
    model.discriminator_optimizer.learning_rate.assign(0.0)
    critic_before = _values(model.discriminator.trainable_variables)
    encoder_before = _values(model.encoder.trainable_variables)
    model.train_step(data)
    for a, b in zip(critic_before, _values(model.discriminator.trainable_variables)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in
               zip(encoder_before, _values(model.encoder.trainable_variables)))


def test_reconstruction_only_skips_the_discriminator():
    model = _model(adversarial_weight=0.0)
    critic_before = _values(model.discriminator.trainable_variables)
    logs = model.train_step(_batch())
    assert float(logs["discriminator_loss"]) == 0.0
    for a, b in zip(critic_before, _values(model.discriminator.trainable_variables)):
        np.testing.assert_array_equal(a, b)


def test_both_optimizers_are_checkpointed_and_resumed(tmp_path):
    model = _model()
    dataset = tf.data.Dataset.from_tensors(_batch()).repeat(2)
    checkpoint = TrainingCheckpoint(str(tmp_path / "ckpt"), steps_per_epoch=2)
    checkpoint.restore(model)
    model.fit(dataset, epochs=1, callbacks=[checkpoint], verbose=0)
    assert int(model.discriminator_optimizer.iterations) == 2
    saved_d = _values(model.discriminator_optimizer.variables)
    saved_g = _values(model.optimizer.variables)

    fresh = _model()
    assert int(fresh.discriminator_optimizer.iterations) == 0
    epoch, step = TrainingCheckpoint(str(tmp_path / "ckpt"), steps_per_epoch=2).restore(fresh)
    assert (epoch, step) == (1, 0)
    for a, b in zip(saved_d, _values(fresh.discriminator_optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(saved_g, _values(fresh.optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    assert any(np.abs(v).sum() > 0 for v in _values(fresh.discriminator_optimizer.variables)[2:])
    # Resumed training goes on from there: the counter continues.
    fresh.fit(dataset, epochs=1, verbose=0)
    assert int(fresh.discriminator_optimizer.iterations) == 4
