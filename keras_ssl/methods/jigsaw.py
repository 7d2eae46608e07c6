"""Jigsaw (Noroozi & Favaro 2016, "Unsupervised Learning of Visual Representations by Solving Jigsaw
Puzzles")."""

import keras
import numpy as np

from keras_ssl import augment, config_checks
from keras_ssl.augment.jigsaw import reassemble_tiles
from keras_ssl.heads import TileClassifier
from keras_ssl.methods import registry
from keras_ssl.methods.patch_grid import (PatchGridMethod, check_tiles, cross_entropy_and_accuracy,
                                          grid_arguments, mosaic, text_images, whole_image_encoder)


@keras.saving.register_keras_serializable(package="keras_ssl")
class Jigsaw(PatchGridMethod):
    """Solve a 3x3 jigsaw puzzle: which of P permutations shuffled the tiles.

    The context-free network (section 3.1): one encoder with shared weights on each of the 9 tiles,
    a shared per-tile layer (fc6), the 9 outputs concatenated in the puzzle's (shuffled) order, an
    MLP (fc7) and a P-way softmax (fc8). Trained with `model.fit` on `(puzzles [B, 9, t, t, 3],
    permutation indices [B])` from `keras_ssl.augment.JigsawTransform`; `model(images)` embeds
    whole images with the encoder (fully convolutional with pooling).

    Args:
        encoder: a Keras model mapping images to features.
        num_permutations: P, the permutation set's size (100 in the paper's main results).
        tile_dim: the per-tile layer's width (512 in the paper).
        head_hidden_dims: the fusion MLP's hidden widths (the paper's fc7: 4096).
        synchronized_bn: the heads' batch norm over all replicas.
        standardize_images: `model.encoder` standardises each whole image, as the transform's
            `normalize` does each tile (turn off with it).

    Example:
    ```python
    model = keras_ssl.methods.Jigsaw(keras_ssl.encoders.ResNet18(stem="cifar"), num_permutations=100)
    model.compile(optimizer="sgd")
    model.fit(dataset.map(lambda x, seed: keras_ssl.augment.JigsawTransform(18, 3, 1)(x, seed)))
    ```
    """

    metric_names = ("loss", "jigsaw_accuracy")

    def __init__(self, encoder, num_permutations=100, tile_dim=512, head_hidden_dims=(4096,),
                 synchronized_bn=False, standardize_images=True, **kwargs):
        super().__init__(encoder, standardize_images=standardize_images, **kwargs)
        self.num_permutations, self.tile_dim = int(num_permutations), int(tile_dim)
        self.head_hidden_dims = tuple(head_hidden_dims)
        self.synchronized_bn = synchronized_bn
        self.classifier = TileClassifier(augment.jigsaw.NUM_TILES, self.num_permutations,
                                         self.tile_dim, self.head_hidden_dims, synchronized_bn,
                                         name="jigsaw_classifier")

    def build_heads(self, feature_shape):
        self.classifier.build((None, augment.jigsaw.NUM_TILES, feature_shape[-1]))

    def compute_objective(self, data, training):
        puzzles, labels = data
        logits = self.classifier(self.tile_encoder(puzzles, training=training), training=training)
        loss, accuracy = cross_entropy_and_accuracy(logits, labels)
        return loss, {"jigsaw_accuracy": accuracy}

    def get_config(self):
        config = super().get_config()
        config.update(num_permutations=self.num_permutations, tile_dim=self.tile_dim,
                      head_hidden_dims=self.head_hidden_dims,
                      synchronized_bn=self.synchronized_bn)
        return config


def _arguments(config):
    a = grid_arguments(config, paper_extent=225, paper_tile=64, paper_jitter=5)
    if a["channel_jitter"] is None:  # the paper's 2 pixels of a 225 crop, whole pixels only
        a["channel_jitter"] = int(2 * config.data.image_size / 225)
    return a


def jigsaw_views(config):
    return augment.JigsawTransform(**_arguments(config))


def _checks(config):
    check_tiles(config, arguments=_arguments(config))
    a = config.augment
    config_checks.check(isinstance(a.num_permutations, int) and 2 <= a.num_permutations <= 362880,
                        "augment.num_permutations", a.num_permutations, "an integer in 2..9!")
    config_checks.boolean("augment.normalize", a.normalize)
    config_checks.check(a.channel_jitter is None or (isinstance(a.channel_jitter, int)
                                                     and a.channel_jitter >= 0),
                        "augment.channel_jitter", a.channel_jitter, "None or an integer >= 0")


def _run_arguments(config, steps_per_epoch):
    del steps_per_epoch
    return {"num_permutations": config.augment.num_permutations,
            "standardize_images": config.augment.normalize}


def _preview(transform, images, outputs):
    """The puzzle as the network gets it (tiles in shuffled order, with the gap), its label and
    permutation (read in the transform's own set), and the tiles put back by the inverse
    permutation (the grid of the original)."""
    del images
    puzzles, labels = outputs
    permutations = transform.permutations
    labels = np.asarray(labels)
    texts = []
    for label in labels:
        rows = np.asarray(permutations[label]).reshape(3, 3)
        texts.append(f"label {label}\n" + "\n".join(" ".join(str(v) for v in r) for r in rows))
    restored = reassemble_tiles(puzzles, permutations, labels)
    return [("puzzle (shuffled)", mosaic(puzzles, 3, 2)),
            ("permutation p", text_images(texts)),
            ("tiles[argsort(p)]", mosaic(restored, 3, 2))]


registry.register(
    "jigsaw", Jigsaw,
    # The paper's network (section 3.1): fc6 512 per tile, fc7 4096, fc8 P.
    model=dict(tile_dim=512, head_hidden_dims=(4096,)),
    # Section 3.2 / 4: 225-pixel crops in a 3x3 grid of 75-pixel cells, 64-pixel tiles at random
    # inside each cell (gap 11, jitter +-5 here), P = 100 permutations of maximal Hamming distance,
    # each tile's mean and std normalised, 30% of the images grey. tile_size / gap / jitter None:
    # those proportions of data.image_size (the jigsaw_imagenet recipe sets 64 / 11 / 5).
    augment=dict(tile_size=registry.unset(int), gap=registry.unset(int),
                 jitter=registry.unset(int), num_permutations=100, permutation_seed=0,
                 normalize=True, color_mode="grey", grey_probability=0.3,
                 crop_scale=registry.unset(tuple), channel_jitter=registry.unset(int)),
    views=jigsaw_views, checks=_checks, run_arguments=_run_arguments,
    whole_image_encoder=whole_image_encoder, preview=_preview)
