"""Context Encoder (Pathak et al. 2016): masks, the masked L2 at the authors' scale, the
generator's gradient balance and the discriminator's input against their train.lua, the
two-optimizer step (each net learns from its own loss only) and checkpoints holding both
optimizers."""

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
    # train.lua's scale: the mean over the predicted region's elements (hole + band, x 3
    # channels), the band's squared error counted 10x; not divided by the summed weights.
    w = weights.numpy().astype(np.float64)
    expected = (w * (prediction - target) ** 2).sum() / ((w > 0).sum() * 3)
    assert loss == pytest.approx(expected, rel=1e-5)


def _model(adversarial_weight=0.001, **kwargs):
    encoder = encoders.ResNet(18, stem="cifar", stem_stride=2, width_multiplier=0.125,
                              input_shape=(32, 32, 3))
    model = ContextEncoder(encoder, decoder_filters=(16, 8), discriminator_filters=(8, 16),
                           adversarial_weight=adversarial_weight, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.build((None, 32, 32, 3))
    model.optimizer.build(model.trainable_variables)
    return model


def _batch(seed=0):
    images = np.random.default_rng(seed).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    return augment.InpaintingTransform("central")(images, SEED)


def _values(variables):
    return [v.numpy().copy() for v in variables]


class _Critic:
    """Stands in for the discriminator: records its inputs; logits sum(a * x) (a linear critic,
    gradient known in closed form) or, given `net`, the real discriminator's in inference mode."""

    def __init__(self, a=None, net=None):
        self.a, self.net, self.inputs = a, net, []

    def __call__(self, x, training=None):
        self.inputs.append(np.array(x))
        if self.net is not None:
            return self.net(x, training=False)
        return tf.reduce_sum(x * self.a, axis=[1, 2, 3])


def _fixed_prediction(monkeypatch, model, prediction):
    monkeypatch.setattr(model, "predict_images", lambda masked, training=False: prediction)


def test_generator_gradient_balance_is_train_luas(monkeypatch):
    # train.lua (wtl2 0.999, overlapPred, conditionAdv 0) on the predicted patch P in [-1, 1]:
    # dG = (1 - wtl2) dBCE/dx + wtl2Matrix * dMSE/dx, BCE the batch mean of -log D(x),
    # MSE the mean over P's elements, wtl2Matrix 10 wtl2 on the overlap ring and wtl2 inside.
    model = _model()
    masked, images, hole, weights = _batch()
    rng = np.random.default_rng(5)
    prediction = tf.Variable(rng.uniform(size=images.shape).astype(np.float32))
    a = rng.normal(0.0, 0.05, images.shape[1:]).astype(np.float32)
    monkeypatch.setattr(model, "discriminator", _Critic(a))
    _fixed_prediction(monkeypatch, model, prediction)
    with tf.GradientTape(persistent=True) as tape:
        _, values, _ = model.generator_objective((masked, images, hole, weights), training=True)
        adversarial = model.adversarial_weight * values["adversarial_loss"]
        reconstruction = model.reconstruction_weight * values["reconstruction_loss"]
    g_adv = tape.gradient(adversarial, prediction).numpy().astype(np.float64)
    g_rec = tape.gradient(reconstruction, prediction).numpy().astype(np.float64)

    # The NumPy float64 reference on the patch: the 16 x 16 hole and its 1-pixel ring, 18 x 18.
    wtl2, b = 0.999, images.shape[0]
    patch = (slice(None), slice(7, 25), slice(7, 25))
    x = 2.0 * prediction.numpy().astype(np.float64)[patch] - 1.0
    y = 2.0 * images.numpy().astype(np.float64)[patch] - 1.0
    ring = (weights.numpy()[patch] == 10.0).repeat(3, -1)
    logits = (a[patch[1:]] * x).sum(axis=(1, 2, 3))
    d_bce = -(1.0 / (1.0 + np.exp(logits)))[:, None, None, None] * a[patch[1:]] / b
    d_mse = 2.0 * (x - y) / x.size
    ref_adv = (1.0 - wtl2) * d_bce
    ref_rec = np.where(ring, 10.0 * wtl2, wtl2) * d_mse
    ratio = np.linalg.norm(g_adv) / np.linalg.norm(g_rec)
    assert ratio == pytest.approx(np.linalg.norm(ref_adv) / np.linalg.norm(ref_rec), rel=1e-4)
    # Pixel by pixel (x = 2p - 1: both terms x 2 with respect to the [0, 1] prediction), and
    # nothing outside the patch.
    np.testing.assert_allclose(g_adv[patch], 2.0 * ref_adv, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(g_rec[patch], 2.0 * ref_rec, rtol=1e-4, atol=1e-12)
    outside = np.ones(images.shape, bool)
    outside[patch] = False
    assert not g_adv[outside].any() and not g_rec[outside].any()


def _new_context(images, weights, seed=7):
    """`images` with every pixel outside the predicted region (weight 0) redrawn."""
    context = (weights.numpy() == 0).repeat(3, -1)
    noise = np.random.default_rng(seed).uniform(size=images.shape).astype(np.float32)
    changed = np.where(context, noise, images.numpy())
    assert (changed != images.numpy())[context].mean() > 0.99
    return tf.constant(changed)


def _critic_inputs_and_losses(monkeypatch, model, images, hole, weights):
    critic = _Critic(net=model.discriminator)
    monkeypatch.setattr(model, "discriminator", critic)
    masked = masks.fill_holes(images, hole, augment.dense_targets.IMAGENET_MEAN)
    _, values = model.compute_objective((masked, images, hole, weights), training=False)
    monkeypatch.setattr(model, "discriminator", critic.net)
    return critic.inputs, float(values["adversarial_loss"]), float(values["discriminator_loss"])


def test_discriminator_sees_the_predicted_region_only(monkeypatch):
    # conditionAdv = 0 in train.lua: the critic gets the predicted patch, real or generated, and
    # no context pixel; with the prediction fixed, redrawing the whole context changes nothing it
    # sees (real and fake inputs, its outputs, both adversarial losses).
    model = _model()
    _, images, hole, weights = _batch()
    prediction = tf.constant(np.random.default_rng(6).uniform(size=images.shape), tf.float32)
    _fixed_prediction(monkeypatch, model, prediction)
    before = _critic_inputs_and_losses(monkeypatch, model, images, hole, weights)
    after = _critic_inputs_and_losses(monkeypatch, model, _new_context(images, weights), hole,
                                      weights)
    assert len(before[0]) == 3  # the generator's fake, the critic's real and fake
    for x, z in zip(before[0], after[0]):
        np.testing.assert_array_equal(x, z)
    assert before[1:] == after[1:]
    # It does see the region: the real input is the image there, in [-1, 1], zero elsewhere.
    region = (weights.numpy() > 0).repeat(3, -1)
    np.testing.assert_allclose(before[0][1], np.where(region, 2 * images.numpy() - 1, 0.0),
                               atol=1e-6)
    np.testing.assert_allclose(before[0][0], np.where(region, 2 * prediction.numpy() - 1, 0.0),
                               atol=1e-6)


def test_composite_option_conditions_the_discriminator_on_the_context(monkeypatch):
    model = _model(discriminator_input="composite")
    assert ContextEncoder.from_config(model.get_config()).discriminator_input == "composite"
    _, images, hole, weights = _batch()
    prediction = tf.constant(np.random.default_rng(6).uniform(size=images.shape), tf.float32)
    _fixed_prediction(monkeypatch, model, prediction)
    before = _critic_inputs_and_losses(monkeypatch, model, images, hole, weights)
    after = _critic_inputs_and_losses(monkeypatch, model, _new_context(images, weights), hole,
                                      weights)
    assert all(not np.array_equal(x, z) for x, z in zip(before[0], after[0]))
    with pytest.raises(ValueError, match="discriminator_input"):
        _model(discriminator_input="context")


def test_each_network_learns_from_its_own_loss_only():
    model = _model()
    data = _batch()
    # Gradients: the discriminator's loss reaches no generator weight (composites are detached);
    # the generator's loss (which runs the discriminator) is applied to generator weights only.
    with tf.GradientTape() as tape:
        _, _, (real, fake) = model.generator_objective(data, training=True)
        d_loss = model.critic_objective(real, fake, training=True)
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
    model.fit(dataset, epochs=1, callbacks=[checkpoint], shuffle=False, verbose=0)
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
    fresh.fit(dataset, epochs=1, shuffle=False, verbose=0)
    assert int(fresh.discriminator_optimizer.iterations) == 4
