"""Frozen-encoder feature extraction for the evaluation protocols, from a Keras encoder or an
exported SavedModel, over images in memory or batches streamed by a `tf.data.Dataset`."""

import posixpath

import numpy as np
import tensorflow as tf

from keras_ssl.evaluation import _progress, _validation


class SavedModelEncoder:
    """An encoder exported by `keras-ssl export`, used by the protocols with no model code.

    Loads the SavedModel of `keras_ssl.export.export_encoder` with `tf.saved_model.load` and calls
    its `embed` (inference mode) or `embed_training` (batch statistics, updates the batch-norm
    moving averages) function: float32 images in [0, 1], `[B, H, W, 3]` -> `[B, D]`. It can stand
    wherever the protocols take an encoder (`extract_features`, `finetune`); fine-tuning changes
    the loaded variables in memory, never the files.

    Example:

    >>> encoder = SavedModelEncoder("runs/simclr/export")   # doctest: +SKIP
    >>> encoder.image_size, encoder.output_dim               # doctest: +SKIP
    ((32, 32), 128)
    >>> features = extract_features(encoder, images)        # doctest: +SKIP

    Args:
        path: the SavedModel directory.

    Raises:
        ValueError: if `path` holds no SavedModel or one without the exported functions.
    """

    _FUNCTIONS = ("embed", "embed_training", "trainable_variables", "non_trainable_variables")

    def __init__(self, path):
        self.path = str(path)  # Any tf.io.gfile path (local, gs://, ram://).
        graph = posixpath.join(self.path, "saved_model.pb")
        if not tf.io.gfile.exists(graph) or tf.io.gfile.isdir(graph):
            raise ValueError(
                f"{self.path} holds no SavedModel (no saved_model.pb); pass the directory written "
                "by `keras-ssl export`.")
        self._loaded = tf.saved_model.load(self.path)
        missing = [name for name in self._FUNCTIONS if not hasattr(self._loaded, name)]
        if missing or "serving_default" not in self._loaded.signatures:
            raise ValueError(
                f"The SavedModel in {self.path} lacks {missing or ['serving_default']}; it was not "
                "written by `keras-ssl export` (keras_ssl.export.export_encoder). Re-export the "
                "encoder with it.")
        # Exported with `layers`: their names (shallow to deep) and `feature_maps`.
        names = getattr(self._loaded, "feature_layers", None)
        self.layers = [n.decode() for n in names.numpy()] if names is not None else []
        serving = self._loaded.signatures["serving_default"]
        # serving_default takes any size (and resizes); embed takes the encoder's.
        images_spec = self._loaded.embed.input_signature[0]
        self.image_size = tuple(int(s) for s in images_spec.shape[1:3])
        self.output_dim = int(serving.structured_outputs["embeddings"].shape[-1])

    def __call__(self, images, training=False):
        function = self._loaded.embed_training if training else self._loaded.embed
        return function(tf.cast(images, tf.float32))

    def feature_maps(self, images):
        """``{layer: [B, h, w, C]}`` of the exported `layers` (inference mode)."""
        return self._loaded.feature_maps(tf.cast(images, tf.float32))

    @property
    def trainable_variables(self):
        return list(self._loaded.trainable_variables)

    @property
    def non_trainable_variables(self):
        return list(self._loaded.non_trainable_variables)


def encoder_image_size(encoder):
    """The (height, width) an encoder takes, or None when it accepts any size.

    Example:

    >>> import keras
    >>> encoder_image_size(keras.Sequential([keras.Input((28, 30, 3)),
    ...                                      keras.layers.GlobalAveragePooling2D()]))
    (28, 30)
    """
    if isinstance(encoder, SavedModelEncoder):
        return encoder.image_size
    shape = getattr(encoder, "input_shape", None)
    if shape is None or len(shape) != 4 or None in shape[1:3]:
        return None
    return int(shape[1]), int(shape[2])


def extract_features(encoder, images, batch_size=512, verbose=False):
    """Runs ``encoder`` in inference mode over uint8 images and returns its features.

    Images are scaled to float32 in [0, 1] (the library's encoder input
    convention) with no augmentation, and the encoder is called with
    ``training=False`` so batch-norm uses its moving statistics, as in the
    frozen-feature protocols of Wu et al. 2018 (kNN) and Zhang et al. 2016 /
    Chen et al. 2020 (linear evaluation).

    Example:

    >>> import keras, numpy as np
    >>> inputs = keras.Input((32, 32, 3))
    >>> outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3)(inputs))
    >>> encoder = keras.Model(inputs, outputs)
    >>> images = np.zeros((10, 32, 32, 3), np.uint8)
    >>> extract_features(encoder, images, batch_size=4).shape
    (10, 8)

    Args:
        encoder: callable ``encoder(x, training=False)`` mapping float32
            [B, H, W, 3] in [0, 1] to pooled features [B, D].
        images: numpy uint8 array [N, H, W, 3].
        batch_size: images per forward pass.
        verbose: show a progress bar.

    Returns:
        float32 numpy array [N, D]; a dict of them for an encoder returning a dict
        (`keras_ssl.evaluation.LayerFeatures`).

    Raises:
        ValueError: if ``images`` is not a non-empty uint8 [N, H, W, 3] array
            or not of the encoder's input size, or the encoder does not return [B, D]
            features.
    """
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"`images` must have shape [N, H, W, 3] (a batch of RGB images), got {images.shape}."
        )
    if images.dtype != np.uint8:
        # A float array would be divided by 255 a second time: fail instead.
        raise ValueError(
            f"`images` must be uint8 with values in [0, 255], got dtype {images.dtype}; "
            "pass the raw images, scaling to [0, 1] happens here."
        )
    if images.shape[0] == 0:
        raise ValueError("`images` is empty (N=0); need at least one image.")
    batches = (images[start:start + batch_size] for start in range(0, len(images), batch_size))
    # Slicing the numpy array directly avoids copying the whole set into a tf.data pipeline.
    return _features(encoder, batches, tuple(images.shape[1:3]), len(images), verbose)


def extract_dataset_features(encoder, dataset, num_examples=None, verbose=False):
    """Features and labels of a dataset of ``(uint8 images [B, H, W, 3], labels [B])`` batches.

    Each batch is encoded as `extract_features` does and dropped, so only the features stay in
    memory: for `keras_ssl.data.streaming_eval_dataset` of a source too large to decode at once.

    Example:

    >>> ds = streaming_eval_dataset("folder:/data/imagenet", 500, 224, split="val")  # doctest: +SKIP
    >>> features, labels = extract_dataset_features(encoder, ds)                    # doctest: +SKIP

    Args:
        encoder: as `extract_features`.
        dataset: a `tf.data.Dataset` of ``(images, labels)`` batches; images uint8 of one
            static size.
        num_examples: the examples it holds, for the progress bar (None: unknown).
        verbose: show a progress bar.

    Returns:
        ``(float32 features [N, D], int32 labels [N])``; the features a dict of arrays for an
        encoder returning a dict.

    Raises:
        ValueError: as `extract_features`, and if the dataset's elements are not such pairs.
    """
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2 and spec[0].dtype == tf.uint8
            and spec[0].shape.rank == 4 and spec[0].shape[-1] == 3
            and None not in spec[0].shape[1:3]):
        raise ValueError(f"`dataset` must yield (uint8 images [B, H, W, 3] of a static size, "
                         f"labels [B]) batches, got {spec}.")
    labels = []

    def batches():
        for images, batch_labels in dataset:
            labels.append(batch_labels.numpy())
            yield images

    features = _features(encoder, batches(), tuple(spec[0].shape[1:3]), num_examples, verbose)
    return features, np.concatenate(labels).astype(np.int32)


def split_features(encoder, split, batch_size=512, verbose=True):
    """The encoder's frozen features of every row of a labelled split
    (`keras_ssl.data.LabelledSplit`): of its images in memory, or of its batches streamed, of
    which only the features stay (and the labels, which the split keeps).

    Example:

    >>> train = split_features(encoder, data.train, 512)                   # doctest: +SKIP
    """
    if split.stream is None:
        return extract_features(encoder, split.images(), batch_size, verbose)
    features, labels = extract_dataset_features(encoder, split.batches(batch_size),
                                                split.num_rows, verbose)
    split.set_labels(labels)
    return features


def _features(encoder, batches, image_size, num_examples, verbose):
    """The encoder's inference-mode features of uint8 batches of `image_size`, concatenated."""
    size = encoder_image_size(encoder)
    if size is not None and image_size != size:
        raise ValueError(
            f"`images` are {image_size[0]}x{image_size[1]} but the encoder takes "
            f"{size[0]}x{size[1]}; load them at the encoder's size (image_size={size} of "
            "keras_ssl.data.load_arrays).")

    @tf.function(input_signature=[tf.TensorSpec([None, *image_size, 3], tf.uint8)],
                 autograph=False)
    def infer(batch):
        return encoder(tf.cast(batch, tf.float32) / 255.0, training=False)

    bar = _progress.progbar(num_examples, "Extracting features", "image") if verbose else None
    chunks, done = {}, 0
    for batch in batches:
        outputs = infer(batch)
        # A dict of features (`LayerFeatures`: several layers, or their maps) or features alone.
        if not isinstance(outputs, dict):
            if outputs.shape.rank != 2:
                raise ValueError(
                    f"The encoder must return pooled features of shape [B, D], got shape "
                    f"{outputs.shape}; add global pooling / flatten to the encoder.")
            outputs = {None: outputs}
        for name, features in outputs.items():
            chunks.setdefault(name, []).append(features.numpy())
        done += len(batch)
        if bar is not None:
            bar.update(done)
    if not chunks:
        raise ValueError("The dataset holds no images; need at least one image.")
    features = {name: np.concatenate(c, axis=0).astype(np.float32, copy=False)
                for name, c in chunks.items()}
    return features.pop(None) if None in features else features
