"""What the patch-grid pretext methods share (Context Prediction, Jigsaw, Counting): a siamese
tile encoder, the build on tile batches, the config checks and the preview drawings. Their tile
classifier is a head, `keras_ssl.heads.TileClassifier`."""

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import config_checks
from keras_ssl.augment.tiles import COLOR_MODES, check_grid, grid_to_image
from keras_ssl.heads import TileEncoder
from keras_ssl.layers import StandardizedInput
from keras_ssl.methods.base import PretrainingMethod


def standardized_encoder(base):
    """`base` behind a per-image standardisation (`keras_ssl.layers.StandardizedInput`): the
    whole-image encoder of a task trained on normalised tiles. It takes RGB in [0, 1] like every
    encoder, so `keras-ssl eval` / `export` work unchanged, and hands `base` an image scaled as its
    tiles were (Kolesnikov et al. 2019 standardise their evaluation patches the same way)."""
    inputs = keras.Input(base.input_shape[1:], name="images")
    standardized = StandardizedInput(name="standardize", dtype="float32")(inputs)
    return keras.Model(inputs, base(standardized), name="standardized_encoder")


def whole_image_encoder(config, encoder):
    """The registry's `whole_image_encoder` of a task whose `augment.normalize` switches the
    per-tile normalisation."""
    return standardized_encoder(encoder) if config.augment.normalize else encoder


class PatchGridMethod(PretrainingMethod):
    """A method trained on tiles [B, T, h, w, 3] whose encoder embeds whole images [B, H, W, 3].

    `standardize_images`: the whole-image encoder (`model.encoder`, what `model(images)`, eval and
    export use) standardises each image first, as the tiles were in training; `encoder` itself
    embeds the tiles.
    """

    def __init__(self, encoder, standardize_images=False, **kwargs):
        self.base_encoder = encoder
        self.standardize_images = bool(standardize_images)
        super().__init__(standardized_encoder(encoder) if self.standardize_images else encoder,
                         **kwargs)
        self.tile_encoder = TileEncoder(encoder)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) == 4:  # whole images (model(images), a .keras load)
            super().build(input_shape)
            return
        tile_shape = (None, *input_shape[-3:])
        self.base_encoder.build(tile_shape)
        self.build_heads(self.base_encoder.compute_output_shape(tile_shape))

    def get_config(self):
        config = super().get_config()
        config["encoder"] = keras.saving.serialize_keras_object(self.base_encoder)
        config["standardize_images"] = self.standardize_images
        return config


def cross_entropy_and_accuracy(logits, labels):
    """Mean softmax cross-entropy (float32) and top-1 accuracy of int labels [B]."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    hits = tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), labels)
    return loss, tf.reduce_mean(tf.cast(hits, tf.float32))


def grid_arguments(config, paper_extent, paper_tile, paper_jitter, grid=3):
    """The config's augment section with tile_size / gap / jitter left None filled in with the
    paper's proportions at `data.image_size`: cells of a third of the image, tiles of
    paper_tile / paper_extent of it, the jitter scaled likewise (at most gap // 2)."""
    a = dict(config.augment)
    size = config.data.image_size
    cell = size // grid
    if a.get("tile_size") is None:
        a["tile_size"] = max(1, min(cell, int(size * paper_tile / paper_extent)))
    if a.get("gap") is None:
        a["gap"] = max(0, cell - a["tile_size"])
    if a.get("jitter") is None:
        a["jitter"] = min(a["gap"] // 2, int(round(size * paper_jitter / paper_extent)))
    if a.get("crop_scale") is not None:
        a["crop_scale"] = tuple(a["crop_scale"])
    return a


def check_tiles(config, grid=3, arguments=None):
    """The augment section's grid fits data.image_size; tiles cannot overlap; known colour mode."""
    a = config.augment if arguments is None else arguments
    for key in ("tile_size", "gap", "jitter"):
        config_checks.check(isinstance(a[key], int) and a[key] >= (1 if key == "tile_size" else 0),
                            f"augment.{key}", a[key], "an integer >= 1" if key == "tile_size"
                            else "an integer >= 0")
    config_checks.check(2 * a["jitter"] <= a["gap"], "augment.jitter", a["jitter"],
                        f"at most augment.gap // 2 = {a['gap'] // 2} (tiles stay in their cells)")
    try:
        check_grid(config.data.image_size, grid, a["tile_size"], a["gap"], a["jitter"])
    except ValueError as e:
        raise ValueError(f"config key augment.tile_size={a['tile_size']!r} is invalid: {e} Lower "
                         "augment.tile_size / augment.gap or raise data.image_size.") from None
    if a.get("crop_scale") is not None:
        config_checks.crop_scale("augment.crop_scale", a["crop_scale"])
    check_colors(config)


def check_colors(config):
    a = config.augment
    config_checks.check(a.color_mode in COLOR_MODES, "augment.color_mode", a.color_mode,
                        f"one of {COLOR_MODES}")


# --- preview drawings (keras-ssl preview) ---------------------------------------------------


def displayable(tiles):
    """Tiles for looking: those in [0, 1] as they are, others (normalised ones) min-max scaled to
    [0, 1] each."""
    tiles = np.asarray(tiles, np.float32)
    axes = tuple(range(tiles.ndim - 3, tiles.ndim))
    low = tiles.min(axis=axes, keepdims=True)
    high = tiles.max(axis=axes, keepdims=True)
    inside = (low >= 0.0) & (high <= 1.0)
    return np.where(inside, tiles, (tiles - low) / np.maximum(high - low, 1e-6))


def mosaic(tiles, grid, gap):
    """[N, grid*grid, t, t, 3] -> [N, S, S, 3] with white gaps (at least 1 pixel, to be seen)."""
    return grid_to_image(displayable(tiles), grid, max(1, gap)).numpy()


def text_images(texts, size=72):
    """One white image [size, size, 3] per string, the text drawn in black (PIL's default font)."""
    from PIL import Image, ImageDraw

    out = []
    for text in texts:
        image = Image.new("RGB", (size, size), "white")
        ImageDraw.Draw(image).multiline_text((4, 4), text, fill="black", spacing=2)
        out.append(np.asarray(image, np.float32) / 255.0)
    return np.stack(out)
