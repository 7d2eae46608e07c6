"""Colorization (Zhang et al. 2016): Lab conversion against scikit-image on real CIFAR-10 images,
soft encoding, class rebalancing, strided targets and the grey mask of the authors' code,
annealed-mean decoding, and the RGB -> L encoder."""

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import augment, data, encoders
from keras_ssl.augment import lab
from keras_ssl.methods import Colorization
from keras_ssl.methods.colorization import _checks

skimage_color = pytest.importorskip("skimage.color")


def strided_ab_reference(x, stride=4):
    """float64 ab of every `stride`-th pixel (scikit-image), as the authors' data_ab_ss."""
    return skimage_color.rgb2lab(np.asarray(x, np.float64)[:, ::stride, ::stride])[..., 1:]


def colourful_reference(x, stride=4, threshold=5.0):
    """1 per image with any |a| or |b| > threshold at the strided pixels (NonGrayMaskLayer)."""
    return (np.abs(strided_ab_reference(x, stride)) > threshold).any(axis=(1, 2, 3)).astype(float)


def log_softmax64(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def small_model(bins, prior, **kwargs):
    encoder = encoders.ResNet(18, stem="cifar", stem_stride=2, width_multiplier=0.125,
                              input_shape=(32, 32, 3))
    model = Colorization(encoder, bins=bins, prior=prior, **kwargs)
    model.compile(optimizer="adam")
    model.build((None, 32, 32, 3))
    return model


@pytest.fixture(scope="module")
def real_images(tiny_cifar10):
    images, _, _ = data.load_arrays(f"folder:{tiny_cifar10}", "train")
    return images[:40]


def test_lab_matches_scikit_image_and_round_trips_on_real_images(real_images):
    rgb = real_images.astype(np.float64) / 255.0
    expected = skimage_color.rgb2lab(rgb)
    ours = lab.rgb_to_lab(rgb.astype(np.float32)).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-3)
    np.testing.assert_allclose(lab.lab_to_rgb(ours).numpy(), rgb, atol=1e-3)
    np.testing.assert_allclose(lab.lab_to_rgb(expected.astype(np.float32)).numpy(),
                               skimage_color.lab2rgb(expected), atol=1e-3)
    # Out-of-gamut Lab values: both clip the same way.
    rng = np.random.default_rng(0)
    wild = np.stack([rng.uniform(0, 100, 500), rng.uniform(-110, 110, 500),
                     rng.uniform(-110, 110, 500)], -1)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = skimage_color.lab2rgb(wild)
    np.testing.assert_allclose(lab.lab_to_rgb(wild.astype(np.float32)).numpy(), reference,
                               atol=1e-3)


def test_in_gamut_bins_and_bins_from_data(real_images):
    bins = augment.in_gamut_ab_bins(10)
    assert 200 < len(bins) < 400 and np.all(np.abs(bins) <= 110)
    assert np.all(np.mod(bins, 10) == 0)
    data_bins, prior = augment.ab_bins_from_data(real_images)
    np.testing.assert_allclose(prior.sum(), 1.0)
    # Every pixel's nearest grid cell is one of the data bins.
    ab = lab.rgb_to_lab(real_images / 255.0).numpy()[..., 1:].reshape(-1, 2)
    cells = {tuple(c) for c in data_bins.astype(int)}
    snapped = np.round(ab / 10) * 10
    assert all((int(a), int(b)) in cells for a, b in snapped[::97])


def test_soft_encoding_sums_to_one_and_peaks_at_the_true_bin():
    bins = augment.in_gamut_ab_bins(10)
    rng = np.random.default_rng(1)
    ab = bins[rng.integers(0, len(bins), 64)] + rng.uniform(-4.9, 4.9, (64, 2)).astype(np.float32)
    nearest = np.argmin(((ab[:, None] - bins[None]) ** 2).sum(-1), -1)
    d2 = ((ab[:, None].astype(np.float64) - bins[None]) ** 2).sum(-1)
    # 5 neighbours is the default (the paper's), 10 the authors' NNEncLayer.
    for k, z in ((5, augment.soft_encode(ab, bins)), (10, augment.soft_encode(ab, bins, 10))):
        z = z.numpy()
        np.testing.assert_allclose(z.sum(-1), 1.0, atol=1e-5)
        assert np.all((z > 0).sum(-1) == k)
        np.testing.assert_array_equal(z.argmax(-1), nearest)
        # The weights are the Gaussian (sigma 5) of the distances, normalised (float64).
        top = np.argsort(d2, -1)[:, :k]
        g = np.exp(-np.take_along_axis(d2, top, -1) / 50.0)
        np.testing.assert_allclose(np.take_along_axis(z, top, -1), g / g.sum(-1, keepdims=True),
                                   atol=1e-4)


def test_rebalancing_weights_have_expectation_one_under_the_prior(real_images):
    bins, prior = augment.ab_bins_from_data(real_images)
    w = augment.rebalancing_weights(prior, bins, lam=0.5, sigma=5.0)
    smoothed = lab.smoothed_prior(prior, bins, 5.0)
    np.testing.assert_allclose(np.sum(smoothed * w), 1.0, atol=1e-9)
    # Rarer colours weigh more; lam = 1 gives equal weights.
    assert w[np.argmin(smoothed)] > w[np.argmax(smoothed)]
    np.testing.assert_allclose(augment.rebalancing_weights(prior, bins, lam=1.0), 1.0)
    # No smoothing: exactly 1 / ((1 - lam) p + lam / Q), normalised under p.
    raw = augment.rebalancing_weights(prior, bins, lam=0.5, sigma=0)
    ref = 1 / (0.5 * prior + 0.5 / len(prior))
    np.testing.assert_allclose(raw, ref / np.sum(prior * ref))


def test_annealed_mean_is_the_mode_at_low_temperature_and_the_mean_at_one():
    bins = augment.in_gamut_ab_bins(10)
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(len(bins)) * 0.3, size=16).astype(np.float32)
    np.testing.assert_allclose(augment.annealed_mean(p, bins, 1.0).numpy(), p @ bins, atol=1e-3)
    np.testing.assert_allclose(augment.annealed_mean(p, bins, 1e-3).numpy(),
                               bins[p.argmax(-1)], atol=1e-3)
    middle = augment.annealed_mean(p, bins, 0.38).numpy()
    assert not np.allclose(middle, p @ bins, atol=0.5)


def test_transform_targets_and_a_training_step(real_images):
    bins, prior = augment.ab_bins_from_data(real_images)
    transform = augment.ColorizationTransform(bins, output_stride=4)
    x, targets = transform(real_images[:8], tf.constant([0, 1], tf.int64))
    assert x.shape == (8, 32, 32, 3) and targets.shape == (8, 8, 8, len(bins))
    np.testing.assert_allclose(targets.numpy().sum(-1), 1.0, atol=1e-5)
    model = small_model(bins, prior)
    # The loss is the rebalanced, grey-masked soft cross-entropy (float64 reference from the
    # model's logits).
    logp = log_softmax64(model.predict_logits(x))
    w = model.class_weights[targets.numpy().argmax(-1)] * colourful_reference(x)[:, None, None]
    expected = np.mean(w * -(targets.numpy() * logp).sum(-1))
    loss, _ = model.compute_objective((x, targets), training=False)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
    # The encoder sees lightness only: images of equal L but other colours embed the same.
    L = lab.rgb_to_lab(x)[..., :1]
    recoloured = lab.lab_to_rgb(tf.concat([L, tf.zeros_like(L), tf.zeros_like(L)], -1))
    same_l = lab.rgb_to_lab(recoloured)[..., 0]
    np.testing.assert_allclose(same_l, L[..., 0], atol=0.05)
    np.testing.assert_allclose(model(recoloured), model(x), atol=2e-3)
    assert model.decode(x).shape == (8, 32, 32, 3)
    history = model.fit(tf.data.Dataset.from_tensors((x, targets)).repeat(3), shuffle=False,
                        verbose=0)
    assert np.isfinite(history.history["loss"][-1])


def test_preview_decodes_targets_with_the_transforms_own_bins(real_images):
    from keras_ssl.methods.colorization import _preview

    # Bins from half the images: another transform's bins would decode to other colours.
    bins, _ = augment.ab_bins_from_data(real_images[:20])
    transform = augment.ColorizationTransform(bins, output_stride=1, flip_probability=0.0)
    outputs = transform(real_images[:8], tf.constant([0, 1], tf.int64))
    columns = dict(_preview(transform, real_images[:8] / 255.0, outputs))
    truth = columns["truth"]
    # The nearest bin at full resolution is within half a bin (5 ab units) of the truth's ab.
    decoded_ab = lab.rgb_to_lab(tf.constant(columns["target colours"]))[..., 1:]
    truth = tf.constant(truth, tf.float32)
    true_ab = lab.rgb_to_lab(truth)[..., 1:]
    assert np.median(np.abs(decoded_ab - true_ab)) < 5.0
    np.testing.assert_allclose(columns["L input"][..., 0], lab.lightness(truth)[..., 0], atol=1e-5)


def test_targets_are_the_ab_of_every_fourth_pixel_not_the_block_average(real_images):
    # The authors' data_ab_ss samples pixels 0, 4, 8, ...; an average would blend edges.
    bins, _ = augment.ab_bins_from_data(real_images)
    x, ab = augment.ColorizationTransform(bins, mode="regression", flip_probability=0.0)(
        real_images[:8], tf.constant([0, 1], tf.int64))
    np.testing.assert_allclose(ab, strided_ab_reference(real_images[:8] / 255.0), atol=2e-3)
    _, z = augment.ColorizationTransform(bins, flip_probability=0.0)(
        real_images[:8], tf.constant([0, 1], tf.int64))
    np.testing.assert_allclose(z, augment.soft_encode(ab, bins), atol=1e-6)
    # Hand case: red | blue with the edge inside every 4x4 block: the targets stay red.
    red_blue = np.zeros((1, 8, 8, 3), np.float32)
    stripes = np.arange(8) % 4 < 2  # 2 red columns, 2 blue, ...
    red_blue[:, :, stripes, 0] = 1.0
    red_blue[:, :, ~stripes, 2] = 1.0
    red = skimage_color.rgb2lab(np.array([[[1.0, 0.0, 0.0]]]))[0, 0, 1:]
    np.testing.assert_allclose(augment.dense_targets.ab_targets(red_blue, 4)[0],
                               np.broadcast_to(red, (2, 2, 2)), atol=2e-3)


def test_grey_images_have_zero_loss_weight_and_no_gradient(real_images):
    # The authors' NonGrayMaskLayer: greyscale images in the batch do not train. One made grey
    # (R = G = B), one real CIFAR-10 image that is nearly so (max |ab| <= 5 at the strided
    # pixels; the tiny set's first image), 4 colourful ones. (Even batches: this machine's
    # oneDNN conv filter gradient aborts on odd ones.)
    bins, prior = augment.ab_bins_from_data(real_images)
    colourful = colourful_reference(real_images / 255.0)
    grey = real_images[8:9].mean(-1, keepdims=True).round().repeat(3, -1).astype(np.uint8)
    batch = np.concatenate([real_images[colourful == 1][:4], grey, real_images[colourful == 0][:1]])
    x, targets = augment.ColorizationTransform(bins, flip_probability=0.0)(
        batch, tf.constant([0, 1], tf.int64))
    mask = np.array([1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(colourful_reference(x), mask)
    model = small_model(bins, prior)
    np.testing.assert_array_equal(model.colour_weights(x).numpy().ravel(), mask)
    # The loss: the mean over all pixels (the grey images' count, at weight 0) of the rebalanced
    # cross-entropy, float64 reference.
    logp = log_softmax64(model.predict_logits(x))
    w = model.class_weights[targets.numpy().argmax(-1)] * mask[:, None, None]
    expected = np.mean(w * -(targets.numpy() * logp).sum(-1))
    np.testing.assert_allclose(float(model.compute_objective((x, targets), False)[0]), expected,
                               rtol=1e-5)

    # Gradients (inference-mode batch norm, so images do not interact): none reaches the grey
    # images, and the weights' gradient is 4/6 of that of the batch without them.
    def gradients(images, t):
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss, _ = model.compute_objective((images, t), training=False)
        return tape.gradient(loss, [images] + model.trainable_variables)

    full = gradients(x, targets)
    assert np.all(full[0].numpy()[4:] == 0) and np.all(np.abs(full[0].numpy()[:4]).max(
        axis=(1, 2, 3)) > 0)
    colour_only = gradients(x[:4], targets[:4])
    for g, g4 in zip(full[1:], colour_only[1:]):
        np.testing.assert_allclose(g, g4.numpy() * 4 / 6, rtol=1e-4, atol=1e-7)
    # Without the mask the grey images train towards ab = 0, as they did before.
    np.testing.assert_array_equal(
        small_model(bins, prior, grey_threshold=None).colour_weights(x).numpy().ravel(), 1.0)


def test_grey_threshold_round_trips_and_is_checked():
    from keras_ssl.cli.config import base_config

    bins = augment.in_gamut_ab_bins(10)
    for threshold in (7.5, None):
        encoder = encoders.ResNet(18, stem="cifar", width_multiplier=0.125,
                                  input_shape=(32, 32, 3))
        config = Colorization(encoder, bins=bins, grey_threshold=threshold).get_config()
        assert Colorization.from_config(config).grey_threshold == threshold
    config = base_config("colorization")
    assert config.model.grey_threshold == 5.0
    config.model.grey_threshold = -1.0
    with pytest.raises(ValueError, match="model.grey_threshold"):
        _checks(config)
