"""Context Prediction (Doersch, Gupta & Efros 2015, "Unsupervised Visual Representation Learning by
Context Prediction")."""

import keras
import numpy as np

from keras_ssl import augment, config_checks
from keras_ssl.augment.context import NEIGHBOUR_OFFSETS, NUM_POSITIONS
from keras_ssl.heads import TileClassifier
from keras_ssl.methods import registry
from keras_ssl.methods.patch_grid import (PatchGridMethod, check_tiles, cross_entropy_and_accuracy,
                                          displayable, grid_arguments, text_images,
                                          whole_image_encoder)


@keras.saving.register_keras_serializable(package="keras_ssl")
class ContextPrediction(PatchGridMethod):
    """Predict which of a patch's 8 neighbours on a grid of patches a second patch is.

    Both patches go through one encoder (shared weights, section 3); late fusion: a shared per-patch
    layer (fc6), the two outputs concatenated (first patch first), an MLP (fc7, fc8) and an 8-way
    softmax (fc9), the depth of the paper's figure 3 and the authors' train.py (`gen_net`). Every
    hidden layer has batch norm; train.py's fc8 has none. Trained with `model.fit` on
    `(pairs [B, 2, t, t, 3], labels [B])` from `keras_ssl.augment.ContextPredictionTransform`;
    `model(images)` embeds whole images.

    Args:
        encoder: a Keras model mapping images to features.
        tile_dim: the per-patch layer's width (the paper's fc6: 4096).
        head_hidden_dims: the fusion MLP's hidden widths (the paper's fc7, fc8: 4096, 4096).
        standardize_images: `model.encoder` standardises each whole image, as the transform's
            `normalize` does each patch (turn off with it).
        synchronized_bn: the heads' batch norm over all replicas.

    Example:
    ```python
    model = keras_ssl.methods.ContextPrediction(keras_ssl.encoders.ResNet18(stem="cifar"))
    model.compile(optimizer="sgd")
    model.fit(dataset)  # (pairs, labels) batches
    ```
    """

    metric_names = ("loss", "position_accuracy")

    def __init__(self, encoder, tile_dim=4096, head_hidden_dims=(4096, 4096), synchronized_bn=False,
                 standardize_images=True, **kwargs):
        super().__init__(encoder, standardize_images=standardize_images, **kwargs)
        self.tile_dim, self.head_hidden_dims = int(tile_dim), tuple(head_hidden_dims)
        self.synchronized_bn = synchronized_bn
        self.classifier = TileClassifier(2, NUM_POSITIONS, self.tile_dim, self.head_hidden_dims,
                                         synchronized_bn, name="position_classifier")

    def build_heads(self, feature_shape):
        self.classifier.build((None, 2, feature_shape[-1]))

    def compute_objective(self, data, training):
        pairs, labels = data
        logits = self.classifier(self.tile_encoder(pairs, training=training), training=training)
        loss, accuracy = cross_entropy_and_accuracy(logits, labels)
        return loss, {"position_accuracy": accuracy}

    def get_config(self):
        config = super().get_config()
        config.update(tile_dim=self.tile_dim, head_hidden_dims=self.head_hidden_dims,
                      synchronized_bn=self.synchronized_bn)
        return config


def _arguments(config):
    a = grid_arguments(config, paper_extent=432, paper_tile=96, paper_jitter=7)
    if a["min_pixels"] is None:  # the paper's 100 pixels of a 96-pixel patch
        a["min_pixels"] = max(1, int(round(100 * (a["tile_size"] / 96) ** 2)))
    return a


def context_views(config):
    return augment.ContextPredictionTransform(**_arguments(config))


def _run_arguments(config, steps_per_epoch):
    del steps_per_epoch
    return {"standardize_images": config.augment.normalize}


def _checks(config):
    check_tiles(config, arguments=_arguments(config))
    a = config.augment
    config_checks.boolean("augment.normalize", a.normalize)
    config_checks.check(isinstance(a.pixelation_probability, (int, float))
                        and 0 <= a.pixelation_probability <= 1, "augment.pixelation_probability",
                        a.pixelation_probability, "a number in [0, 1]")
    config_checks.check(a.min_pixels is None or (isinstance(a.min_pixels, int) and a.min_pixels >= 1),
                        "augment.min_pixels", a.min_pixels, "None or an integer >= 1")


def _pair_in_place(pairs, labels, gap=2):
    """Both patches drawn in a 3x3 grid, the first at its centre, the neighbour in the cell its
    label names (the other cells white), with the gap."""
    pairs = displayable(pairs)
    n, t = pairs.shape[0], pairs.shape[2]
    cell = t + gap
    out = np.ones((n, 3 * cell - gap, 3 * cell - gap, 3), np.float32)
    for i in range(n):
        dy, dx = NEIGHBOUR_OFFSETS[int(labels[i])]
        for (row, col), patch in (((1, 1), pairs[i, 0]), ((1 + dy, 1 + dx), pairs[i, 1])):
            out[i, row * cell:row * cell + t, col * cell:col * cell + t] = patch
    return out


def _preview(transform, images, outputs):
    """The first patch, its neighbour, the label's name and the pair put in place."""
    del images
    pairs, labels = outputs
    labels = np.asarray(labels)
    names = {(-1, -1): "top-left", (-1, 0): "top", (-1, 1): "top-right", (0, -1): "left",
             (0, 1): "right", (1, -1): "bottom-left", (1, 0): "bottom", (1, 1): "bottom-right"}
    texts = [f"label {label}\n{names[NEIGHBOUR_OFFSETS[label]]}" for label in labels]
    pairs_np = displayable(np.asarray(pairs))
    return [("first patch", pairs_np[:, 0]), ("neighbour", pairs_np[:, 1]),
            ("label", text_images(texts)), ("pair in the grid", _pair_in_place(pairs, labels))]


registry.register(
    "context_prediction", ContextPrediction,
    # The paper's late-fusion AlexNet-style head (section 3, figure 3; train.py's gen_net): fc6
    # 4096 per patch, fc7 4096, fc8 4096, fc9 8.
    model=dict(tile_dim=4096, head_hidden_dims=(4096, 4096)),
    # Section 3 / 3.1: 96-pixel patches, gap 48, jitter up to 7 pixels, each patch's mean removed,
    # "projection" against chromatic aberration, a third of the patches pixelated down to 100
    # pixels (the authors' code); the pair anywhere on a grid at a random offset (train.py).
    # tile_size / gap / jitter / min_pixels None: those proportions of data.image_size
    # (the context_prediction_imagenet recipe sets 96 / 48 / 7 / 100).
    augment=dict(tile_size=registry.unset(int), gap=registry.unset(int),
                 jitter=registry.unset(int), normalize=True, color_mode="project",
                 grey_probability=0.3, crop_scale=registry.unset(tuple),
                 pixelation_probability=1.0 / 3.0, min_pixels=registry.unset(int)),
    views=context_views, checks=_checks, run_arguments=_run_arguments,
    whole_image_encoder=whole_image_encoder, preview=_preview)
