"""Batched, seeded, per-image augmentations in pure TensorFlow (for tf.data or a train step).

Every function takes a batch and a seed (int tensor [2]) and draws its parameters per image with
stateless random ops; transforms compose them into a method's views.
"""

from keras_ssl.augment.blur import random_gaussian_blur
from keras_ssl.augment.cifar_transform import PaddedCropFlipTransform
from keras_ssl.augment.color import (color_distortion, color_jitter, random_grayscale,
                                     to_grayscale)
from keras_ssl.augment.dense_targets import ColorizationTransform, InpaintingTransform
from keras_ssl.augment.exemplar import ExemplarTransform
from keras_ssl.augment.lab import (ab_bins_from_data, ab_prior, annealed_mean, in_gamut_ab_bins,
                                   lab_to_rgb, lightness, rebalancing_weights, rgb_to_lab,
                                   soft_encode)
from keras_ssl.augment.masks import (central_square_mask, make_mask, random_block_mask,
                                     random_region_mask)
from keras_ssl.augment.crop import (full_window, random_padded_crop, random_resized_crop,
                                    sample_crop_window)
from keras_ssl.augment.flip import random_flip
from keras_ssl.augment.context import ContextPredictionTransform, context_pairs
from keras_ssl.augment.counting import CountingTransform, counting_views
from keras_ssl.augment.jigsaw import JigsawTransform, jigsaw_permutations
from keras_ssl.augment.tiles import grid_tiles, grid_to_image, normalize_tiles
from keras_ssl.augment.multi_view import MultiViewTransform
from keras_ssl.augment.rotation import NUM_ROTATIONS, RotationTransform, rotate_all
from keras_ssl.augment.simclr_transform import SimCLRTransform, to_float_images
from keras_ssl.augment.solarize import random_solarize

__all__ = [
    "ContextPredictionTransform", "CountingTransform", "JigsawTransform",
    "context_pairs",
    "counting_views", "grid_tiles", "grid_to_image", "jigsaw_permutations", "normalize_tiles",
    "ColorizationTransform", "ExemplarTransform", "InpaintingTransform", "ab_bins_from_data",
    "ab_prior", "annealed_mean", "central_square_mask", "in_gamut_ab_bins", "lab_to_rgb",
    "lightness", "make_mask", "random_block_mask", "random_region_mask", "rebalancing_weights",
    "rgb_to_lab", "soft_encode",
    "MultiViewTransform", "NUM_ROTATIONS", "PaddedCropFlipTransform", "RotationTransform",
    "SimCLRTransform", "color_distortion", "color_jitter", "full_window", "random_flip",
    "random_gaussian_blur", "random_grayscale", "random_padded_crop", "random_resized_crop",
    "random_solarize", "rotate_all", "sample_crop_window", "to_float_images", "to_grayscale",
]
