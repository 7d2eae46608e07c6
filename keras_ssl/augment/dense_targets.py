"""Inputs and targets of the two dense pretext tasks, made in the tf.data graph:
colorization (Zhang, Isola & Efros 2016) and inpainting (Pathak et al. 2016's Context Encoder).

Example:
```python
bins = keras_ssl.augment.in_gamut_ab_bins(10)
images, targets = ColorizationTransform(bins)(images_uint8, seed)   # targets [B, S/4, S/4, Q]
masked, images, hole, weights = InpaintingTransform("central")(images_uint8, seed)
```
"""

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.augment import lab, masks
from keras_ssl.augment._random import batch_size, split_seed
from keras_ssl.augment.crop import full_window
from keras_ssl.augment.flip import random_flip
from keras_ssl.augment.simclr_transform import to_float_images

# The mean colour that fills the hole (Pathak et al.'s code fills the ImageNet mean pixel).
IMAGENET_MEAN = (117.0 / 255.0, 104.0 / 255.0, 123.0 / 255.0)
# Pathak et al.'s code weights the predicted overlap with the context 10x (overlapL2Weight).
OVERLAP_WEIGHT = 10.0


class _WholeImage:
    """Streaming crop stage of a transform that works on the whole image at the pipeline's size."""

    def crop_windows(self, height, width, seed):
        return full_window(height, width)[None]

    def crop_sizes(self, image_size=None):
        return [image_size]

    def __call__(self, images, seed):
        return self.augment_crops([to_float_images(images)], seed)


@keras.saving.register_keras_serializable(package="keras_ssl")
class ColorizationTransform(_WholeImage):
    """`transform(images_uint8 [B, S, S, 3], seed) -> (images float [B, S, S, 3], targets)`.

    Images are flipped (Zhang et al. train on flipped random crops); the model converts them to L
    itself. Targets are at 1/`output_stride` resolution (the paper predicts at 1/4, 56 x 56 of
    224): the ab of every `output_stride`-th pixel (`ab_targets`), then `"classification"`:
    soft-encoded over `bins` (`neighbours` nearest bins, Gaussian `sigma`; [B, s, s, Q] summing
    to 1; see `keras_ssl.augment.lab.soft_encode` for the 5 of the paper against the 10 of the
    authors' code), `"regression"`: the ab values themselves ([B, s, s, 2]), the paper's L2
    baseline.
    """

    def __init__(self, bins, output_stride=4, mode="classification", neighbours=5, sigma=5.0,
                 flip_probability=0.5):
        if mode not in ("classification", "regression"):
            raise ValueError(f"mode must be 'classification' or 'regression', got {mode!r}.")
        self.bins = np.asarray(bins, np.float32)
        self.output_stride = int(output_stride)
        self.mode = mode
        self.neighbours = int(neighbours)
        self.sigma = float(sigma)
        self.flip_probability = flip_probability

    def augment_crops(self, crops, seed):
        (x,) = crops
        x = random_flip(x, seed, self.flip_probability)
        ab = ab_targets(x, self.output_stride)
        if self.mode == "regression":
            return x, ab
        return x, lab.soft_encode(ab, self.bins, self.neighbours, self.sigma)

    def get_config(self):
        return {"bins": self.bins.tolist(), "output_stride": self.output_stride, "mode": self.mode,
                "neighbours": self.neighbours, "sigma": self.sigma,
                "flip_probability": self.flip_probability}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def ab_targets(images, output_stride):
    """The ab of every `output_stride`-th pixel of float RGB `images` [B, S, S, 3] (rows and
    columns 0, s, 2s, ...), [B, S/s, S/s, 2].

    Strided, not averaged, as the authors' `colorization_train_val_v2.prototxt` (`data_ab_ss`: a
    fixed 1x1 convolution of stride 4; its 4x4 average pooling is commented out): an average
    blends the colours on either side of an edge into a desaturated ab that neither side has.
    """
    images = tf.convert_to_tensor(images)
    return lab.rgb_to_lab(images[:, ::output_stride, ::output_stride])[..., 1:]


def colour_mask(ab, threshold=5.0):
    """1.0 per image [B] if any |a| or |b| of its ab map [B, h, w, 2] exceeds `threshold`, else
    0.0 (a greyscale image): the authors' `NonGrayMaskLayer` (`caffe_traininglayers.py`,
    threshold 5, on the subsampled ab), which zeroes the loss of greyscale training images."""
    return tf.cast(tf.reduce_any(tf.abs(ab) > threshold, axis=[1, 2, 3]), tf.float32)


@keras.saving.register_keras_serializable(package="keras_ssl")
class InpaintingTransform(_WholeImage):
    """`transform(images_uint8, seed) -> (masked, images, hole, weights)`, all [B, S, S, *] float.

    `masked` is the image with the hole filled with the mean colour, `hole` the [B, S, S, 1] mask
    (1 = missing), `weights` the reconstruction loss's per-pixel weights: 1 on the hole,
    `OVERLAP_WEIGHT` on the `overlap`-pixel band of context around it (which the decoder also
    predicts, as the paper's code does), 0 elsewhere.

    Args:
        kind: "central", "blocks" or "regions" (see `keras_ssl.augment.masks`).
        hole_size: central square side (default half the image).
        num_blocks, block_size: random blocks (default 4 of a quarter of the side).
        coverage: the regions' fraction of the image (default 1/4, as the paper).
        overlap: band width in pixels (the paper's 4 of 128; 1 at 32 x 32).
        flip_probability: horizontal flips before masking.
    """

    def __init__(self, kind="central", hole_size=None, num_blocks=4, block_size=None,
                 coverage=0.25, overlap=1, flip_probability=0.5, fill=IMAGENET_MEAN):
        if kind not in masks.MASK_KINDS:
            raise ValueError(f"kind must be one of {masks.MASK_KINDS}, got {kind!r}.")
        self.kind = kind
        self.hole_size = hole_size
        self.num_blocks = int(num_blocks)
        self.block_size = block_size
        self.coverage = float(coverage)
        self.overlap = int(overlap)
        self.flip_probability = flip_probability
        self.fill = tuple(float(v) for v in fill)

    def augment_crops(self, crops, seed):
        (x,) = crops
        s_flip, s_mask = split_seed(seed, 2)
        x = random_flip(x, s_flip, self.flip_probability)
        hole = masks.make_mask(self.kind, batch_size(x), x.shape[1], s_mask,
                               hole_size=self.hole_size, num_blocks=self.num_blocks,
                               block_size=self.block_size, coverage=self.coverage)
        weights = hole + OVERLAP_WEIGHT * masks.overlap_band(hole, self.overlap)
        return masks.fill_holes(x, hole, self.fill), x, hole, weights

    def get_config(self):
        return {"kind": self.kind, "hole_size": self.hole_size, "num_blocks": self.num_blocks,
                "block_size": self.block_size, "coverage": self.coverage, "overlap": self.overlap,
                "flip_probability": self.flip_probability, "fill": list(self.fill)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
