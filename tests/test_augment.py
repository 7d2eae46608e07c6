"""Tests for keras_ssl.augment: per-image draws, seeding, and the maths of each operation.

References are NumPy float64, colorsys or scipy.ndimage; images are synthetic so nothing depends on data.
"""

import colorsys
import itertools
import json

import keras
import numpy as np
import pytest
import scipy.ndimage
import scipy.optimize
import tensorflow as tf

from keras_ssl.augment import (MultiViewTransform, PaddedCropFlipTransform, RotationTransform,
                               SimCLRTransform, color_distortion, color_jitter, random_flip,
                               random_gaussian_blur, random_grayscale, random_padded_crop,
                               random_resized_crop, random_solarize, rotate_all, to_float_images)
from keras_ssl.augment._random import apply_where
from keras_ssl.augment import color as color_module
from keras_ssl.augment.color import (adjust_brightness, adjust_contrast, adjust_hue,
                                     adjust_saturation)

LUMA = np.array([0.2989, 0.5870, 0.1140])
SEED = tf.constant([3, 7], tf.int64)
OTHER_SEED = tf.constant([3, 8], tf.int64)


def _image(height=32, width=32):
    """A float64 [H, W, 3] image in [0, 1]: gradients, a wave and a bright square (no symmetry)."""
    yy, xx = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    image = np.stack([0.1 + 0.8 * xx, 0.2 + 0.6 * yy, 0.5 + 0.4 * np.sin(6 * xx) * np.cos(4 * yy)],
                     axis=-1)
    image[height // 4:height // 2, width // 5:width // 2, 0] = 0.95
    return image


def _batch(size, height=32, width=32):
    """`size` identical float32 copies of `_image`."""
    return np.repeat(_image(height, width)[None], size, axis=0).astype(np.float32)


def _distinct(batch):
    """Number of distinct images in a batch."""
    return len({np.asarray(x).tobytes() for x in batch})


def _binomial_bounds(n, p, sds=5):
    sd = np.sqrt(n * p * (1 - p))
    return n * p - sds * sd, n * p + sds * sd


# ---------------------------------------------------------------------------------------------- crops

def test_random_resized_crop_draws_per_image_and_is_seeded():
    images = _batch(16)
    out = random_resized_crop(images, 24, SEED).numpy()
    assert out.shape == (16, 24, 24, 3) and out.dtype == np.float32
    assert _distinct(out) == 16  # identical inputs, one box per image
    np.testing.assert_array_equal(out, random_resized_crop(images, 24, SEED).numpy())
    other = random_resized_crop(images, 24, OTHER_SEED).numpy()
    assert all(not np.allclose(a, b) for a, b in zip(out, other))


@pytest.mark.parametrize("height,width", [(32, 32), (24, 40)])
def test_random_resized_crop_of_full_scale_is_the_image(height, width):
    images = _batch(4, height, width)
    out = random_resized_crop(images, (height, width), SEED, scale=(1.0, 1.0),
                              ratio=(width / height, width / height))
    np.testing.assert_allclose(out.numpy(), images, atol=1e-5)


def _boxes_from_coordinate_crops(height, width, scale, ratio, count=256, size=16):
    """Crop an image whose channels are y / (H - 1) and x / (W - 1); read each box back.

    Bilinear sampling of a linear ramp is exact, so the first/last output row gives the box's first/last
    pixel row. Returns y0, x0, crop_h, crop_w in pixels, and the outputs.
    """
    yy, xx = np.meshgrid(np.arange(height) / (height - 1), np.arange(width) / (width - 1),
                         indexing="ij")
    image = np.stack([yy, xx, np.zeros_like(yy)], axis=-1)
    images = np.repeat(image[None], count, axis=0).astype(np.float32)
    out = random_resized_crop(images, size, SEED, scale=scale, ratio=ratio).numpy().astype(np.float64)
    y0 = out[:, 0, 0, 0] * (height - 1)
    x0 = out[:, 0, 0, 1] * (width - 1)
    crop_h = out[:, -1, 0, 0] * (height - 1) - y0 + 1
    crop_w = out[:, 0, -1, 1] * (width - 1) - x0 + 1
    return y0, x0, crop_h, crop_w, out


@pytest.mark.parametrize("scale,ratio", [((0.08, 0.5), (3 / 4, 4 / 3)), ((0.08, 1.0), (3 / 4, 4 / 3)),
                                         ((0.08, 0.5), (1.5, 2.0))])
def test_random_resized_crop_boxes_respect_scale_ratio_and_image(scale, ratio):
    # ratio is width / height (torchvision's convention); (1.5, 2) tells it from height / width.
    height, width = 48, 64
    y0, x0, crop_h, crop_w, out = _boxes_from_coordinate_crops(height, width, scale, ratio)
    # The output is an axis-aligned resampling of one box: y constant along rows, x along columns,
    # and both linear (any extrapolated, out-of-image sample would break the ramp).
    np.testing.assert_allclose(out[..., 0], out[:, :, :1, 0].repeat(16, axis=2), atol=1e-5)
    np.testing.assert_allclose(out[..., 1], out[:, :1, :, 1].repeat(16, axis=1), atol=1e-5)
    np.testing.assert_allclose(np.diff(out[:, :, 0, 0], 2, axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(np.diff(out[:, 0, :, 1], 2, axis=1), 0, atol=1e-5)

    tol = 1e-3
    assert np.all(y0 >= -tol) and np.all(x0 >= -tol)
    assert np.all(y0 + crop_h <= height + tol) and np.all(x0 + crop_w <= width + tol)
    area = crop_h * crop_w / (height * width)
    aspect = crop_w / crop_h
    full = np.isclose(crop_h, height, atol=tol) & np.isclose(crop_w, width, atol=tol)
    drawn = ~full if scale[1] == 1.0 else np.ones_like(full)  # whole-image fallback only at scale 1
    assert np.all(area[drawn] >= scale[0] - tol) and np.all(area[drawn] <= scale[1] + tol)
    assert np.all(aspect[drawn] >= ratio[0] - tol) and np.all(aspect[drawn] <= ratio[1] + tol)
    # The draws really spread over the ranges (not one box for all).
    assert area.min() < scale[0] + 0.1 and area.max() > scale[1] - 0.1
    assert aspect.min() < ratio[0] + 0.1 and aspect.max() > ratio[1] - 0.2
    assert np.ptp(y0) > 0.5 * (height - crop_h.min()) and np.ptp(x0) > 0.5 * (width - crop_w.min())


def test_random_padded_crop_is_a_window_of_the_reflect_padded_image():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(12, 10, 3))
    padded = np.pad(image, [(3, 3), (3, 3), (0, 0)], mode="reflect")
    images = np.repeat(image[None], 64, axis=0).astype(np.float32)
    out = random_padded_crop(images, 3, SEED).numpy()
    assert out.shape == images.shape
    offsets = []
    for crop in out:
        matches = [(dy, dx) for dy in range(7) for dx in range(7)
                   if np.allclose(crop, padded[dy:dy + 12, dx:dx + 10], atol=1e-6)]
        assert len(matches) == 1
        offsets.append(matches[0])
    assert len(set(offsets)) > 20  # 49 possible windows, drawn per image
    assert {dy for dy, _ in offsets} == set(range(7)) and {dx for _, dx in offsets} == set(range(7))
    np.testing.assert_array_equal(out, random_padded_crop(images, 3, SEED).numpy())


# ------------------------------------------------------------------------------------------- colour

def test_adjust_brightness_contrast_saturation_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(2, 5, 4, 3))
    x32 = x.astype(np.float32)
    grey = (x * LUMA).sum(-1, keepdims=True)
    mean = x.mean(axis=(1, 2), keepdims=True)  # per image and channel
    for f in (0.0, 0.5, 1.0, 1.7):
        np.testing.assert_allclose(adjust_brightness(x32, f), np.clip(x * f, 0, 1), atol=1e-6)
        np.testing.assert_allclose(adjust_contrast(x32, f), np.clip((x - mean) * f + mean, 0, 1),
                                   atol=1e-6)
        np.testing.assert_allclose(adjust_saturation(x32, f), np.clip(grey + (x - grey) * f, 0, 1),
                                   atol=1e-6)
    # Saturation 0 is the luma in every channel.
    np.testing.assert_allclose(adjust_saturation(x32, 0.0), np.repeat(grey, 3, axis=-1), atol=1e-6)


def test_adjust_contrast_hand_case():
    # One channel of values 0.2, 0.4, 0.6, 0.8 (mean 0.5); factor 2 -> -0.1, 0.3, 0.7, 1.1, clipped.
    x = np.array([0.2, 0.4, 0.6, 0.8], np.float32).reshape(1, 2, 2, 1)
    np.testing.assert_allclose(adjust_contrast(x, 2.0).numpy().ravel(), [0.0, 0.3, 0.7, 1.0],
                               atol=1e-6)


def test_adjust_hue_matches_colorsys():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(1, 6, 6, 3))
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(adjust_hue(x32, 0.0), x, atol=1e-5)
    for delta in (0.1, -0.3, 0.45):
        expected = np.array([colorsys.hsv_to_rgb((h + delta) % 1.0, s, v) for h, s, v in
                             (colorsys.rgb_to_hsv(*p) for p in x.reshape(-1, 3))]).reshape(x.shape)
        np.testing.assert_allclose(adjust_hue(x32, delta), expected, atol=1e-5)
    primaries = np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)  # red, green, blue pixels
    np.testing.assert_allclose(adjust_hue(primaries, 1 / 3).numpy()[0, 0],
                               [[0, 1, 0], [0, 0, 1], [1, 0, 0]], atol=1e-5)


def test_color_jitter_is_per_image_bounded_and_seeded():
    images = _batch(16)
    out = color_jitter(images, SEED, 0.8, 0.8, 0.8, 0.2).numpy()
    assert out.dtype == np.float32 and out.shape == images.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert _distinct(out) == 16
    np.testing.assert_array_equal(out, color_jitter(images, SEED, 0.8, 0.8, 0.8, 0.2).numpy())
    assert not np.allclose(out, color_jitter(images, OTHER_SEED, 0.8, 0.8, 0.8, 0.2).numpy())


def test_color_jitter_of_strength_zero_is_identity():
    images = _batch(4)
    np.testing.assert_allclose(color_jitter(images, SEED, 0.0, 0.0, 0.0, 0.0), images, atol=1e-5)
    np.testing.assert_allclose(
        color_distortion(images, SEED, strength=0.0, grayscale_probability=0.0), images, atol=1e-5)


def _implied_factor(op, x, out):
    """Per-pixel (factor, denominator) with out = op(x, factor), for the three linear operations."""
    x = x.astype(np.float64)
    out = out.astype(np.float64)
    if op == "brightness":
        centre = 0.0
    elif op == "contrast":
        centre = x.mean(axis=(1, 2), keepdims=True)
    else:
        centre = (x * LUMA).sum(-1, keepdims=True)
    return (out - centre) / (x - centre), x - centre


@pytest.mark.parametrize("op", ["brightness", "contrast", "saturation"])
def test_color_jitter_draws_one_factor_per_image_in_range(op):
    # Only `op` is active; inputs in [0.4, 0.6] never clip, so the factor can be read back from
    # every pixel whose ratio is well conditioned.
    rng = np.random.default_rng(3)
    image = 0.4 + 0.2 * rng.uniform(size=(8, 8, 3))
    images = np.repeat(image[None], 32, axis=0).astype(np.float32)
    strength = 0.5
    kwargs = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    kwargs[op] = strength
    out = color_jitter(images, SEED, **kwargs).numpy()
    factor, denominator = _implied_factor(op, images, out)
    factor = np.where(np.abs(denominator) > 0.02, factor, np.nan).reshape(32, -1)
    assert np.all(np.isfinite(factor).sum(axis=1) > 50)
    per_image = np.nanmean(factor, axis=1)
    assert np.nanmax(np.abs(factor - per_image[:, None])) < 1e-3  # one factor per image
    assert np.all(per_image >= 1 - strength - 1e-3) and np.all(per_image <= 1 + strength + 1e-3)
    assert np.ptp(per_image) > 0.5  # spread over the range, drawn per image


def test_color_jitter_applies_the_four_operations_in_a_per_image_random_order(monkeypatch):
    # Replace the operations by spies that append their digit (1..4) to every pixel, so each output
    # spells the order its image went through.
    for digit, name in enumerate(["adjust_brightness", "adjust_contrast", "adjust_saturation",
                                  "adjust_hue"], start=1):
        monkeypatch.setattr(color_module, name, lambda x, f, d=digit: x * 10.0 + d)
    count = 400
    out = color_jitter(np.zeros((count, 2, 2, 3), np.float32), SEED, 0.8, 0.8, 0.8, 0.2).numpy()
    assert np.all(out == out[:, :1, :1, :1])  # the whole image went through the same order
    orders = [tuple(int(c) for c in str(int(v))) for v in out[:, 0, 0, 0]]
    assert all(sorted(o) == [1, 2, 3, 4] for o in orders)  # each operation exactly once
    assert set(orders) == set(itertools.permutations([1, 2, 3, 4]))  # all 24 orders occur
    low, high = _binomial_bounds(count, 0.25)
    for digit in (1, 2, 3, 4):
        assert low <= sum(o[0] == digit for o in orders) <= high


@pytest.mark.parametrize("op,low,high", [("adjust_brightness", 0.2, 1.8), ("adjust_contrast", 0.2, 1.8),
                                         ("adjust_saturation", 0.2, 1.8), ("adjust_hue", -0.2, 0.2)])
def test_color_jitter_gives_every_image_its_own_factor(monkeypatch, op, low, high):
    # Spy on one operation: it outputs the factor it received, the others pass images through. If the
    # per-slot partitioning routed factors by position in a partition instead of by image, images
    # would share factors.
    for name in ["adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue"]:
        spy = (lambda x, f: x * 0.0 + f) if name == op else (lambda x, f: x)
        monkeypatch.setattr(color_module, name, spy)
    out = color_jitter(np.zeros((64, 2, 2, 3), np.float32), SEED, 0.8, 0.8, 0.8, 0.2).numpy()
    factors = out[:, 0, 0, 0]
    assert np.all(out == factors[:, None, None, None])
    assert len(set(factors.tolist())) == 64
    assert factors.min() >= low and factors.max() <= high and np.ptp(factors) > 0.5 * (high - low)


def test_color_jitter_probability():
    images = _batch(200, 8, 8)
    np.testing.assert_array_equal(color_jitter(images, SEED, 0.8, 0.8, 0.8, 0.2, probability=0.0),
                                  images)
    out = color_jitter(images, SEED, 0.8, 0.8, 0.8, 0.2, probability=0.5).numpy()
    changed = np.any(np.abs(out - images) > 1e-4, axis=(1, 2, 3))
    low, high = _binomial_bounds(200, 0.5)
    assert low <= changed.sum() <= high


def test_random_grayscale():
    images = _batch(200, 8, 8)
    luma = (images.astype(np.float64) * LUMA).sum(-1, keepdims=True)
    np.testing.assert_allclose(random_grayscale(images, SEED, 1.0), np.repeat(luma, 3, -1),
                               atol=1e-6)
    np.testing.assert_array_equal(random_grayscale(images, SEED, 0.0), images)
    out = random_grayscale(images, SEED, 0.5).numpy()
    grey = np.all(out == out[..., :1], axis=(1, 2, 3))
    np.testing.assert_allclose(out[grey], np.repeat(luma, 3, -1)[grey], atol=1e-6)
    np.testing.assert_array_equal(out[~grey], images[~grey])
    low, high = _binomial_bounds(200, 0.5)
    assert low <= grey.sum() <= high


def test_color_distortion_greys_after_jitter():
    out = color_distortion(_batch(8), SEED, strength=1.0, grayscale_probability=1.0).numpy()
    np.testing.assert_array_equal(out, np.repeat(out[..., :1], 3, axis=-1))
    assert _distinct(out) == 8


# --------------------------------------------------------------------------- blur, solarize, flip

@pytest.mark.parametrize("size,kernel_size,radius", [(32, None, 1), (64, None, 3), (32, 7, 3)])
def test_gaussian_blur_matches_scipy(size, kernel_size, radius):
    sigma = 1.3
    image = _image(size, size)
    images = np.repeat(image[None], 2, axis=0).astype(np.float32)
    out = random_gaussian_blur(images, SEED, probability=1.0, sigma=(sigma, sigma),
                               kernel_size=kernel_size).numpy()
    # scipy's "mirror" is NumPy/TF "reflect" (edge not repeated); the kernel is truncated at `radius`.
    expected = scipy.ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="mirror",
                                             radius=(radius, radius, 0))
    np.testing.assert_allclose(out, np.repeat(expected[None], 2, axis=0), atol=1e-5)


def test_gaussian_blur_sigma_and_application_are_per_image():
    images = _batch(16)
    out = random_gaussian_blur(images, SEED, probability=1.0, sigma=(0.1, 3.0), kernel_size=7)
    assert _distinct(out.numpy()) == 16
    np.testing.assert_array_equal(random_gaussian_blur(images, SEED, probability=0.0), images)
    half = random_gaussian_blur(_batch(200, 16, 16), SEED, probability=0.5, sigma=(1.0, 2.0)).numpy()
    blurred = np.any(half != _batch(1, 16, 16), axis=(1, 2, 3))
    low, high = _binomial_bounds(200, 0.5)
    assert low <= blurred.sum() <= high


def test_gaussian_blur_uses_one_drawn_sigma_per_image_for_all_its_channels():
    sigma_range = (0.5, 2.5)
    image = _image(32, 32)
    images = np.repeat(image[None], 8, axis=0).astype(np.float32)
    out = random_gaussian_blur(images, SEED, probability=1.0, sigma=sigma_range, kernel_size=7)
    out = out.numpy().astype(np.float64)

    def reference(sigma):
        return scipy.ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="mirror",
                                             radius=(3, 3, 0))

    sigmas = []
    for blurred in out:
        # Fit the sigma on channel 0 only, then require all three channels to match it.
        fit = scipy.optimize.minimize_scalar(
            lambda s, b=blurred: np.abs(reference(s)[..., 0] - b[..., 0]).max(),
            bounds=(0.05, 5.0), method="bounded", options={"xatol": 1e-6})
        np.testing.assert_allclose(blurred, reference(fit.x), atol=2e-5)
        sigmas.append(fit.x)
    sigmas = np.array(sigmas)
    assert np.all(sigmas >= sigma_range[0] - 1e-3) and np.all(sigmas <= sigma_range[1] + 1e-3)
    assert np.ptp(sigmas) > 0.5


def test_gaussian_blur_with_unknown_batch_size_in_a_graph():
    blur = tf.function(lambda x, s: random_gaussian_blur(x, s, probability=1.0, sigma=(1.0, 1.0)),
                       input_signature=[tf.TensorSpec([None, 32, 32, 3]),
                                        tf.TensorSpec([2], tf.int64)])
    images = _batch(3)
    np.testing.assert_allclose(blur(images, SEED),
                               random_gaussian_blur(images, SEED, 1.0, (1.0, 1.0)), atol=1e-6)


def test_random_solarize():
    images = _batch(200, 8, 8)
    np.testing.assert_array_equal(random_solarize(images, SEED, 1.0),
                                  np.where(images < 0.5, images, 1.0 - images))
    np.testing.assert_array_equal(random_solarize(images, SEED, 0.0), images)
    out = random_solarize(images, SEED, 0.5).numpy()
    solarized = np.any(out != images, axis=(1, 2, 3))
    low, high = _binomial_bounds(200, 0.5)
    assert low <= solarized.sum() <= high


def test_random_flip():
    images = _batch(200, 8, 8)
    mirrored = images[:, :, ::-1]
    np.testing.assert_array_equal(random_flip(images, SEED, 1.0), mirrored)
    np.testing.assert_array_equal(random_flip(images, SEED, 0.0), images)
    out = random_flip(images, SEED, 0.5).numpy()
    flipped = np.all(out == mirrored, axis=(1, 2, 3))
    assert np.all(flipped | np.all(out == images, axis=(1, 2, 3)))
    low, high = _binomial_bounds(200, 0.5)
    assert low <= flipped.sum() <= high


# ------------------------------------------------------------------------------------------ rotation

def test_rotate_all_layout_and_labels():
    rng = np.random.default_rng(4)
    images = rng.uniform(size=(3, 6, 6, 2)).astype(np.float32)
    rotated, labels = rotate_all(images)
    rotated, labels = rotated.numpy(), labels.numpy()
    assert rotated.shape == (12, 6, 6, 2) and labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [0, 1, 2, 3] * 3)
    for i in range(3):
        for k in range(4):
            np.testing.assert_array_equal(np.rot90(rotated[4 * i + k], k=-k), images[i])
            # Label k is k quarter turns counter-clockwise, as np.rot90 turns.
            np.testing.assert_array_equal(rotated[4 * i + k], np.rot90(images[i], k=k))


def test_rotate_all_rejects_non_square_or_unbatched_images():
    with pytest.raises(ValueError, match="square"):
        rotate_all(np.zeros((2, 6, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[B, H, W, C\]"):
        rotate_all(np.zeros((6, 6, 3), np.float32))


# ---------------------------------------------------------------------------------------- transforms

def _uint8_batch(size=8, side=32):
    return np.repeat((_image(side, side) * 255).round().astype(np.uint8)[None], size, axis=0)


TRANSFORMS = {
    "simclr": lambda: SimCLRTransform(24, color_strength=0.5, blur_probability=0.5,
                                      solarize_probability=0.2),
    "cifar": lambda: PaddedCropFlipTransform(),
    "multi_view": lambda: MultiViewTransform([SimCLRTransform(24),
                                              SimCLRTransform(16, blur_probability=1.0)]),
    "rotation": lambda: RotationTransform(PaddedCropFlipTransform()),
}
SHAPES = {
    "simclr": [(8, 24, 24, 3)],
    "cifar": [(8, 32, 32, 3)],
    "multi_view": [(8, 24, 24, 3), (8, 16, 16, 3)],
    "rotation": [(32, 32, 32, 3)],
}


def _views(name, output):
    """The image arrays of a transform's output, as a list."""
    if name == "multi_view":
        return [np.asarray(v) for v in output]
    if name == "rotation":
        images, labels = output
        np.testing.assert_array_equal(labels, np.tile(np.arange(4, dtype=np.int32), 8))
        return [np.asarray(images)]
    return [np.asarray(output)]


def _roundtrip(transform):
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(transform)))
    return keras.saving.deserialize_keras_object(config)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_outputs_seeding_and_config_roundtrip(name):
    transform = TRANSFORMS[name]()
    images = _uint8_batch()
    views = _views(name, transform(images, SEED))
    assert [v.shape for v in views] == SHAPES[name]
    for v in views:
        assert v.dtype == np.float32 and v.min() >= 0.0 and v.max() <= 1.0
    again = _views(name, transform(images, SEED))
    other = _views(name, transform(images, OTHER_SEED))
    restored = _views(name, _roundtrip(transform)(images, SEED))
    assert type(_roundtrip(transform)) is type(transform)
    for v, a, o, r in zip(views, again, other, restored):
        np.testing.assert_array_equal(v, a)
        np.testing.assert_array_equal(v, r)
        assert not np.array_equal(v, o)


def test_simclr_transform_draws_per_image_and_views_differ():
    images = _uint8_batch()
    out = SimCLRTransform(24)(images, SEED).numpy()
    assert _distinct(out) == 8
    view1, view2 = MultiViewTransform([SimCLRTransform(24)] * 2)(images, SEED)
    assert all(not np.allclose(a, b) for a, b in zip(view1.numpy(), view2.numpy()))


def _reference_simclr_view(images, seed, size, scale, ratio, jitter, flip_p, jitter_p, grey_p):
    """SimCLRTransform in float64 NumPy (colorsys for the hue), from the transform's own draws."""
    def split(s, n):
        return list(tf.random.experimental.stateless_split(tf.cast(s, tf.int64), n))

    def uniform(shape, s, low=0.0, high=1.0):
        return tf.random.stateless_uniform(shape, s, low, high).numpy().astype(np.float64)

    batch, height, width = images.shape[:3]
    x = images.astype(np.float64) / 255.0
    s_crop, s_flip, s_color, _, _ = split(seed, 5)
    # Crop: the first of 10 (area, log-ratio) draws that fits, else the whole image, at a uniform
    # position; bilinear with pixel centres at the box's first and last pixels.
    s_area, s_ratio, s_y, s_x = split(s_crop, 4)
    area = height * width * uniform([batch, 10], s_area, *scale)
    aspect = np.exp(uniform([batch, 10], s_ratio, np.log(ratio[0]), np.log(ratio[1])))
    crop_w, crop_h = np.sqrt(area * aspect), np.sqrt(area / aspect)
    fits = (crop_w <= width) & (crop_h <= height)
    first = fits.argmax(axis=1)
    crop_w = np.where(fits.any(1), crop_w[np.arange(batch), first], width)
    crop_h = np.where(fits.any(1), crop_h[np.arange(batch), first], height)
    y0 = uniform([batch], s_y) * (height - crop_h)
    x0 = uniform([batch], s_x) * (width - crop_w)
    out = np.zeros((batch, size, size, 3))
    for i in range(batch):
        ys = y0[i] + np.arange(size) * (crop_h[i] - 1) / (size - 1)
        xs = x0[i] + np.arange(size) * (crop_w[i] - 1) / (size - 1)
        top, left = np.floor(ys).astype(int), np.floor(xs).astype(int)
        bottom, right = np.minimum(top + 1, height - 1), np.minimum(left + 1, width - 1)
        dy, dx = (ys - top)[:, None, None], (xs - left)[None, :, None]
        img = x[i]
        upper = img[top][:, left] + (img[top][:, right] - img[top][:, left]) * dx
        lower = img[bottom][:, left] + (img[bottom][:, right] - img[bottom][:, left]) * dx
        out[i] = upper + (lower - upper) * dy
    flip = uniform([batch], s_flip) < flip_p
    out[flip] = out[flip][:, :, ::-1]

    s_jitter, s_grey = split(s_color, 2)
    s_b, s_c, s_s, s_h, s_order, s_apply = split(s_jitter, 6)
    b, c, s = (uniform([batch, 1, 1, 1], k, max(0.0, 1 - j), 1 + j).ravel()
               for k, j in zip((s_b, s_c, s_s), jitter[:3]))
    h = uniform([batch, 1, 1, 1], s_h, -jitter[3], jitter[3]).ravel()
    order = np.argsort(uniform([batch, 4], s_order), axis=1, kind="stable")
    apply = uniform([batch], s_apply) < jitter_p
    for i in np.flatnonzero(apply):
        img = out[i]
        for op in order[i]:
            if op == 0:
                img = img * b[i]
            elif op == 1:
                mean = img.mean(axis=(0, 1))
                img = (img - mean) * c[i] + mean
            elif op == 2:
                grey = (img * LUMA).sum(-1, keepdims=True)
                img = grey + (img - grey) * s[i]
            else:
                img = np.array([colorsys.hsv_to_rgb((hh + h[i]) % 1.0, ss, vv) for hh, ss, vv in
                                (colorsys.rgb_to_hsv(*p) for p in img.reshape(-1, 3))])
                img = img.reshape(size, size, 3)
            img = np.clip(img, 0.0, 1.0)
        out[i] = img
    grey = uniform([batch], s_grey) < grey_p
    out[grey] = np.repeat((out[grey] * LUMA).sum(-1, keepdims=True), 3, axis=-1)
    return out


@pytest.mark.parametrize("strength,scale,seed", [(0.5, (0.2, 1.0), (3, 7)), (1.0, (0.08, 1.0), (5, 1))])
def test_simclr_transform_matches_a_float64_reference(strength, scale, seed):
    # Random pixels (every hue, saturation and value) in 12 images; the quickstart's and the paper's
    # strengths. The boxes' float32 coordinates move bilinear samples of noise by up to ~1e-5.
    images = np.random.default_rng(6).integers(0, 256, size=(12, 32, 32, 3)).astype(np.uint8)
    images[0] = images[0, :, :, :1]  # a grey image: hue and saturation degenerate
    seed = tf.constant(seed, tf.int64)
    transform = SimCLRTransform(28, crop_scale=scale, color_strength=strength)
    jitter = (0.8 * strength,) * 3 + (0.2 * strength,)
    expected = _reference_simclr_view(images, seed, 28, scale, (3 / 4, 4 / 3), jitter, 0.5, 0.8, 0.2)
    for out in (transform(images, seed), tf.function(transform)(images, seed)):
        np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-4)


def test_simclr_transform_with_unknown_batch_size_in_a_graph():
    transform = SimCLRTransform(24, blur_probability=0.5, solarize_probability=0.5)
    traced = tf.function(transform, input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.uint8),
                                                     tf.TensorSpec([2], tf.int64)])
    images = _uint8_batch(5)
    np.testing.assert_allclose(traced(images, SEED), transform(images, SEED), atol=1e-6)


def test_simclr_transform_rejects_bad_ranges():
    with pytest.raises(ValueError, match="crop_scale"):
        SimCLRTransform(32, crop_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="crop_ratio"):
        SimCLRTransform(32, crop_ratio=(0.0, 1.0))
    with pytest.raises(ValueError, match="at least one"):
        MultiViewTransform([])


def test_uint8_conversion_and_rotation_without_base():
    images = _uint8_batch(2)
    identity = PaddedCropFlipTransform(padding=0, flip_probability=0.0)
    np.testing.assert_array_equal(identity(images, SEED), images.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(to_float_images(images), images.astype(np.float32) / 255.0)
    rotated, labels = _roundtrip(RotationTransform())(images, SEED)
    expected, expected_labels = rotate_all(images.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(rotated, expected)
    np.testing.assert_array_equal(labels, expected_labels)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_in_parallel_tf_data_map_draws_fresh_parameters(name):
    # Keras' random augmentation layers repeated draws across parallel map calls; every batch here
    # carries its own seed, so identical input batches must give different outputs, reproducibly.
    transform = TRANSFORMS[name]()
    batches = 8

    def run():
        data = tf.data.Dataset.from_tensors(_uint8_batch()).repeat(batches)
        seeds = tf.data.Dataset.random(seed=0).batch(2)
        ds = tf.data.Dataset.zip(data, seeds).map(transform, num_parallel_calls=4)
        return [_views(name, out) for out in ds]

    outputs = run()
    assert len(outputs) == batches
    for a, b in itertools.combinations(outputs, 2):
        for va, vb in zip(a, b):
            assert not np.array_equal(va, vb)
    for a, b in zip(outputs, run()):
        for va, vb in zip(a, b):
            np.testing.assert_array_equal(va, vb)


def test_apply_where_runs_fn_on_the_selected_images_only():
    images = tf.reshape(tf.range(6 * 2 * 2 * 1, dtype=tf.float32), [6, 2, 2, 1])
    seen = []

    def fn(selected, indices):
        seen.append(indices)
        return -selected - tf.cast(indices, tf.float32)[:, None, None, None]

    mask = tf.constant([True, False, False, True, True, False])
    out = apply_where(mask, fn, images).numpy()
    expected = images.numpy().copy()
    for i in (0, 3, 4):
        expected[i] = -expected[i] - i
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(seen[0], [0, 3, 4])
    # Nothing selected: fn is not run on an empty batch (MirrorPad refuses one) and shapes stay.
    none = apply_where(tf.zeros([6], tf.bool), lambda x, i: tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]],
                                                                   mode="REFLECT")[:, 1:-1, 1:-1],
                       images)
    np.testing.assert_array_equal(none, images)
    graph = tf.function(lambda x: apply_where(mask, fn, x)).get_concrete_function(
        tf.TensorSpec([6, 2, 2, 1])).structured_outputs
    assert graph.shape == (6, 2, 2, 1)
