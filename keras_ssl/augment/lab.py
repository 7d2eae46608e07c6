"""CIE Lab colour space (D65 white, 2-degree observer) in TensorFlow, and the quantised ab gamut of
Zhang, Isola & Efros 2016 ("Colorful Image Colorization").

The constants are those of scikit-image's `rgb2lab` / `lab2rgb` (sRGB companding, the sRGB -> XYZ
matrix, 0.008856 / 7.787 in the cube-root segment), so the two agree to float32 rounding.

Example:
```python
lab = rgb_to_lab(images)              # float RGB in [0, 1] [..., 3] -> L in [0, 100], a, b
rgb = lab_to_rgb(lab)                 # back, clipped to [0, 1]
bins = in_gamut_ab_bins(grid=10)      # [Q, 2] ab bin centres reachable by some sRGB colour
```
"""

import numpy as np
import tensorflow as tf

_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_RGB_FROM_XYZ = np.linalg.inv(_XYZ_FROM_RGB)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def rgb_to_lab(rgb):
    """float sRGB in [0, 1] ``[..., 3]`` -> Lab ``[..., 3]``.

    L in [0, 100], a and b about [-110, 110].
    """
    rgb = tf.cast(rgb, tf.float32)
    linear = tf.where(rgb > 0.04045, tf.pow((tf.maximum(rgb, 0.04045) + 0.055) / 1.055, 2.4),
                      rgb / 12.92)
    xyz = tf.tensordot(linear, tf.constant(_XYZ_FROM_RGB.T, tf.float32), 1)
    xyz = xyz / tf.constant(_WHITE_D65, tf.float32)
    f = tf.where(xyz > 0.008856, tf.pow(tf.maximum(xyz, 0.008856), 1.0 / 3.0),
                 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = tf.unstack(f, axis=-1)
    return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab, clip=True):
    """Lab [..., 3] -> float sRGB [..., 3], clipped to [0, 1] (as scikit-image) unless `clip=False`."""
    lab = tf.cast(lab, tf.float32)
    L, a, b = tf.unstack(lab, axis=-1)
    fy = (L + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = tf.maximum(fy - b / 200.0, 0.0)  # scikit-image clips negative z to 0
    f = tf.stack([fx, fy, fz], axis=-1)
    xyz = tf.where(f > 0.2068966, tf.pow(f, 3.0), (f - 16.0 / 116.0) / 7.787)
    xyz = xyz * tf.constant(_WHITE_D65, tf.float32)
    linear = tf.tensordot(xyz, tf.constant(_RGB_FROM_XYZ.T, tf.float32), 1)
    rgb = tf.where(linear > 0.0031308,
                   1.055 * tf.pow(tf.maximum(linear, 0.0031308), 1.0 / 2.4) - 0.055,
                   linear * 12.92)
    return tf.clip_by_value(rgb, 0.0, 1.0) if clip else rgb


def lightness(rgb):
    """float sRGB [..., 3] -> L / 100 in [0, 1], [..., 1] (the colorization network's input)."""
    return rgb_to_lab(rgb)[..., :1] / 100.0


def ab_grid(grid=10, extent=110):
    """All ab bin centres of a `grid`-spaced square grid over [-extent, extent]^2, [G*G, 2]."""
    axis = np.arange(-extent, extent + 1e-9, grid, dtype=np.float64)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=-1)


def in_gamut_ab_bins(grid=10, extent=110, lightness_steps=101, samples_per_bin=5):
    """The ab bins (centres, [Q, 2] float32) that some in-gamut sRGB colour falls into.

    A bin is kept when any of `samples_per_bin`^2 points of its cell, at any of `lightness_steps`
    L values, converts to sRGB inside [0, 1] without clipping. Zhang et al. (section 2.1) use the
    313 in-gamut bins at grid 10 for ImageNet (their `pts_in_hull`); this computes the gamut of
    the sRGB cube, which is the set their 313 were drawn from (the count differs by a few bins
    at the edge, depending on how a cell counts as reached).
    """
    centres = ab_grid(grid, extent)
    offsets = (np.arange(samples_per_bin) + 0.5) / samples_per_bin * grid - grid / 2
    da, db = np.meshgrid(offsets, offsets, indexing="ij")
    points = centres[:, None, :] + np.stack([da.ravel(), db.ravel()], -1)[None]  # [G, S, 2]
    L = np.linspace(0.0, 100.0, lightness_steps)
    lab = np.concatenate([
        np.broadcast_to(L[:, None, None, None], (len(L),) + points.shape[:2] + (1,)),
        np.broadcast_to(points[None], (len(L),) + points.shape)], axis=-1)
    rgb = lab_to_rgb(lab.astype(np.float32), clip=False).numpy()
    inside = np.all((rgb >= -1e-4) & (rgb <= 1 + 1e-4), axis=-1).any(axis=(0, 2))
    return centres[inside].astype(np.float32)


def ab_bins_from_data(images, grid=10, extent=110, min_count=1):
    """The ab bins that the pixels of `images` (uint8 or float RGB [N, H, W, 3]) fall into, with
    their empirical probabilities: (centres float32 [Q, 2], prior float64 [Q]).

    For a dataset other than ImageNet the bins (and the prior used for class rebalancing) are
    taken from its training images: a bin with fewer than `min_count` pixels is dropped.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    counts = np.zeros(len(ab_grid(grid, extent)), np.float64)
    for start in range(0, len(images), 1024):
        ab = rgb_to_lab(images[start:start + 1024]).numpy()[..., 1:].reshape(-1, 2)
        counts += np.bincount(nearest_grid_index(ab, grid, extent), minlength=len(counts))
    keep = counts >= min_count
    centres = ab_grid(grid, extent)[keep].astype(np.float32)
    return centres, counts[keep] / counts[keep].sum()


def nearest_grid_index(ab, grid=10, extent=110):
    """Index into `ab_grid(grid, extent)` of the cell holding each ab point (NumPy, [...] int)."""
    side = int(round(2 * extent / grid)) + 1
    ij = np.clip(np.round((np.asarray(ab) + extent) / grid), 0, side - 1).astype(np.int64)
    return ij[..., 0] * side + ij[..., 1]


def ab_prior(images, bins):
    """The empirical distribution of `images`' pixels over `bins` (nearest bin), float64 [Q]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    bins = tf.constant(bins, tf.float32)
    counts = np.zeros(int(bins.shape[0]), np.float64)
    for start in range(0, len(images), 256):
        ab = tf.reshape(rgb_to_lab(images[start:start + 256])[..., 1:], [-1, 2])
        nearest = tf.argmin(_squared_distances(ab, bins), axis=-1)
        counts += np.bincount(nearest.numpy(), minlength=len(counts))
    return counts / counts.sum()


def _squared_distances(ab, bins):
    """[P, 2] x [Q, 2] -> [P, Q] squared Euclidean distances."""
    return (tf.reduce_sum(ab ** 2, -1, keepdims=True) - 2.0 * tf.matmul(ab, bins, transpose_b=True)
            + tf.reduce_sum(bins ** 2, -1)[None])


def soft_encode(ab, bins, neighbours=5, sigma=5.0):
    """Zhang et al.'s soft encoding (section 2.1): each ab value [..., 2] -> a distribution over
    `bins` [Q, 2] on its `neighbours` nearest bins, weighted by a Gaussian of width `sigma`,
    [..., Q], summing to 1.

    5 neighbours, sigma 5 are the paper's (section 2.1), which is the spec here. The authors'
    training code differs: `NNEncLayer` (`caffe_traininglayers.py`) uses 10 neighbours (sigma 5).
    At sigma 5 on the grid-10 bins the 6th-10th nearest bins carry at most 6.8% of the mass, so
    the two encodings differ little; `neighbours=10` gives the code's.
    """
    ab = tf.cast(ab, tf.float32)
    bins = tf.constant(bins, tf.float32) if not isinstance(bins, tf.Tensor) else bins
    flat = tf.reshape(ab, [-1, 2])
    d2 = tf.maximum(_squared_distances(flat, bins), 0.0)
    neg, index = tf.math.top_k(-d2, k=neighbours)
    weights = tf.nn.softmax(neg / (2.0 * sigma ** 2), axis=-1)  # exp(-d^2 / 2 sigma^2), normalised
    q = bins.shape[0]
    dense = tf.reduce_sum(tf.one_hot(index, q) * weights[..., None], axis=1)
    return tf.reshape(dense, tf.concat([tf.shape(ab)[:-1], [q]], 0))


def smoothed_prior(prior, bins, sigma=5.0):
    """The empirical prior [Q] smoothed by a Gaussian of width `sigma` over the ab bins [Q, 2]."""
    prior, bins = np.asarray(prior, np.float64), np.asarray(bins, np.float64)
    if not sigma:
        return prior / prior.sum()
    kernel = np.exp(-((bins[:, None] - bins[None]) ** 2).sum(-1) / (2 * sigma ** 2))
    smoothed = kernel @ prior
    return smoothed / smoothed.sum()


def rebalancing_weights(prior, bins, lam=0.5, sigma=5.0):
    """Class-rebalancing weights w [Q] (Zhang et al., Eq. 3-4): the empirical prior smoothed by a
    Gaussian of width `sigma` over the ab bins, p~, mixed with the uniform by `lam`, inverted,
    w ~ ((1 - lam) p~ + lam / Q)^-1, and normalised so that the expected weight under the
    (smoothed) prior is 1: sum_q p~_q w_q = 1."""
    p = smoothed_prior(prior, bins, sigma)
    w = 1.0 / ((1 - lam) * p + lam / len(p))
    return w / np.sum(p * w)


def annealed_mean(probabilities, bins, temperature=0.38):
    """Zhang et al.'s decoding (Eq. 5): ab = mean of `bins` under the distribution re-tempered
    as exp(log z / T), [..., Q] -> [..., 2]. T = 1 is the mean, T -> 0 the mode."""
    z = tf.cast(probabilities, tf.float32)
    logits = tf.math.log(tf.maximum(z, 1e-12)) / temperature
    return tf.tensordot(tf.nn.softmax(logits, axis=-1), tf.constant(bins, tf.float32), 1)
